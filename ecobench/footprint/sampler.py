"""One daemon thread that updates the channels that need reading between window edges.

It wakes at the shortest poll period among them and updates each channel whose period has
elapsed. NVML and sysfs reads release the GIL, and with no GPU the thread wakes once a second,
so its cost is far below the 1 % budget (benchmarks/footprint_overhead.py measures it).
"""

from __future__ import annotations

import logging
import threading
import time

from ecobench.footprint.meters.base import Channel

log = logging.getLogger(__name__)


class Sampler:
    def __init__(self, channels: list[Channel]):
        self.channels = [c for c in channels if c.poll_period_s]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def tick_s(self) -> float | None:
        periods = [c.poll_period_s for c in self.channels if c.poll_period_s]
        return min(periods) if periods else None

    def start(self) -> None:
        if self.tick_s is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="ecobench-footprint-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        tick = self.tick_s or 1.0
        while not self._stop.wait(tick):
            for channel in self.channels:
                due = channel.last_update_s is None or (
                    channel.clock() - channel.last_update_s >= channel.poll_period_s * 0.999  # type: ignore[operator]
                )
                if due:
                    channel.update()

    def thread_cpu_s(self) -> float:
        """CPU seconds the sampler thread has used so far (Linux/Unix; 0.0 where unsupported)."""
        if self._thread is None or self._thread.ident is None:
            return 0.0
        try:
            return time.clock_gettime(time.pthread_getcpuclockid(self._thread.ident))
        except (AttributeError, OSError):
            return 0.0

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
