"""The real codecarbon path on this CPU: its TDP lookup, its load model, its RAM model; process attribution."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ecobench.footprint import FootprintConfig, Monitor
from ecobench.footprint.meters import estimate


def test_cpu_model_comes_from_codecarbon():
    info = estimate.cpu_model()
    assert info.model and info.threads >= 1 and info.physical_cpus >= 1
    assert info.tdp_w is not None and info.tdp_w > 0  # matched, or codecarbon's per-thread default


def test_load_model_energy_is_within_its_bounds(clock):
    channel = estimate.CodecarbonCpuChannel(estimate.cpu_model(), "cpu_load", clock, "machine")
    channel.start()
    clock.advance(2.0)
    energy = channel.update()
    # codecarbon: max_power x (0.1 + 0.9 x load^3), so between 10 % and 100 % of max power
    assert 0.1 * channel.max_power_w * 2.0 <= energy <= channel.max_power_w * 2.0
    assert channel.source == "estimated:codecarbon-cpu-load"


def test_constant_mode_is_half_tdp(clock):
    channel = estimate.CodecarbonCpuChannel(estimate.cpu_model(), "constant", clock, "process")
    channel.start()
    clock.advance(3.0)
    assert channel.source == "estimated:codecarbon-tdp" and channel.attribution == "machine"
    assert channel.update() == pytest.approx(0.5 * channel.max_power_w * 3.0)


def test_process_attribution_is_the_trees_share_of_cpu_time(clock):
    info = estimate.cpu_model()
    used = {"s": 100.0}
    channel = estimate.CodecarbonCpuChannel(info, "cpu_load", clock, "process", cpu_time=lambda: used["s"])
    channel.start()
    clock.advance(4.0)
    used["s"] += 2.0  # 2 CPU seconds in 4 wall seconds
    share = 2.0 / (4.0 * info.threads)
    assert channel.update() == pytest.approx(channel.max_power_w * share * 4.0)
    clock.advance(1.0)  # idle: no CPU time, no energy (no idle floor in process mode)
    assert channel.update() == pytest.approx(channel.max_power_w * share * 4.0)
    assert channel.source == "estimated:codecarbon-cpu-process"


def test_process_tree_cpu_time_counts_children():
    before = estimate.process_tree_cpu_s()
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
    subprocess.run([sys.executable, "-c", burn], check=True)  # a child, reaped: counted in children_*
    assert estimate.process_tree_cpu_s() - before >= 0.3


def test_ram_model_is_constant_power(clock):
    channel = estimate.CodecarbonRamChannel(clock)
    assert channel.power_w > 0 and channel.memory_gb > 0
    channel.start()
    clock.advance(0.5)
    assert channel.update() == pytest.approx(channel.power_w * 0.5)


def test_monitor_without_gpu_or_rapl_estimates_and_says_so(tmp_path, no_nvml, clock):
    m = Monitor(FootprintConfig(idle_seconds=2.0), powercap_root=tmp_path / "absent", clock=clock, sleep=clock.advance)
    m.start()
    with m.window("train") as w:
        clock.advance(3.0)
    m.close()
    r = w.result
    assert (r.components["gpu"].source, r.components["cpu"].source, r.components["ram"].source) == (
        "none",
        "estimated:codecarbon-cpu-process",
        "estimated:codecarbon-ram-process",  # RAM too is this process tree's share under process attribution
    )
    assert r.components["gpu"].energy_j is None and r.components["gpu"].reason.startswith("NVML unavailable")
    assert r.components["cpu"].energy_j >= 0 and r.components["ram"].energy_j > 0
    assert r.energy_j == r.components["cpu"].energy_j + r.components["ram"].energy_j
    line = m.summary_line()
    assert "CPU ESTIMATED (codecarbon process-share model" in line and "RAM ESTIMATED" in line and "GPU none" in line
    manifest = m.manifest()
    idle = manifest["idle_baseline"]
    assert 0 < idle["ram_w"] < m._meters.ram[0].power_w  # this process tree's share of the machine's memory
    assert idle["gpu_w"] is None  # absent, not zero
    assert manifest["cpu_attribution"] == "process" and m.columns(r)["cpu_attribution"] == "process"
    # constant RAM model: nothing above idle, by construction; the total above idle is over CPU and RAM
    assert r.above_idle_j("ram") == pytest.approx(0.0, abs=0.01 * r.components["ram"].energy_j)
    assert r.above_idle_j() == pytest.approx(r.above_idle_j("cpu"))


def test_ram_under_process_attribution_is_the_trees_share_of_memory(clock):
    share = {"now": 0.25}
    channel = estimate.CodecarbonRamChannel(clock, "process", memory_share=lambda: share["now"])
    channel.start()
    clock.advance(2.0)
    share["now"] = 0.75  # the tree grew: the interval is charged the mean of its edges
    assert channel.update() == pytest.approx(channel.power_w * 0.5 * 2.0)
    assert channel.source == "estimated:codecarbon-ram-process" and channel.poll_period_s == 1.0
    machine = estimate.CodecarbonRamChannel(clock, "machine", memory_share=lambda: 0.25)
    machine.start()
    clock.advance(2.0)
    assert machine.update() == pytest.approx(machine.power_w * 2.0)  # the whole machine's memory, as before
    assert machine.source == "estimated:codecarbon-ram" and machine.describe()["attribution"] == "machine"


def test_a_row_says_whose_ram_it_is(tmp_path, no_nvml, clock):
    for attribution in ("process", "machine"):
        m = Monitor(FootprintConfig(idle_seconds=0, cpu_attribution=attribution), powercap_root=tmp_path / "absent",
                    clock=clock, sleep=clock.advance)
        m.start()
        with m.window("w") as w:
            clock.advance(2.0)
        m.close()
        cols = m.columns(w.result)
        assert cols["ram_attribution"] == attribution and cols["cpu_attribution"] == attribution
