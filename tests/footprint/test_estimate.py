"""The real codecarbon path on this CPU: its TDP lookup, its load model, its RAM model."""

from __future__ import annotations

import time

import pytest

from ecobench.footprint import FootprintConfig, Monitor
from ecobench.footprint.meters import estimate


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_cpu_model_comes_from_codecarbon():
    info = estimate.cpu_model()
    assert info.model and info.threads >= 1 and info.physical_cpus >= 1
    assert info.tdp_w is not None and info.tdp_w > 0  # matched, or codecarbon's per-thread default


def test_load_model_energy_is_within_its_bounds():
    info = estimate.cpu_model()
    channel = estimate.CodecarbonCpuChannel(info, "cpu_load")
    channel.start()
    t0 = time.perf_counter()
    busy(0.3)
    energy = channel.update()
    wall = time.perf_counter() - t0
    # codecarbon: max_power x (0.1 + 0.9 x load^3), so between 10 % and 100 % of max power
    assert 0.1 * channel.max_power_w * wall * 0.98 <= energy <= channel.max_power_w * wall * 1.02


def test_constant_mode_is_half_tdp():
    channel = estimate.CodecarbonCpuChannel(estimate.cpu_model(), "constant")
    channel.start()
    t0 = time.perf_counter()
    time.sleep(0.2)
    energy = channel.update()
    assert channel.source == "estimated:codecarbon-tdp"
    assert energy == pytest.approx(0.5 * channel.max_power_w * (time.perf_counter() - t0), rel=0.05)


def test_ram_model_is_constant_power():
    channel = estimate.CodecarbonRamChannel()
    assert channel.power_w > 0 and channel.memory_gb > 0
    channel.start()
    time.sleep(0.1)
    assert channel.update() == pytest.approx(channel.power_w * 0.1, rel=0.3)


def test_monitor_without_gpu_or_rapl_estimates_and_says_so(tmp_path, no_nvml):
    m = Monitor(FootprintConfig(idle_seconds=0.5), powercap_root=tmp_path / "absent")
    m.start()
    with m.window("train") as w:
        busy(0.5)
    m.close()
    r = w.result
    assert (r.gpu_source, r.cpu_source, r.ram_source) == (
        "none",
        "estimated:codecarbon-cpu-load",
        "estimated:codecarbon-ram",
    )
    assert r.cpu_energy_j > 0 and r.ram_energy_j > 0 and r.gpu_energy_j == 0.0
    line = m.summary_line()
    assert "CPU ESTIMATED (codecarbon load model" in line and "RAM ESTIMATED" in line and "GPU none" in line
    idle = m.manifest()["idle_baseline"]
    assert idle["cpu_w"] > 0 and idle["ram_w"] == pytest.approx(m._meters.ram[0].power_w, rel=1e-3)
    assert idle["gpu_w"] is None  # absent, not zero
    # constant RAM model: nothing above idle, by construction
    assert r.above_idle_j("ram") == pytest.approx(0.0, abs=1e-3)
