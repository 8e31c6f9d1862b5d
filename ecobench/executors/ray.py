"""The Ray executor: each seed's dense training is a task, each cell a task that depends on it.

Every task measures the device it runs on with its own Monitor (built once per worker process, idle baseline and
warm-up included) and returns its record; the driver appends it, and writes the dense checkpoint into the results
folder, so the driver alone writes there. Two measured tasks never share a measured device: on GPU each task asks
for a GPU of its own; on CPU each asks for its node's CPU meter (the custom resource `ecobench_cpu_meter`, one per
node) or, where the cluster has none, every CPU of the largest node (see ray_plan.task_resources).

The driver does no GPU work and meters its CPU only (runner.prepare_device), without Ray's processes (process
attribution leaves them out: footprint/meters/estimate.py), so no energy is counted both in the driver's run window
and in a task's. A GPU task runs in a fresh worker (`max_calls=1`, given to `ray.remote` itself: `.options()` cannot
set it, and Ray derives it only from a num_gpus given there), so a reused worker never computes on the GPU of its
previous task while metering another; `cuda:N` in the suite means the task's own GPU (cuda:0 of its worker).

Dense checkpoints travel as the bytes of their folder through Ray's object store, or through a path every node
sees (`--shared-dir`). Ray is an optional extra (`pip install 'ecobench[ray]'`), imported only here.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

from ecobench import signals
from ecobench.atomic import write_bytes
from ecobench.config.base import visible
from ecobench.config.schema import Suite
from ecobench.dense import MARKER, MODEL_FILE, checkpoint_problem
from ecobench.errors import MeasurementStopped, UserError
from ecobench.executors.base import ExecutorOptions, SweepJob, register, say_kept
from ecobench.executors.probe import check_ray_address
from ecobench.executors.ray_plan import (
    CPU_METER,
    accounting_note,
    add_tasks,
    remote_kw,
    task_device,
    task_resources,
)
from ecobench.record import CellRecord
from ecobench.sweep import Cell

log = logging.getLogger(__name__)

MAX_RETRIES = 3  # a task whose worker died (killed, out of memory, node lost) runs again, at most this many times
INSTALL = "--executor ray needs Ray on this machine and on every node: pip install 'ecobench[ray]'"


# -- worker side ----------------------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}  # per worker process: its Monitor, the suites it warmed up for, checkpoint folders


def _worker_monitor(suite: Suite, threads: int | None):
    """This worker process's meters, started once (probe, idle baseline), and its warm-up for the suite's shape.
    `threads` None: the task holds the whole node, so it uses torch's own default there (a thread per physical
    core), as the local executor does; Ray's OMP_NUM_THREADS in its workers would otherwise give it one."""
    import psutil
    import torch

    from ecobench.families import load_data
    from ecobench.footprint import Monitor
    from ecobench.footprint.idle import measure_idle_baseline
    from ecobench.measure import warm_up_process
    from ecobench.models.build import build_model

    torch.set_num_threads(threads or psutil.cpu_count(logical=False) or psutil.cpu_count() or 1)
    device = _worker_device(suite)
    key = suite.footprint.model_dump_json() + str(device)
    if _WORKER.get("monitor_key") != key:
        if "monitor" in _WORKER:
            _WORKER.pop("monitor").close()
        monitor = Monitor(suite.footprint, device=device)  # measures the device this worker's work runs on
        monitor.start(measure_idle=False)  # enforces footprint.require on this node; the baseline after the warm-up
        _WORKER.update(monitor=monitor, monitor_key=key, idle=None)
    warmed = _WORKER.setdefault("warmed", set())
    if suite.fingerprint() not in warmed:  # before this process's first measured window of this shape
        data = load_data(suite.data, suite.model)
        scratch = build_model(suite.model, data.vocab_size, data.context, 0)
        warm_up_process(suite, data, scratch.to(device))
        warmed.add(suite.fingerprint())
    if _WORKER.get("idle") is None:  # the local run's procedure: after the warm-up, synchronised and settled
        _WORKER["idle"] = measure_idle_baseline(_WORKER["monitor"], device)
    return _WORKER["monitor"]


def _worker_device(suite: Suite) -> str:
    """run.device resolved on this worker ('auto' on a GPU task: the GPU Ray gave it, through CUDA_VISIBLE_DEVICES),
    its precision checked there and determinism set, as `run` does for the local executor."""
    import ray

    from ecobench.device import DeviceError, check_precision, resolve_device, set_deterministic

    try:
        device = resolve_device(task_device(suite.run.device, ray.get_gpu_ids()))
    except DeviceError as err:
        raise UserError(f"{err} (on worker {socket.gethostname()})") from None
    problem = check_precision(suite.train.precision, device)
    if problem:
        raise UserError(f"train.precision: {problem} (on worker {socket.gethostname()})")
    set_deterministic(suite.run.deterministic)
    return str(device)


def _where(window: Any) -> dict[str, Any]:
    """Where a task ran, with what meters, and its whole window (load, phases, checkpoint) as a session footprint."""
    from ecobench.accounting import StartUp, session_footprint

    monitor = _WORKER["monitor"]
    return {"host": socket.gethostname(), "meters": monitor.summary_line(), "idle": _WORKER.get("idle"),
            "footprint": session_footprint(window.result, StartUp(0.0, 0.0), monitor.site, "complete")}


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}


def dense_task(suite: Suite, seed: int, shared: str | None, threads: int | None) -> tuple[dict, dict[str, bytes] | str, dict]:
    """Train the seed's dense model on this worker: (train.json's content, the checkpoint (its files' bytes, or its
    folder under the shared path), where it ran)."""
    from ecobench.dense import ensure_dense

    monitor = _worker_monitor(suite, threads)
    with monitor.window(f"seed{seed}/dense/task") as w:
        if shared is not None:
            folder = Path(shared)
            info = ensure_dense(suite, seed, folder, monitor, progress=False)  # reuses a whole checkpoint there
            checkpoint: dict[str, bytes] | str = str(folder)
        else:
            with tempfile.TemporaryDirectory(prefix="ecobench-dense-") as tmp:
                info = ensure_dense(suite, seed, Path(tmp), monitor, progress=False)
                checkpoint = _folder_bytes(Path(tmp))
    return info, checkpoint, _where(w)


def _checkpoint_dir(checkpoint: dict[str, bytes] | str, info: dict) -> Path:
    """A folder holding the checkpoint on this worker: the shared path, or its bytes written out once per process
    (the cells of a seed follow one another; the previous seed's folder is removed when the next one arrives)."""
    if isinstance(checkpoint, str):
        return Path(checkpoint)
    key = (info.get("sha256") or {}).get(MODEL_FILE) or json.dumps(info, sort_keys=True, default=str)
    held = _WORKER.get("checkpoint")
    if held is None or held[0] != key:
        if held is None:
            atexit.register(drop_checkpoint)
        drop_checkpoint()
        folder = Path(tempfile.mkdtemp(prefix="ecobench-dense-"))
        for name, data in checkpoint.items():
            (folder / name).write_bytes(data)
        _WORKER["checkpoint"] = (key, folder)
    return _WORKER["checkpoint"][1]


def drop_checkpoint() -> None:
    """Remove this worker's copy of a checkpoint, if it holds one."""
    held = _WORKER.pop("checkpoint", None)
    if held is not None:
        shutil.rmtree(held[1], ignore_errors=True)


def cell_task(suite: Suite, cell: Cell, info: dict, checkpoint: dict[str, bytes] | str,
              threads: int | None, repeats: int | None = None) -> tuple[CellRecord, dict]:
    """One cell on this worker, measured by this worker's meters: (its record, where it ran)."""
    from ecobench import cell as cells

    monitor = _worker_monitor(suite, threads)
    with monitor.window(f"{cell.key}/task") as w:
        rec = cells.run_cell(suite, cell, _checkpoint_dir(checkpoint, info), info, monitor, False, repeats)
    return rec, _where(w)


# -- driver side ----------------------------------------------------------------------------------------------------


def _check_options(options: ExecutorOptions) -> None:
    """--address and --shared-dir that cannot work, said in one line before any work (no port beyond 65535, no
    file where a folder is wanted)."""
    address = options.address or ""
    host, sep, port = address.split("://")[-1].rpartition(":")
    if sep and port.isascii() and port.isdigit() and not 0 < int(port) < 65536:
        raise UserError(f"--address {visible(address)[:100]}: port {port[:20]} is not a TCP port (1 to 65535)")
    shared = options.shared_dir
    if shared is not None and (shared.exists() or shared.is_symlink()) and not shared.is_dir():
        raise UserError(f"--shared-dir {shared}: is not a folder (every node reads dense checkpoints through it)")


class RayExecutor:
    name = "ray"

    def __init__(self, options: ExecutorOptions):
        if importlib.util.find_spec("ray") is None:
            raise UserError(INSTALL)
        _check_options(options)
        self.options = options
        self._owned = False  # this process started the Ray instance (and shuts it down)
        self._resources: dict[str, Any] = {}
        self._threads: int | None = None
        self._tasks: list[dict[str, Any]] = []  # each finished task's footprint (its whole window on its worker)

    def open(self, suite: Suite) -> dict[str, Any]:
        import ray

        if not ray.is_initialized():
            kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "logging_level": logging.WARNING, "configure_logging": False}
            address = self.options.address or os.environ.get("RAY_ADDRESS")  # ray.init reads RAY_ADDRESS too
            try:
                if address is None:  # a cluster of this machine alone, with its CPU meter
                    ray.init(resources={CPU_METER: 1}, **kw)
                else:
                    check_ray_address(address)  # a bounded probe: ray.init retries a non-Ray port for minutes
                    ray.init(address=address, **kw)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise UserError(f"--address {address}: cannot connect to Ray: "
                                f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
            self._owned = True
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        cluster = ray.cluster_resources()
        self._resources = task_resources(suite, cluster, [n["Resources"].get("CPU", 0) for n in nodes])
        # a task that holds a node's CPU meter has the node (threads None: its cores); one on a GPU, its CPUs
        self._threads = suite.train.threads or (int(self._resources["num_cpus"]) if "num_gpus" in self._resources
                                                else None)
        if self.options.shared_dir is not None:
            self.options.shared_dir.mkdir(parents=True, exist_ok=True)
        return {"name": self.name, "address": self.options.address or "local", "ray": ray.__version__,
                "nodes": len(nodes), "cluster_resources": {k: v for k, v in cluster.items() if "node:" not in k},
                "task_resources": self._resources, "max_retries": MAX_RETRIES,
                "checkpoints": f"shared:{self.options.shared_dir}" if self.options.shared_dir else "object-store",
                "accounting": accounting_note(self._resources)}

    def run(self, job: SweepJob) -> str:
        import ray

        suite, store = job.suite, job.store
        fresh = remote_kw(self._resources)
        dense_fn = ray.remote(**fresh)(dense_task) if fresh else ray.remote(dense_task)
        cell_fn = ray.remote(**fresh)(cell_task) if fresh else ray.remote(cell_task)
        dense_fn = dense_fn.options(num_returns=3, max_retries=MAX_RETRIES, **self._resources)
        cell_fn = cell_fn.options(num_returns=2, max_retries=MAX_RETRIES, **self._resources)
        dense: dict[int, tuple[Any, Any, Any]] = {}  # seed -> (info, checkpoint, where) refs
        waiting_dense: dict[Any, int] = {}  # info ref -> seed, until written into the results folder
        pending: dict[Any, tuple[Cell, Any]] = {}  # record ref -> (cell, where ref)
        for seed in suite.seeds:
            mine = [c for c in job.todo if c.seed == seed]
            if not mine:
                continue
            info, checkpoint, where = self._dense(suite, seed, store.dense_dir(seed), dense_fn)
            dense[seed] = (info, checkpoint, where)
            if where is not None:
                waiting_dense[info] = seed
            for c in mine:
                rec, at = cell_fn.remote(suite, c, info, checkpoint, self._threads, job.repeats)
                pending[rec] = (c, at)
        job.status(f"{len(pending)} cells submitted to Ray")
        workers: dict[str, str | None] = {}

        def ran(where: dict) -> None:
            workers[where["host"]] = where["meters"]
            self._tasks.append(where["footprint"])

        def emit(c: Cell, rec: Any, at: Any) -> None:
            ran(ray.get(at))
            info = settle(c.seed)
            job.emit(rec.model_copy(update={"dense_sha256": (info.get("sha256") or {}).get(MODEL_FILE)}))
            job.status(f"{len(pending)} cells left on Ray")

        def settle(seed: int) -> dict:
            """The seed's dense model stored in the results folder (once), before any of its cells' rows."""
            ref = dense[seed][0]
            info = self._get(ref, f"seed {seed}: dense training")
            if waiting_dense.pop(ref, None) is not None:
                checkpoint, where = self._get(dense[seed][1], f"seed {seed}"), ray.get(dense[seed][2])
                ran(where)
                self._store_dense(store.dense_dir(seed), info, checkpoint)
                say_kept(store.finished(), seed, (info.get("sha256") or {}).get(MODEL_FILE))
            return info

        try:
            while pending or waiting_dense:
                signals.check()
                if job.over_budget(sum(t["energy_kwh"] or 0.0 for t in self._tasks)):
                    return "budget"
                ready, _ = ray.wait([*waiting_dense, *pending], num_returns=1, timeout=1.0)
                for ref in ready:
                    if ref in waiting_dense:
                        settle(waiting_dense[ref])
                        continue
                    c, at = pending.pop(ref)
                    try:
                        rec = self._get(ref, c.key)
                    except MeasurementStopped as err:  # footprint.on_contention: stop, on a worker
                        job.notes["stopped"] = str(err)
                        for done in ray.wait(list(pending), num_returns=len(pending), timeout=0)[0]:
                            c, at = pending.pop(done)  # finished elsewhere meanwhile: kept, not measured again
                            try:
                                emit(c, self._get(done, c.key), at)
                            except MeasurementStopped:
                                pass  # that cell stopped too: the resume measures it
                        return "contention"
                    emit(c, rec, at)
            return "complete"
        finally:
            for ref in [*waiting_dense, *pending]:  # stopped early: nothing more runs (resume runs it again)
                ray.cancel(ref, force=True)
            job.notes["workers"] = workers

    def _dense(self, suite: Suite, seed: int, results_dir: Path, dense_fn: Any) -> tuple[Any, Any, Any]:
        """The seed's checkpoint for the cell tasks: from the results folder when it is whole there (a resume, from
        either executor), else trained by a task. (info, checkpoint, where) refs; `where` None when reused."""
        import ray

        shared = None
        if self.options.shared_dir is not None:  # one folder per results folder: another run trains its own
            where = hashlib.sha256(str(results_dir.resolve().parent.parent).encode()).hexdigest()[:12]
            shared = self.options.shared_dir / f"{suite.name}-{where}" / f"seed-{seed}"
        if checkpoint_problem(results_dir, suite.fingerprint()) is None:
            info = json.loads((results_dir / MARKER).read_text())
            if shared is None:
                return ray.put(info), ray.put(_folder_bytes(results_dir)), None
            if checkpoint_problem(shared, suite.fingerprint()) is not None:
                shutil.rmtree(shared, ignore_errors=True)
                shutil.copytree(results_dir, shared)
            return ray.put(info), ray.put(str(shared)), None
        return dense_fn.remote(suite, seed, None if shared is None else str(shared), self._threads)

    @staticmethod
    def _store_dense(folder: Path, info: dict, checkpoint: dict[str, bytes] | str) -> None:
        """The dense checkpoint into the results folder, train.json last (it marks the folder complete)."""
        files = _folder_bytes(Path(checkpoint)) if isinstance(checkpoint, str) else checkpoint
        for name in (MARKER, MODEL_FILE, "trajectory.safetensors", "config.json", "failed.json"):
            (folder / name).unlink(missing_ok=True)
        for name, data in files.items():
            if name != MARKER:
                write_bytes(folder / name, data)
        if MARKER in files:
            write_bytes(folder / MARKER, files[MARKER])
        if info.get("status") != "ok":
            log.warning("%s: dense training failed: %s", folder, info.get("reason"))

    @staticmethod
    def _get(ref: Any, what: str) -> Any:
        """ray.get, with a user error in a task (a sensor that footprint.require asks for, absent on a node) said in
        one line, and a task that kept losing its worker named."""
        import ray
        from ray.exceptions import RayTaskError, WorkerCrashedError

        try:
            return ray.get(ref)
        except RayTaskError as err:
            if isinstance(err.cause, MeasurementStopped):
                raise MeasurementStopped(f"{what} (on Ray): {err.cause}") from None
            if isinstance(err.cause, UserError):
                raise UserError(f"{what} (on Ray): {err.cause}") from None
            raise
        except WorkerCrashedError:
            raise UserError(f"{what}: its Ray worker died {MAX_RETRIES + 1} times (out of memory? see the node's "
                            "raylet.out); re-run the same command to resume") from None

    def account(self, session: dict[str, Any]) -> dict[str, Any]:
        return add_tasks(session, self._tasks)

    def close(self) -> None:
        if self._owned:
            import ray

            ray.shutdown()
            self._owned = False


register("ray", RayExecutor)
