"""CPU and RAM estimates from codecarbon's own models, without running a codecarbon tracker.

CPU, by `footprint.cpu_attribution`:
- machine: codecarbon's machine-mode model, max power x (0.1 + 0.9 x load^3) on the whole machine's load
  (`cpu_load`), or TDP x 50 % without psutil (`constant`); max power = matched TDP x physical CPUs.
- process: codecarbon's process-mode rule, max power x this process tree's share of the machine's CPU time
  (CPU seconds of this process and all its children, over wall seconds x logical CPUs). Other tenants' load is
  not charged to the run; there is no idle floor. Ray's own processes (raylet, gcs_server, `ray::` workers and
  their children) are never part of the tree: a Ray started by `run` makes them the driver's descendants, and
  each task reports its own window (executors/ray.py), so counting them here would count that CPU time twice.
RAM, by the same setting: codecarbon's machine-mode constant power from the memory size, charged in full
(machine), or times this process tree's share of the machine's memory (process: resident set over total, read at
every edge and every second, the mean of consecutive readings). All codecarbon calls go through
footprint/codecarbon_adapter.py.

Each channel says its `resolution_s`: the shortest interval its reading resolves (process CPU time: a nanosecond
clock where the platform has one, else 10 ms ticks; the machine's load: ticks).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ecobench.footprint import codecarbon_adapter as cc
from ecobench.footprint.codecarbon_adapter import CpuModel, cpu_model
from ecobench.footprint.meters.base import (
    CC_CPU_LOAD,
    CC_CPU_PROCESS,
    CC_RAM,
    CC_RAM_PROCESS,
    CC_TDP,
    Channel,
    Clock,
)
from ecobench.footprint.meters.cputime import (  # noqa: F401 (RAY_SERVICE, is_ray_process: re-exported)
    RAY_SERVICE,
    TICK_S,
    TREE_CPU_RESOLUTION_S,
    is_ray_process,
    process_tree_cpu_s,
    tree_memory_share,
)

log = logging.getLogger(__name__)

__all__ = ["CodecarbonCpuChannel", "CodecarbonRamChannel", "CpuModel", "cpu_model", "process_tree_cpu_s"]

# codecarbon's tracker calls CPU.monitor_power() every second; we sample its load model as often.
CPU_LOAD_PERIOD_S = 1.0


class CodecarbonCpuChannel(Channel):
    """codecarbon's CPU estimate, machine- or process-attributed, evaluated every second and at window edges."""

    component = "cpu"
    device = "cpu"
    poll_period_s = CPU_LOAD_PERIOD_S

    def __init__(self, info: CpuModel, mode: str, clock: Clock = time.perf_counter, attribution: str = "machine",
                 cpu_time: Callable[[], float] = process_tree_cpu_s):
        """`mode` is codecarbon's: "cpu_load" (load model) or "constant" (TDP x 50 %, machine only)."""
        super().__init__(clock)
        self.info = info
        self.mode = mode
        self.attribution = "process" if attribution == "process" and mode == "cpu_load" else "machine"
        self._model = cc.CpuPowerModel(mode, info)
        self.max_power_w = self._model.max_power_w
        self.source = CC_TDP if mode != "cpu_load" else CC_CPU_PROCESS if self.attribution == "process" else CC_CPU_LOAD
        self._cpu_time = cpu_time
        # process: the tree's CPU clock (a test's own clock: exact); machine load: ticks; constant: the wall clock
        tree_res = TREE_CPU_RESOLUTION_S if cpu_time is process_tree_cpu_s else 1e-6
        self.resolution_s = tree_res if self.attribution == "process" else TICK_S if mode == "cpu_load" else 1e-6
        self._last_t = 0.0
        self._last_cpu_s = 0.0

    def _first_reading(self) -> None:
        self._model.start()
        self._last_t = self.clock()
        if self.attribution == "process":
            self._last_cpu_s = self._cpu_time()

    def _energy_since_last_j(self) -> float:
        now = self.clock()
        dt, self._last_t = now - self._last_t, now
        if self.attribution == "process":
            cpu_s = self._cpu_time()
            used, self._last_cpu_s = cpu_s - self._last_cpu_s, cpu_s
            if dt <= 0:
                return 0.0
            share = min(max(used, 0.0) / (dt * self.info.threads), 1.0)
            return self.max_power_w * share * dt
        # machine: the mean power since the model's previous call, which is our previous reading
        return self._model.mean_power_w() * dt

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "model": self.info.model,
            "codecarbon_mode": self.mode,
            "attribution": self.attribution,
            "max_power_w": self.max_power_w,
            "tdp_table_match": self.info.matched,
            "physical_cpus": self.info.physical_cpus,
            "threads": self.info.threads,
            "period_s": self.poll_period_s,
            "resolution_s": self.resolution_s,
        }


class CodecarbonRamChannel(Channel):
    """codecarbon's RAM model: a constant power from the machine's memory size (DIMM heuristic), charged in full
    (machine attribution) or by this process tree's share of the machine's memory (process attribution)."""

    component = "ram"
    device = "ram"
    resolution_s = 1e-6  # power x wall time: the clock's resolution

    def __init__(self, clock: Clock = time.perf_counter, attribution: str = "machine",
                 memory_share: Callable[[], float] = tree_memory_share):
        super().__init__(clock)
        self.memory_gb, self.power_w = cc.ram_model()
        self.attribution = "process" if attribution == "process" else "machine"
        self.source = CC_RAM_PROCESS if self.attribution == "process" else CC_RAM
        self.poll_period_s = 1.0 if self.attribution == "process" else None  # the share moves: sample it
        self._share = memory_share
        self._last_share = 1.0
        self._last_t = 0.0

    def _first_reading(self) -> None:
        self._last_t = self.clock()
        if self.attribution == "process":
            self._last_share = self._share()

    def _energy_since_last_j(self) -> float:
        now = self.clock()
        dt, self._last_t = now - self._last_t, now
        share = 1.0
        if self.attribution == "process":
            current = self._share()
            share, self._last_share = (self._last_share + current) / 2, current
        return self.power_w * share * dt

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "memory_gb": self.memory_gb, "power_w": self.power_w,
                "attribution": self.attribution, "resolution_s": self.resolution_s,
                **({"memory_share": "process tree RSS / total memory"} if self.attribution == "process" else {})}
