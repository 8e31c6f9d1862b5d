"""The one shape every meter has: a channel whose `update()` returns cumulative joules.

A window reads every channel at its two edges and takes the difference, so windows can nest or
overlap and nothing is kept per window. Channels that must be read between edges (power samples,
a RAPL counter that wraps, codecarbon's load model) say so with `poll_period_s`; the sampler
thread then calls `update()` that often.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]
log = logging.getLogger(__name__)

# Provenance strings, exactly as rows carry them.
NVML_COUNTER = "measured:nvml-counter"
NVML_POWER = "measured:nvml-power"
RAPL = "measured:rapl"
CC_CPU_LOAD = "estimated:codecarbon-cpu-load"  # machine-wide load
CC_CPU_PROCESS = "estimated:codecarbon-cpu-process"  # this process tree's share of CPU time
CC_TDP = "estimated:codecarbon-tdp"
CC_RAM = "estimated:codecarbon-ram"  # the whole machine's memory
CC_RAM_PROCESS = "estimated:codecarbon-ram-process"  # this process tree's share of the machine's memory
SHORT_WINDOW = "unreliable:short-window"  # a window shorter than its meter resolves: never a `measured` value
NONE = "none"


class Channel:
    """Cumulative energy of one device (or one model of it), safe to update from two threads."""

    component: str  # "gpu" | "cpu" | "ram"
    device: str  # e.g. "gpu0", "package-0", "cpu", "ram"
    source: str  # one of the provenance strings above
    poll_period_s: float | None = None  # how often the sampler must update it; None: edges suffice
    resolution_s: float = 1e-6  # the shortest interval its reading resolves (a window needs 100x this)

    def __init__(self, clock: Clock = time.perf_counter):
        self.clock = clock
        self.total_j = 0.0
        self.last_update_s: float | None = None
        self.failed: str | None = None  # set when a reading failed mid-run; the channel then stops counting
        self._lock = threading.Lock()

    def start(self) -> None:
        """Take the first reading; energy counts from here."""
        with self._lock:
            self._first_reading()
            self.last_update_s = self.clock()

    def update(self) -> float:
        """Read now, add what was used since the last reading, return the running total (J)."""
        with self._lock:
            if self.failed is None:
                try:
                    self.total_j += self._energy_since_last_j()
                except Exception as err:  # noqa: BLE001 (a driver or file that vanished: say so, never crash a phase)
                    self.failed = f"{type(err).__name__}: {err}"
                    log.warning("%s meter %s stopped counting: %s", self.component, self.device, self.failed)
            self.last_update_s = self.clock()
            return self.total_j

    def describe(self) -> dict[str, object]:
        """What the manifest says about this channel."""
        return {"component": self.component, "device": self.device, "source": self.source,
                "resolution_s": self.resolution_s}

    def _first_reading(self) -> None:
        raise NotImplementedError

    def _energy_since_last_j(self) -> float:
        raise NotImplementedError

    def close(self) -> None:  # most channels hold nothing
        pass
