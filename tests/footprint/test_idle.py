"""The idle baseline (issue 28, item 7): one procedure locally and in Ray workers: synchronise, settle, measure; the
GPU's P-state and clocks recorded around it. Against a fake NVML library and a hand-moved clock."""

from __future__ import annotations

import pynvml
import pytest

from ecobench.footprint import FootprintConfig, Monitor
from ecobench.footprint.idle import SETTLE_S, measure_idle_baseline
from tests.footprint.conftest import FakeGpu


def test_sync_then_settle_then_measure_with_the_gpu_state(fake_nvml, clock, monkeypatch) -> None:
    gpu = FakeGpu("GPU-aaaa", power_w=400.0)  # still coming down from work
    fake_nvml([gpu], clock)
    states = iter([0, 8])  # P0 before settling, P8 after
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByUUID", lambda uuid: 0)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetPerformanceState", lambda h: next(states))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetClockInfo", lambda h, kind: 1980 if kind == pynvml.NVML_CLOCK_SM else 2619)
    order: list[str] = []

    def settle(seconds: float) -> None:
        order.append(f"settle {seconds:g}")
        clock.advance(seconds)
        gpu.set_power(60.0, clock())  # the decay the settling waits out

    def sleep(seconds: float) -> None:  # the baseline window's own wait
        order.append("measure")
        clock.advance(seconds)

    monitor = Monitor(FootprintConfig(cpu="none", ram="none", idle_seconds=2), device="cuda:0", clock=clock,
                      sleep=sleep)
    monitor.start(measure_idle=False)
    try:
        info = measure_idle_baseline(monitor, "cuda:0", sleep=settle, sync=lambda d: order.append(f"sync {d}"))
        idle_w = monitor.manifest()["idle_baseline"]["gpu_w"]
    finally:
        monitor.close()
    assert order == ["sync cuda:0", f"settle {SETTLE_S['cuda']:g}", "measure"]
    assert idle_w == pytest.approx(60.0)  # measured after the decay, not the 400 W tail
    assert info["gpu_before"][0]["pstate"] == "P0" and info["gpu_after"][0]["pstate"] == "P8"
    assert info["gpu_after"][0]["sm_clock_mhz"] == 1980 and info["settle_s"] == SETTLE_S["cuda"]


def test_no_baseline_asked_for_is_said() -> None:
    monitor = Monitor(FootprintConfig(gpu="none", cpu="none", ram="none", idle_seconds=0), device="cpu")
    monitor.start(measure_idle=False)
    try:
        info = measure_idle_baseline(monitor, "cpu", sleep=lambda s: pytest.fail("no settling without a baseline"))
    finally:
        monitor.close()
    assert info["skipped"] == "footprint.idle_seconds is 0"


def test_ray_workers_take_the_same_baseline_after_their_warm_up(monkeypatch) -> None:
    """Before, a worker measured its baseline inside Monitor.start(), before its warm-up and before CUDA started."""
    from ecobench.executors import ray as ray_executor
    from ecobench.suites import load_suite
    from tests.conftest import SUITES

    calls: list[str] = []
    monkeypatch.setattr("ecobench.measure.warm_up_process", lambda *a: calls.append("warm-up"))
    monkeypatch.setattr("ecobench.footprint.idle.measure_idle_baseline",
                        lambda monitor, device: calls.append(f"idle {device}") or {"procedure": "p"})
    real_start = Monitor.start
    monkeypatch.setattr(Monitor, "start", lambda self, measure_idle=True: calls.append(f"start {measure_idle}")
                        or real_start(self, measure_idle=measure_idle))
    monkeypatch.setattr(ray_executor, "_worker_device", lambda suite: "cpu")
    monkeypatch.setattr(ray_executor, "_WORKER", {})
    suite = load_suite(SUITES / "smoke.yaml", []).suite
    monitor = ray_executor._worker_monitor(suite, 1)
    try:
        ray_executor._worker_monitor(suite, 1)  # a second task on the same worker: no second baseline
    finally:
        monitor.close()
    assert calls == ["start False", "warm-up", "idle cpu"]
