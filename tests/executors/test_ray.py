"""The Ray executor against a real local Ray cluster (one per module, 1 CPU): same losses as the local executor,
a worker killed mid-cell retried without a duplicate row, a driver killed mid-sweep resumed; and its pure parts
(resources per task, the session's footprint) without one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from ecobench.executors.ray import CPU_METER, INSTALL, add_tasks, task_resources
from tests.conftest import ROOT, SUITES
from tests.reliability.conftest import (
    TINY_CELLS,
    cell_lines,
    kill_when,
    line_count,
    outcome,
    run_inprocess,
    tiny_args,
    tiny_reference,
)

from .ray_hooks import KILL_REQUEST


def _suite(device: str, threads: int | None = None) -> SimpleNamespace:
    return SimpleNamespace(run=SimpleNamespace(device=device), train=SimpleNamespace(threads=threads))


def test_task_resources_never_share_a_measured_device() -> None:
    cpu_only = {"CPU": 16.0}
    assert task_resources(_suite("cuda"), cpu_only, [16.0]) == {"num_gpus": 1, "num_cpus": 1}
    assert task_resources(_suite("auto", threads=4), {"CPU": 16.0, "GPU": 2.0}, [16.0])["num_gpus"] == 1
    # CPU: the node's meter where the cluster registers it, else every CPU of the largest node
    assert task_resources(_suite("auto"), {**cpu_only, CPU_METER: 3.0}, [16.0]) == {
        "num_cpus": 1, "resources": {CPU_METER: 1}}
    assert task_resources(_suite("cpu"), {"CPU": 24.0, "GPU": 1.0}, [8.0, 16.0]) == {"num_cpus": 16.0}


def _fp(energy: float | None, source: str) -> dict:
    keys = ("wall_s", "energy_kwh", "energy_gpu_kwh", "energy_cpu_kwh", "energy_ram_kwh", "energy_facility_kwh",
            "co2e_g", "water_onsite_l", "water_offsite_l", "water_l")
    return {**dict.fromkeys(keys, 1.0), "energy_kwh": energy, "energy_gpu_kwh": None,
            "sources": {"gpu": "none", "cpu": source, "ram": "estimated"}}


def test_session_footprint_adds_every_task_and_keeps_the_driver_wall_time() -> None:
    out = add_tasks(_fp(2.0, "estimated:cpu-load"), [_fp(0.5, "measured:rapl"), _fp(0.25, "measured:rapl")])
    assert out["energy_kwh"] == 2.75 and out["co2e_g"] == 3.0 and out["wall_s"] == 1.0
    assert out["energy_gpu_kwh"] is None  # unknown anywhere: unknown in the sum
    assert out["sources"]["cpu"] == "estimated:cpu-load+measured:rapl"
    assert out["tasks"]["count"] == 2 and out["tasks"]["energy_kwh"] == 0.75
    assert add_tasks(_fp(2.0, "x"), [_fp(None, "x")])["energy_kwh"] is None
    assert add_tasks(_fp(2.0, "x"), [])["energy_kwh"] == 2.0


def test_without_ray_is_one_line_and_exit_2(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as where it is not installed
    rc, out, err = run_inprocess([*tiny_args(tmp_path / "run"), "--executor", "ray"], capsys)
    assert rc == 2
    assert err == f"error: {INSTALL}\n"
    assert not (tmp_path / "run").exists()


# -- against a real cluster -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    """One local Ray cluster for the module: 1 CPU and one torch thread per worker (another test worker has the
    other core), no CPU meter registered (tasks then hold the node's CPU), every worker set up by ray_hooks. Yields
    the kill request file and the cluster's address."""
    # CI installs the ray extra (make test): there a missing Ray fails rather than skips
    ray = __import__("ray") if os.environ.get("CI") == "true" else pytest.importorskip("ray")
    request = tmp_path_factory.mktemp("ray") / "kill.request"
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, object_store_memory=100 * 1024 * 1024,
             runtime_env={"worker_process_setup_hook": "tests.executors.ray_hooks.install",
                          "env_vars": {KILL_REQUEST: str(request), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}})
    try:
        yield SimpleNamespace(request=request, address=ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def tiny_local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_reference(tmp_path_factory)  # the reliability tests' reference run: the same suite, made once


def _losses(folder: Path) -> dict[str, float]:
    return {r["key"]: r["metrics"]["loss"] for r in cell_lines(folder)}


@pytest.mark.slow
def test_a_sweep_through_ray_has_the_local_losses_one_row_per_cell(cluster, tiny_local: Path, tmp_path: Path,
                                                                   capsys) -> None:
    out = tmp_path / "ray"
    # the tiny suite with decode windows too (they leave the losses as they are)
    rc, _, err = run_inprocess([*tiny_args(out, "eval.inference_tokens=2"), "--executor", "ray"], capsys)
    assert rc == 0, err
    local, remote = _losses(tiny_local), _losses(out)
    assert len(cell_lines(out)) == len(remote) == len(local) == TINY_CELLS
    assert max(abs(local[k] - remote[k]) for k in local) <= 1e-6
    assert any(ph["phase"] == "decode" for r in cell_lines(out) for ph in r["phases"])
    session = json.loads((out / "manifest.json").read_text())["sessions"][-1]
    assert session["executor"]["name"] == "ray" and session["executor"]["checkpoints"] == "object-store"
    assert session["executor"]["task_resources"] == {"num_cpus": 1.0}  # no meter registered: the whole node
    assert session["footprint"]["tasks"]["count"] == len(local) + 1  # every cell and the dense model
    assert (out / "dense" / "seed-0" / "train.json").is_file()  # written by the driver from the task's bytes


@pytest.mark.slow
def test_worker_killed_mid_cell_is_retried_without_duplicates(cluster, tiny_local: Path, tmp_path: Path,
                                                              capsys) -> None:
    key = next(r["key"] for r in cell_lines(tiny_local) if r["cell"]["method"] == "magnitude")
    cluster.request.write_text(key)
    try:
        rc, _, err = run_inprocess([*tiny_args(tmp_path / "run"), "--executor", "ray", "--shared-dir",
                                    str(tmp_path / "shared")], capsys)
    finally:
        cluster.request.unlink()
    assert rc == 0, err
    assert cluster.request.with_suffix(".killed").is_file(), "the worker was never killed"
    rows = cell_lines(tmp_path / "run")
    assert len(rows) == TINY_CELLS == len({r["key"] for r in rows})
    assert outcome(tmp_path / "run") == outcome(tiny_local)
    assert list((tmp_path / "shared").glob("smoke-*/seed-0/model.safetensors"))  # the checkpoint went that way


@pytest.mark.slow
@pytest.mark.early  # the module: ~75 s
@pytest.mark.parametrize(("start_with", "resume_with"), [("ray", "ray"), ("ray", "local"), ("local", "ray")])
def test_driver_killed_mid_sweep_resumes(cluster, tiny_local: Path, tmp_path: Path, capsys, start_with,
                                         resume_with) -> None:
    """SIGKILL to the driver after 2 rows; the same command (or the other executor) finishes the sweep."""
    out, log = tmp_path / "run", tmp_path / "log"
    executor = ["--executor", "ray", "--address", cluster.address] if start_with == "ray" else []
    with open(log, "wb") as f:
        proc = subprocess.Popen([sys.executable, "-m", "ecobench", *tiny_args(out), *executor], cwd=ROOT, stdout=f,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
    kill_when(proc, lambda: line_count(out) >= 2, log)
    done = line_count(out)
    assert 2 <= done < TINY_CELLS, "the sweep finished before the driver was killed"
    rc, _, err = run_inprocess([*tiny_args(out), "--executor", resume_with], capsys)
    assert rc == 0, err
    assert f"{TINY_CELLS} cells, {done} already finished, {TINY_CELLS - done} to run" in err
    rows = cell_lines(out)
    assert len(rows) == TINY_CELLS == len({r["key"] for r in rows})
    assert outcome(out) == outcome(tiny_local)
    executors = [s["executor"]["name"] for s in json.loads((out / "manifest.json").read_text())["sessions"]]
    assert executors == [start_with, resume_with]


@pytest.mark.slow
def test_a_user_error_in_a_task_comes_back_as_one_line(cluster) -> None:
    import ray

    from ecobench.errors import SensorError, UserError
    from ecobench.executors.ray import RayExecutor

    def refuse() -> None:  # what a node without the meter footprint.require asks for does
        raise SensorError("footprint.require is 'measured' but nothing on this machine is measured", "footprint.require")

    with pytest.raises(UserError) as caught:
        RayExecutor._get(ray.remote(refuse).options(max_retries=0).remote(), "seed 0: dense training")
    assert str(caught.value) == ("seed 0: dense training (on Ray): footprint.require is 'measured' but nothing on "
                                 "this machine is measured")


@pytest.mark.slow
def test_budget_stops_ray_tasks_and_the_run_total_holds_the_tasks(cluster, tmp_path: Path, monkeypatch) -> None:
    """Passed budget: exit 3, the tasks cancelled, no row; resumed with a loose budget, the sessions add up and the
    phases (measured on the workers) are a part of the run total, never more."""
    from ecobench import runner
    from ecobench.config.load import load_suite
    from ecobench.executors import ExecutorOptions

    small = ["train.threads=1", "train.steps=20", "prune.methods=[{name: magnitude}]", "prune.ratios=[0.5]",
             "prune.scope=layer", "eval.inference_tokens=0"]
    monkeypatch.setattr(runner, "budget_problem", lambda *a, **k: None)  # let it start: the stop is under test
    out = tmp_path / "run"
    tight = load_suite(SUITES / "smoke.yaml", [*small, "footprint.budget.kwh=1e-12"])
    assert runner.run_suite(tight, out, ["test"], progress=False, executor="ray") == runner.BUDGET_EXIT
    assert not (out / "cells.jsonl").exists() or (out / "cells.jsonl").read_text() == ""
    monkeypatch.undo()
    loose = load_suite(SUITES / "smoke.yaml", [*small, "footprint.budget.kwh=1"])
    assert runner.run_suite(loose, out, ["test"], progress=False, executor="ray", options=ExecutorOptions()) == 0
    m = json.loads((out / "manifest.json").read_text())
    s1, s2 = (s["footprint"] for s in m["sessions"])
    assert s1["ended"] == "budget" and s2["ended"] == "complete"
    assert s2["tasks"]["count"] == 4  # the dense model, and its 3 cells: dense, dense+recover, magnitude
    assert s2["energy_kwh"] == pytest.approx(s2["window"]["energy_kwh"] + s2["startup"]["energy_kwh"]
                                             + s2["tasks"]["energy_kwh"], rel=1e-9)
    total = m["run_footprint"]
    assert total["totals"]["energy_kwh"] == pytest.approx(s1["energy_kwh"] + s2["energy_kwh"], rel=1e-12)
    assert 0 < total["phase_share"] < 1
