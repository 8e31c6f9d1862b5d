"""CPU and RAM estimates from codecarbon's own models, without running a codecarbon tracker.

We build the same hardware objects codecarbon's `ResourceTracker` builds when it finds no RAPL:
`CPU` in `cpu_load` mode with max power = matched TDP x physical CPUs (its TDP table, or its
per-thread default when the model is not in the table), or `constant` mode (TDP x 50 %) without
psutil; and `RAM` in machine mode. A tracker's `start()` costs about a second of probing; this
costs one TDP lookup per process (cached by codecarbon) and nothing per window.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from ecobench.footprint.meters.base import CC_CPU_LOAD, CC_RAM, CC_TDP, Channel, Clock

log = logging.getLogger(__name__)

# codecarbon's tracker calls CPU.monitor_power() every second; we sample its load model as often.
CPU_LOAD_PERIOD_S = 1.0


@contextmanager
def quiet_codecarbon(level: int = logging.WARNING) -> Iterator[None]:
    """codecarbon logs at INFO on every call; keep only warnings while we use it."""
    cc_log = logging.getLogger("codecarbon")
    before = cc_log.level
    cc_log.setLevel(max(level, before))
    try:
        yield
    finally:
        cc_log.setLevel(before)


@dataclass
class CpuModel:
    """What codecarbon knows about this CPU."""

    model: str
    tdp_w: float | None  # per physical CPU, from codecarbon's table (or its per-thread default)
    matched: str | None  # the table entry matched, None if codecarbon fell back to its default
    physical_cpus: int
    threads: int

    @property
    def max_power_w(self) -> float | None:
        return None if self.tdp_w is None else self.tdp_w * self.physical_cpus


@cache
def cpu_model() -> CpuModel:
    """codecarbon's TDP lookup for this machine (1-2 s, once per process: the CPU does not change)."""
    from codecarbon.core import cpu
    from codecarbon.core.hardware_cache import get_cached_tdp
    from codecarbon.core.util import count_cpus, count_physical_cpus
    from codecarbon.input import DataSource

    with quiet_codecarbon(logging.ERROR):  # it warns about unknown models; our summary says it instead
        tdp = get_cached_tdp(cpu)
        matched = tdp._get_matching_cpu(tdp.model, DataSource().get_cpu_power_data()) if tdp.model else None
        physical = count_physical_cpus()
    return CpuModel(
        model=str(tdp.model),
        tdp_w=float(tdp.tdp) if tdp.tdp is not None else None,
        matched=matched,
        physical_cpus=int(physical or 1),
        threads=int(count_cpus()),
    )


class CodecarbonCpuChannel(Channel):
    """codecarbon's CPU estimate: its power model evaluated every second and at window edges."""

    component = "cpu"
    device = "cpu"
    poll_period_s = CPU_LOAD_PERIOD_S

    def __init__(self, info: CpuModel, mode: str, clock: Clock = time.perf_counter):
        """`mode` is codecarbon's: "cpu_load" (TDP x load model) or "constant" (TDP x 50 %)."""
        from codecarbon.external.hardware import CPU

        super().__init__(clock)
        self.info = info
        self.mode = mode
        self.source = CC_CPU_LOAD if mode == "cpu_load" else CC_TDP
        with quiet_codecarbon():
            self._cpu = CPU.from_utils(".", mode, info.model, info.max_power_w)
        self.max_power_w = float(self._cpu._tdp)
        self._last_t = 0.0

    def _first_reading(self) -> None:
        self._cpu.start()  # resets its load baseline: the first sample covers from now
        self._last_t = self.clock()

    def _energy_since_last_j(self) -> float:
        # total_power() is the mean power since its previous call, which is our previous reading.
        # It logs at DEBUG only; no quieting here (Logger.setLevel clears every logger's cache).
        watts = self._cpu.total_power().W
        now = self.clock()
        energy, self._last_t = watts * (now - self._last_t), now
        return energy

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "model": self.info.model,
            "codecarbon_mode": self.mode,
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
        from codecarbon.external.ram import RAM

        super().__init__(clock)
        with quiet_codecarbon():
            ram = RAM(tracking_mode="machine")
            self.memory_gb = float(ram.machine_memory_GB)
            self.power_w = float(ram.total_power().W)
        self._last_t = 0.0

    def _first_reading(self) -> None:
        self._last_t = self.clock()

    def _energy_since_last_j(self) -> float:
        now = self.clock()
        energy, self._last_t = self.power_w * (now - self._last_t), now
        return energy

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "memory_gb": self.memory_gb, "power_w": self.power_w}
