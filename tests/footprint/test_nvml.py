"""GPU meters against a fake NVML: counter math, power fallback, several devices, CUDA_VISIBLE_DEVICES."""

from __future__ import annotations

import pytest

from ecobench.errors import SensorError
from ecobench.footprint import FootprintConfig, Monitor
from ecobench.footprint.meters import nvml
from tests.footprint.conftest import FakeGpu

GPU_ONLY = {"idle_seconds": 0, "cpu": "none", "ram": "none", "min_window_s": 0}  # windows here test the channels


def monitor(clock, **config) -> Monitor:
    m = Monitor(FootprintConfig.model_validate({**GPU_ONLY, **config}), clock=clock)
    m.start()
    return m


def test_counter_energy_is_the_counter_difference(fake_nvml, clock):
    fake = fake_nvml([FakeGpu("GPU-aaaa", power_w=250.0)], clock)
    m = monitor(clock)
    with m.window("train") as w:
        clock.advance(2.0)
    m.close()
    r = w.result
    assert r.wall_s == pytest.approx(2.0)
    assert r.components["gpu"].source == "measured:nvml-counter"
    assert r.components["gpu"].energy_j == pytest.approx(500.0, abs=1e-3)  # 250 W x 2 s, read in mJ
    assert r.gpu_device_energy_j == {"gpu0": pytest.approx(500.0, abs=1e-3)}
    assert fake.shutdowns == 1  # ours; codecarbon also calls nvmlInit when first imported


def test_short_window_uses_power_samples(fake_nvml, clock):
    fake_nvml([FakeGpu("GPU-aaaa", power_w=200.0, counter_step_s=0.1)], clock)
    m = monitor(clock)
    with m.window("prune") as w:
        clock.advance(0.25)  # the counter would read 0.2 s of energy (100 ms updates): 20 % low
    m.close()
    assert w.result.components["gpu"].source == "measured:nvml-power"
    assert w.result.components["gpu"].energy_j == pytest.approx(50.0)


def test_unsupported_counter_falls_back_to_power(fake_nvml, clock):
    fake_nvml([FakeGpu("GPU-aaaa", power_w=120.0, counter=False)], clock)
    m = monitor(clock)
    with m.window("train") as w:
        clock.advance(3.0)
    m.close()
    assert w.result.components["gpu"].source == "measured:nvml-power"
    assert w.result.components["gpu"].energy_j == pytest.approx(360.0)


def test_power_integration_follows_a_power_change(fake_nvml, clock):
    gpu = FakeGpu("GPU-aaaa", power_w=100.0, counter=False)
    fake_nvml([gpu], clock)
    m = monitor(clock, sample_interval_s=10)  # the sampler stays out of the way: edges only
    channel = m._meters.gpu_power["gpu0"]
    with m.window("w") as w:
        clock.advance(1.0)
        channel.update()  # a sample at 100 W
        gpu.power_w = 300.0
        clock.advance(1.0)
        channel.update()  # trapezoid: (100 + 300) / 2 x 1 s
        clock.advance(1.0)
    m.close()
    assert w.result.components["gpu"].energy_j == pytest.approx(100.0 + 200.0 + 300.0)


def test_several_devices_are_summed(fake_nvml, clock):
    fake_nvml([FakeGpu("GPU-aaaa", power_w=100.0), FakeGpu("GPU-bbbb", power_w=300.0)], clock)
    m = monitor(clock)
    with m.window("train") as w:
        clock.advance(1.0)
    assert w.result.gpu_device_energy_j == {"gpu0": pytest.approx(100.0), "gpu1": pytest.approx(300.0)}
    assert w.result.components["gpu"].energy_j == pytest.approx(400.0)
    assert [d["uuid"] for d in m.manifest()["gpu_devices"]] == ["GPU-aaaa", "GPU-bbbb"]
    m.close()


def test_mixed_devices_report_the_weaker_method(fake_nvml, clock):
    fake_nvml([FakeGpu("GPU-aaaa", power_w=100.0), FakeGpu("GPU-bbbb", power_w=50.0, counter=False)], clock)
    m = monitor(clock)
    with m.window("train") as w:
        clock.advance(2.0)
    m.close()
    assert w.result.components["gpu"].source == "measured:nvml-power"
    assert w.result.components["gpu"].energy_j == pytest.approx(300.0)


def test_cuda_visible_devices_selects_and_orders(fake_nvml, clock, monkeypatch):
    fake_nvml([FakeGpu("GPU-aaaa", power_w=100.0), FakeGpu("GPU-bbbb", power_w=300.0)], clock)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    m = monitor(clock)
    with m.window("train") as w:
        clock.advance(1.0)
    m.close()
    assert w.result.gpu_device_energy_j == {"gpu0": pytest.approx(300.0)}  # CUDA's gpu0 is NVML device 1


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (None, [0, 1, 2]),
        ("", []),
        ("-1", []),
        ("2,0", [2, 0]),
        ("0,7,1", [0]),  # CUDA stops at the first invalid entry
        ("GPU-bb", [1]),  # UUID prefix
        ("cc", [2]),  # UUID prefix without GPU-
        ("0,0", [0]),
        ("MIG-1234,1", [1]),
    ],
)
def test_visible_indices(env, expected):
    assert nvml.visible_indices(env, ["GPU-aa11", "GPU-bb22", "GPU-cc33"]) == expected


def test_no_driver_means_source_none(no_nvml, clock):
    m = monitor(clock)
    with m.window("train") as w:
        clock.advance(1.0)
    cols = m.columns(w.result)
    m.close()
    assert cols["source_gpu"] == "none" and cols["energy_gpu_kwh"] is None  # absent, never 0
    assert cols["reason_gpu"].startswith("NVML unavailable") and cols["energy_kwh"] is None
    assert "GPU none (NVML unavailable (NVMLError_LibraryNotFound" in m.summary_line()


def test_asking_for_the_counter_without_one_is_a_sensor_error(fake_nvml, clock):
    fake_nvml([FakeGpu("GPU-aaaa", counter=False)], clock)
    with pytest.raises(SensorError, match="no NVML energy counter"):
        monitor(clock, gpu="counter")


def test_gpu_idle_baseline_and_above_idle(fake_nvml):
    import time

    gpu = FakeGpu("GPU-aaaa", power_w=60.0)
    fake_nvml([gpu], time.perf_counter)
    m = Monitor(FootprintConfig(idle_seconds=0.6, cpu="none", ram="none"))
    m.start()
    assert m.manifest()["idle_baseline"]["gpu_w"] == pytest.approx(60.0, rel=0.02)
    with m.window("train") as w:
        gpu.set_power(160.0, time.perf_counter())
        time.sleep(0.6)
    m.close()
    above = w.result.above_idle_j("gpu")
    assert above == pytest.approx(100.0 * w.result.wall_s, rel=0.05)


def test_explicit_methods_use_only_that_method(fake_nvml, clock):
    fake_nvml([FakeGpu("GPU-aaaa", power_w=100.0)], clock)
    for method, source in (("counter", "measured:nvml-counter"), ("power", "measured:nvml-power")):
        m = monitor(clock, gpu=method)
        with m.window("short") as w:
            clock.advance(0.2)
        m.close()
        assert w.result.components["gpu"].source == source and w.result.components["gpu"].energy_j == pytest.approx(20.0)


def test_sampler_thread_integrates_power_between_edges(fake_nvml):
    import time

    gpu = FakeGpu("GPU-aaaa", power_w=100.0, counter=False)
    fake_nvml([gpu])
    m = Monitor(FootprintConfig(idle_seconds=0, cpu="none", ram="none", sample_interval_s=0.02, min_window_s=0))
    m.start()
    channel = m._meters.gpu_power["gpu0"]
    with m.window("w") as w:
        t_before = channel.last_update_s
        time.sleep(0.2)
        assert channel.last_update_s > t_before  # updated by the thread, not by us
    m.close()
    # the meters are read just outside the window's clock edges (GPU nearest): a few ms more than wall under load
    assert w.result.components["gpu"].energy_j == pytest.approx(100.0 * w.result.wall_s, rel=0.05)


def test_failed_start_releases_nvml(fake_nvml, clock):
    fake = fake_nvml([FakeGpu("GPU-aaaa", counter=False)], clock)
    with pytest.raises(SensorError):
        monitor(clock, gpu="counter")
    assert fake.shutdowns == 1
