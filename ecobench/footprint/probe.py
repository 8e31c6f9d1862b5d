"""Which meters this machine has, per component, chosen once by `Monitor.start()` from the suite's settings.

A setting that names a meter the machine lacks (`gpu: counter`, `cpu: rapl`) is a SensorError; `auto` falls back
and says why in `notes`, which the summary line, the manifest and `ecobench doctor` repeat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ecobench.config.footprint import FootprintConfig
from ecobench.errors import SensorError
from ecobench.footprint import codecarbon_adapter as cc
from ecobench.footprint.meters import estimate, nvml, rapl
from ecobench.footprint.meters.base import NONE, NVML_COUNTER, NVML_POWER, Channel, Clock

log = logging.getLogger(__name__)

GPU_MIN_WINDOW_S = 2.0  # default shortest window when a GPU is metered
MAX_RESOLUTION_SHARE = 0.01  # a meter's resolution may be at most 1% of a window
# A window on a time-shared CPU is disturbed in scheduler quanta, whatever its clock resolves: a timer tick (1-4 ms
# on Linux), an interrupt, another task's slice. At 5 ms one such disturbance is a 20-80% error in one window, which
# gives the pair ratios heavy tails that no t interval allows for (benchmarks/bench_paired_cv.py: 2 false claims in
# 200 identical-work tests with llm.yaml's 5-30 ms windows); at 50 ms it is a few percent.
CPU_MIN_WINDOW_S = 0.05


@dataclass
class Meters:
    """What the probe found, per component."""

    gpu_counter: dict[str, Channel] = field(default_factory=dict)  # device -> counter channel
    gpu_power: dict[str, Channel] = field(default_factory=dict)  # device -> power channel
    cpu: list[Channel] = field(default_factory=list)
    ram: list[Channel] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)  # component -> why it is estimated or absent
    nvml: nvml.NvmlProbe | None = None
    rapl: rapl.RaplProbe | None = None
    cpu_info: cc.CpuModel | None = None

    @property
    def all(self) -> list[Channel]:
        return [*self.gpu_counter.values(), *self.gpu_power.values(), *self.cpu, *self.ram]

    @property
    def gpu_devices(self) -> list[str]:
        return sorted(set(self.gpu_counter) | set(self.gpu_power))

    def source(self, component: str) -> str:
        """The provenance this component's energy will carry (the weaker GPU method when devices differ)."""
        if component == "gpu":
            if self.gpu_counter and len(self.gpu_counter) == len(self.gpu_devices):
                return NVML_COUNTER
            return NVML_POWER if self.gpu_devices else NONE
        channels = self.cpu if component == "cpu" else self.ram
        return channels[0].source if channels else NONE

    def measured(self) -> list[str]:
        return [c for c in ("gpu", "cpu", "ram") if self.source(c).startswith("measured:")]

    def cpu_attribution(self) -> str | None:
        """Whose load the CPU energy is: RAPL and the constant model count the machine; None without a CPU meter."""
        if not self.cpu:
            return None
        return getattr(self.cpu[0], "attribution", "machine")

    def ram_attribution(self) -> str | None:
        """Whose memory the RAM energy is: the machine's, or this process tree's share; None without a RAM meter."""
        return getattr(self.ram[0], "attribution", "machine") if self.ram else None

    def min_window_s(self, override: float | None) -> tuple[float, str]:
        """How long a measured window must last for its meters, and why: `footprint.min_window_s` when set; 2 s when
        a GPU is metered (NVML's counter updates every ~100 ms and its power is a 1 s average); else 100x the
        coarsest meter's resolution (its resolution at most 1% of the window), and at least CPU_MIN_WINDOW_S."""
        if override is not None:
            return override, "footprint.min_window_s"
        if self.gpu_devices:
            return GPU_MIN_WINDOW_S, "a GPU is metered (NVML counter ~100 ms, power a 1 s average)"
        if not self.all:
            return 0.0, "no meter"
        coarse = max(self.all, key=lambda c: c.resolution_s)
        if coarse.resolution_s / MAX_RESOLUTION_SHARE < CPU_MIN_WINDOW_S:
            return CPU_MIN_WINDOW_S, (f"scheduler quanta (1-4 ms) at most a few percent of a window; the meters "
                                      f"resolve {coarse.resolution_s:g} s ({coarse.component}, {coarse.source})")
        return coarse.resolution_s / MAX_RESOLUTION_SHARE, (
            f"100x the {coarse.component} meter's resolution ({coarse.resolution_s:g} s, {coarse.source})")


def probe_meters(config: FootprintConfig, powercap_root: Path, clock: Clock, device: str | None = None) -> Meters:
    """Find and build every channel the suite asks for. `device` is where the work runs ('cpu', 'cuda:N'): only that
    GPU is metered, and none when it is the CPU; None meters every visible GPU (`doctor`). Releases NVML before
    raising."""
    meters = Meters()
    try:
        _probe_gpu(meters, config, clock, device)
        _probe_cpu(meters, config, powercap_root, clock)
        _probe_ram(meters, config, clock)
    except SensorError:
        if meters.nvml is not None:
            nvml.shutdown(meters.nvml)
        raise
    return meters


def _probe_gpu(meters: Meters, cfg: FootprintConfig, clock: Clock, work: str | None = None) -> None:
    if cfg.gpu == "none":
        meters.notes["gpu"] = "off (footprint.gpu: none)"
        return
    if work is not None and not work.startswith("cuda"):
        # an idle GPU beside CPU work is not the work's energy, and must not make `require: measured` pass
        meters.notes["gpu"] = f"not metered: the work runs on {work} (run.device)"
        if cfg.gpu != "auto":
            raise SensorError(f"footprint.gpu is {cfg.gpu!r} but the work runs on {work}; set run.device to a GPU, "
                              "or footprint.gpu: auto", "footprint.gpu")
        return
    meters.nvml = probe = nvml.probe()
    if not probe.problem and work is not None:
        index = int(work.partition(":")[2] or 0)
        probe.devices = [d for d in probe.devices if d.visible_index == index]  # the GPU doing the work, only it
        if not probe.devices:
            probe.problem = f"NVML shows no GPU as CUDA device {index} (the work's {work})"
    if probe.problem:
        meters.notes["gpu"] = probe.problem
        if cfg.gpu != "auto":
            raise SensorError(f"footprint.gpu is {cfg.gpu!r} but {probe.problem}; run `ecobench doctor`", "footprint.gpu")
        return
    for device in probe.devices:
        if device.scope != "gpu":  # a MIG slice: the meter reads the whole GPU, and the rows say so
            meters.notes["gpu"] = f"GPU {device.visible_index}: energy is the {device.scope}"
        if device.counter_supported and cfg.gpu in ("auto", "counter"):
            counter = nvml.NvmlCounterChannel(device, clock)
            meters.gpu_counter[counter.device] = counter
        elif cfg.gpu == "counter":
            raise SensorError(
                f"footprint.gpu is 'counter' but GPU {device.visible_index} ({device.name}) has no "
                "NVML energy counter (Volta or newer needed); use gpu: auto or power",
                "footprint.gpu",
            )
        if device.power_supported and cfg.gpu in ("auto", "power"):
            power = nvml.NvmlPowerChannel(device, cfg.sample_interval_s, clock)
            meters.gpu_power[power.device] = power
        elif cfg.gpu == "power":
            raise SensorError(f"footprint.gpu is 'power' but GPU {device.visible_index} reports no power", "footprint.gpu")
        if not (device.counter_supported or device.power_supported):
            log.warning("GPU %d (%s): %s", device.visible_index, device.name, device.problem)


def _probe_cpu(meters: Meters, cfg: FootprintConfig, powercap_root: Path, clock: Clock) -> None:
    if cfg.cpu == "none":
        meters.notes["cpu"] = "off (footprint.cpu: none)"
        return
    if cfg.cpu in ("auto", "rapl"):
        meters.rapl = probe = rapl.probe(powercap_root)
        if probe.usable:
            meters.cpu = [rapl.RaplChannel(d, clock) for d in probe.usable]
            meters.notes["cpu"] = "RAPL measures whole packages (machine attribution)"
            return
        if cfg.cpu == "rapl":
            raise SensorError(f"footprint.cpu is 'rapl' but RAPL is not readable: {probe.problem}", "footprint.cpu")
    meters.cpu_info = info = cc.cpu_model()
    mode = "constant" if cfg.cpu == "codecarbon-tdp" or not cc.psutil_available() else "cpu_load"
    channel = estimate.CodecarbonCpuChannel(info, mode, clock, cfg.cpu_attribution)
    meters.cpu = [channel]
    rapl_note = f"no RAPL: {meters.rapl.problem}" if meters.rapl else "RAPL not tried"
    tdp_note = (
        f"{info.model} matched '{info.matched}' in its TDP table"
        if info.matched
        else f"{info.model} not in its TDP table, so its default {info.tdp_w or 0:g} W for {info.threads} threads"
    )
    meters.notes["cpu"] = f"{tdp_note}, max {channel.max_power_w:g} W, {channel.attribution} attribution; {rapl_note}"


def _probe_ram(meters: Meters, cfg: FootprintConfig, clock: Clock) -> None:
    if cfg.ram == "none":
        meters.notes["ram"] = "off (footprint.ram: none)"
        return
    channel = estimate.CodecarbonRamChannel(clock, cfg.cpu_attribution)
    meters.ram = [channel]
    share = ", times this process tree's share of memory (RSS)" if channel.attribution == "process" else ""
    meters.notes["ram"] = f"{channel.power_w:g} W for {channel.memory_gb:.0f} GB{share} ({channel.attribution} attribution)"
