"""`footprint.on_contention: stop` raised inside a Ray task ends the sweep as the local executor ends it: 'contention',
the reason in the notes, cells that finished elsewhere kept, nothing left running. A fake `ray` module stands in for
the cluster (the real-cluster tests are in test_ray.py, slow)."""

from __future__ import annotations

import importlib.machinery
import sys
import types
from types import SimpleNamespace

import pytest

from ecobench.errors import MeasurementStopped, UserError
from ecobench.executors import ray as ray_executor
from ecobench.executors.base import ExecutorOptions, SweepJob


class _TaskError(Exception):
    """ray.exceptions.RayTaskError as the driver sees it: the task's own exception is `cause`."""

    def __init__(self, cause: Exception):
        super().__init__(str(cause))
        self.cause = cause


class _Ref:
    def __init__(self, value=None, error: Exception | None = None):
        self.value, self.error = value, error


def _fake_ray(outcomes: dict[str, Exception | None], cancelled: list) -> types.ModuleType:
    """Every task finishes at once; a cell whose outcome is an exception raises it in its task."""

    class Remote:
        def __init__(self, fn):
            self.fn = fn

        def options(self, **_kw):
            return self

        def remote(self, *args):
            if self.fn is ray_executor.dense_task:
                return _Ref({"status": "ok", "sha256": {}}), _Ref({}), _Ref(_where())
            err = outcomes[args[1].key]
            rec = SimpleNamespace(key=args[1].key, model_copy=lambda update, k=args[1].key: k)
            return _Ref(None, _TaskError(err)) if err else _Ref(rec), _Ref(_where())

    def get(ref: _Ref):
        if ref.error is not None:
            raise ref.error
        return ref.value

    def wait(refs, num_returns=1, timeout=None):
        return list(refs)[:num_returns], list(refs)[num_returns:]

    mod = types.ModuleType("ray")
    mod.__spec__ = importlib.machinery.ModuleSpec("ray", None)  # found, as an installed Ray is
    mod.remote = lambda fn=None, **kw: Remote(fn) if fn else (lambda f: Remote(f))
    mod.get, mod.wait = get, wait
    mod.cancel = lambda ref, force=False: cancelled.append(ref)
    exc = types.ModuleType("ray.exceptions")
    exc.RayTaskError, exc.WorkerCrashedError = _TaskError, type("WorkerCrashedError", (Exception,), {})
    mod.exceptions = exc
    return mod


def _where() -> dict:
    return {"host": "node", "meters": "fake", "footprint": {"energy_kwh": 0.0}}


def _sweep(monkeypatch, tmp_path, outcomes: dict[str, Exception | None]) -> tuple[str, list, SweepJob, list]:
    cancelled: list = []
    fake = _fake_ray(outcomes, cancelled)
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setitem(sys.modules, "ray.exceptions", fake.exceptions)
    monkeypatch.setattr(ray_executor.RayExecutor, "_store_dense", staticmethod(lambda *a: None))
    monkeypatch.setattr(ray_executor, "say_kept", lambda *a: None)
    executor = ray_executor.RayExecutor(ExecutorOptions())
    suite = SimpleNamespace(seeds=[0], fingerprint=lambda: "f")
    store = SimpleNamespace(dense_dir=lambda seed: tmp_path / f"seed-{seed}", finished=lambda: set())
    emitted: list = []
    job = SweepJob(suite=suite, todo=[SimpleNamespace(seed=0, key=k) for k in outcomes], store=store,
                   monitor=None, emit=emitted.append, over_budget=lambda _kwh: False)
    return executor.run(job), emitted, job, cancelled


def test_a_stop_on_a_worker_ends_the_sweep_cleanly_and_keeps_what_finished(monkeypatch, tmp_path) -> None:
    busy = MeasurementStopped("seed0/b/decode_b1 pair 0: the machine is busy (others 80%)")
    status, emitted, job, cancelled = _sweep(monkeypatch, tmp_path, {"seed0/a": None, "seed0/b": busy,
                                                                     "seed0/c": None})
    assert status == "contention"
    assert emitted == ["seed0/a", "seed0/c"]  # c finished on another worker meanwhile: kept, not measured again
    assert job.notes["stopped"].startswith("seed0/b (on Ray): ") and "busy" in job.notes["stopped"]
    assert cancelled == []  # nothing was left running


def test_any_other_task_error_is_not_a_contention_stop(monkeypatch, tmp_path) -> None:
    with pytest.raises(UserError, match=r"seed0/b \(on Ray\): bad sensor"):
        _sweep(monkeypatch, tmp_path, {"seed0/a": None, "seed0/b": UserError("bad sensor")})
    status, emitted, _job, _ = _sweep(monkeypatch, tmp_path, {"seed0/a": None})
    assert status == "complete" and emitted == ["seed0/a"]
