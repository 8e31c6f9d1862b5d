"""CPU and RAM estimates from codecarbon's own models, without running a codecarbon tracker.

CPU, by `footprint.cpu_attribution`:
- machine: codecarbon's machine-mode model, max power x (0.1 + 0.9 x load^3) on the whole machine's load
  (`cpu_load`), or TDP x 50 % without psutil (`constant`); max power = matched TDP x physical CPUs.
- process: codecarbon's process-mode rule, max power x this process tree's share of the machine's CPU time
  (CPU seconds of this process and all its children, over wall seconds x logical CPUs). Other tenants' load is
  not charged to the run; there is no idle floor. Ray's own processes (raylet, gcs_server, `ray::` workers and
  their children) are never part of the tree: a Ray started by `run` makes them the driver's descendants, and
  each task reports its own window (executors/ray.py), so counting them here would count that CPU time twice.
RAM: codecarbon's machine-mode constant power from the memory size. All codecarbon calls go through
footprint/codecarbon_adapter.py.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

import psutil

from ecobench.footprint import codecarbon_adapter as cc
from ecobench.footprint.codecarbon_adapter import CpuModel, cpu_model
from ecobench.footprint.meters.base import CC_CPU_LOAD, CC_CPU_PROCESS, CC_RAM, CC_TDP, Channel, Clock

log = logging.getLogger(__name__)

__all__ = ["CodecarbonCpuChannel", "CodecarbonRamChannel", "CpuModel", "cpu_model", "process_tree_cpu_s"]

# codecarbon's tracker calls CPU.monitor_power() every second; we sample its load model as often.
CPU_LOAD_PERIOD_S = 1.0


# Ray's Python services (log monitor, dashboard and its agents, autoscaler monitor, runtime-env agent) by their path
# inside the ray package; a user's own /home/ray/... script is not one of them
RAY_SERVICE = re.compile(r"[/\\]ray[/\\](_private|dashboard|autoscaler|core|_raylet|util)[/\\.]")


def is_ray_process(proc: psutil.Process) -> bool:
    """Ray's own processes: the raylet, the GCS, workers (titled `ray::...`) and Ray's Python services."""
    try:
        if proc.name() in ("raylet", "gcs_server"):
            return True
        cmd = proc.cmdline()
    except psutil.Error:
        return False
    return bool(cmd) and (cmd[0].startswith("ray::") or any(RAY_SERVICE.search(part) for part in cmd[:3]))


def process_tree_cpu_s(process: psutil.Process | None = None) -> float:
    """User + system CPU seconds of this process and its descendants, living or finished, without Ray's processes
    and theirs (`is_ray_process`).

    A finished child's time moves into its parent's `children_*` once reaped, so the sum stays cumulative
    and a difference of two readings is the tree's CPU time between them."""
    process = process or psutil.Process()
    tree, todo = [process], [process]
    while todo:
        try:
            children = todo.pop().children()
        except psutil.Error:
            continue
        mine = [c for c in children if not is_ray_process(c)]
        tree += mine
        todo += mine
    total = 0.0
    for proc in tree:
        try:
            t = proc.cpu_times()
        except psutil.Error:  # exited between listing and reading: its parent has (or will have) its time
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


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
        }


class CodecarbonRamChannel(Channel):
    """codecarbon's RAM model: a constant power from the machine's memory size (DIMM heuristic)."""

    component = "ram"
    device = "ram"
    source = CC_RAM

    def __init__(self, clock: Clock = time.perf_counter):
        super().__init__(clock)
        self.memory_gb, self.power_w = cc.ram_model()
        self._last_t = 0.0

    def _first_reading(self) -> None:
        self._last_t = self.clock()

    def _energy_since_last_j(self) -> float:
        now = self.clock()
        energy, self._last_t = self.power_w * (now - self._last_t), now
        return energy

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "memory_gb": self.memory_gb, "power_w": self.power_w}
