"""Issue 28, item 8: with Ray, no energy is counted twice. The driver does no GPU work and meters its CPU without
Ray's processes under it; a GPU task runs in a fresh worker on its own GPU. No Ray cluster is started here: the
parts are tested at their boundaries (psutil on real child processes, torch.cuda and pynvml faked)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from ecobench.executors import driver_footprint
from ecobench.executors.ray import remote_kw, task_device
from ecobench.footprint import FootprintConfig, Monitor
from ecobench.footprint.meters.estimate import process_tree_cpu_s
from ecobench.runner import prepare_device
from ecobench.suites import load_suite
from tests.conftest import SUITES
from tests.footprint.conftest import FakeGpu

BURN = "import sys, time\nend = time.process_time() + {s}\nwhile time.process_time() < end: pass\nprint('done', flush=True)\ntime.sleep(60)\n"


def _burner(argv0: str, seconds: float) -> subprocess.Popen:
    """A child that burns `seconds` of CPU, says so, and waits (alive: its time is not yet reaped into ours)."""
    return subprocess.Popen([argv0, "-c", BURN.format(s=seconds)], executable=sys.executable, stdout=subprocess.PIPE,
                            text=True)


def test_the_process_tree_leaves_out_rays_processes() -> None:
    """A Ray started by the driver makes its workers the driver's descendants (titled `ray::...`); their CPU time is
    the tasks', reported by their own windows. Before, the driver's window counted it too (smoke through Ray: 524 J
    of CPU against 244 J locally)."""
    before = process_tree_cpu_s()
    ray_worker, ours = _burner("ray::IDLE", 1.0), _burner("python-helper", 0.3)
    try:
        for p in (ray_worker, ours):
            assert p.stdout.readline().strip() == "done"
        counted = process_tree_cpu_s() - before
    finally:
        for p in (ray_worker, ours):
            p.kill()
            p.wait()
    assert 0.25 <= counted < 0.9, counted  # our helper's 0.3 s (and this process's own), not the worker's 1.0 s


@pytest.fixture
def fake_gpu_host(monkeypatch):
    """torch sees one CUDA device (faked at torch.cuda's boundary)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


def test_the_ray_driver_computes_on_the_cpu_and_meters_no_gpu(fake_gpu_host, fake_nvml, clock) -> None:
    """On a GPU node the driver's run window metered the same GPU as the tasks running there."""
    sf = load_suite(SUITES / "smoke.yaml", ["run.device=cuda"])
    assert prepare_device(sf, "local") == torch.device("cuda", 0)
    assert prepare_device(sf, "ray") == torch.device("cpu")
    fake_nvml([FakeGpu("GPU-aaaa", power_w=300.0)], clock)
    asked = FootprintConfig(gpu="counter", cpu="none", ram="none", require="measured", idle_seconds=0)
    config = driver_footprint(asked, "ray")
    assert (config.gpu, config.require) == ("none", "any") and driver_footprint(asked, "local") is asked
    m = Monitor(config, device="cpu", clock=clock)
    m.start()
    with m.window("run") as w:
        clock.advance(1.0)
    manifest = m.manifest()
    m.close()
    assert w.result.components["gpu"].energy_j is None and manifest["gpu_devices"] == []


def test_gpu_tasks_run_in_a_fresh_worker() -> None:
    """Ray drops max_calls from .options() and derives max_calls=1 only from a num_gpus given to ray.remote: the old
    `ray.remote(fn).options(num_gpus=1)` let a worker run task after task (on its first task's GPU)."""
    ray = pytest.importorskip("ray")

    def fn() -> None:
        return None

    assert remote_kw({"num_gpus": 1, "num_cpus": 2}) == {"max_calls": 1}
    assert remote_kw({"num_cpus": 16}) == {}
    assert ray.remote(fn)._max_calls == 0  # what the old GPU tasks had: reused without limit
    assert ray.remote(**remote_kw({"num_gpus": 1}))(fn)._max_calls == 1


def test_cuda_n_is_the_tasks_own_gpu() -> None:
    """Ray gives a GPU task one GPU, which its worker sees as CUDA device 0; `cuda:1` in the suite (a node index)
    used to fail there ('only 1 CUDA device visible') or name another task's GPU."""
    assert task_device("cuda:1", [1]) == "cuda:0"
    assert task_device("cuda", [3]) == "cuda:0" and task_device("auto", [0]) == "cuda:0"
    assert task_device("cpu", []) == "cpu" and task_device("auto", []) == "auto"


def test_only_rays_own_services_are_left_out_by_path() -> None:
    from ecobench.footprint.meters.estimate import RAY_SERVICE

    assert RAY_SERVICE.search("/venv/lib/python3.11/site-packages/ray/_private/log_monitor.py")
    assert RAY_SERVICE.search("/venv/lib/python3.11/site-packages/ray/dashboard/agent.py")
    assert not RAY_SERVICE.search("/home/ray/project/train.py")  # Ray's images run as user `ray`
