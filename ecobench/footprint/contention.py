"""How much of the machine other programs used during a window: a busy machine is data, not a silent bias.

Other CPU time = the machine's busy CPU time (every CPU, /proc/stat) minus this process tree's (a nanosecond
clock, meters/cputime.py), over the window. The machine's side counts in 10 ms ticks, so a 5 ms window alone
cannot resolve it: the share is taken over the shortest span ending at the window's end that starts at or before
the window's start and lasts at least `span_s` (by default the span that resolves 5% of the machine,
cputime.contention_span_s), using the snapshots earlier window edges left. The span used is recorded with it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ecobench.footprint.meters import cputime

log = logging.getLogger(__name__)


def read_load() -> tuple[float, float]:
    """(machine busy CPU s, this process tree's CPU s), both cumulative."""
    return cputime.machine_busy_cpu_s(), cputime.process_tree_cpu_s()


@dataclass(frozen=True)
class Snapshot:
    t: float  # the monitor's clock (s)
    machine_s: float | None  # busy CPU seconds of the whole machine
    tree_s: float | None  # CPU seconds of this process tree


@dataclass(frozen=True)
class OtherLoad:
    """Others' use of the machine during one window."""

    cpu_s: float | None  # CPU seconds others used, over the window (the span's rate times the window)
    share: float | None  # of the machine's CPU capacity (0..1)
    span_s: float | None  # the interval the share was measured over (>= the window)


UNKNOWN = OtherLoad(None, None, None)


class ContentionTracker:
    """Keeps the last snapshots of machine and process-tree CPU time taken at window edges."""

    def __init__(self, read: Callable[[], tuple[float, float]] = read_load, cpus: int | None = None,
                 span_s: float | None = None, keep: int = 512):
        self._read = read
        self.cpus = cpus or cputime.machine_cpus()
        self.span_s = span_s if span_s is not None else cputime.contention_span_s(self.cpus)
        self._history: deque[Snapshot] = deque(maxlen=keep)
        self._failed = False

    def snapshot(self, t: float) -> Snapshot:
        machine = tree = None
        if not self._failed:
            try:
                machine, tree = self._read()
            except Exception as err:  # noqa: BLE001 (/proc unreadable: contention becomes unknown, never a crash)
                self._failed = True
                log.warning("machine CPU time unreadable, contention unknown from here on: %s", err)
        snap = Snapshot(t, machine, tree)
        self._history.append(snap)
        return snap

    def other(self, begin: Snapshot, end: Snapshot) -> OtherLoad:
        """Others' CPU use over the window [begin, end]."""
        wall = end.t - begin.t
        start = begin
        for snap in reversed(self._history):  # the latest usable snapshot: at or before begin, span long enough
            if snap.t <= begin.t and end.t - snap.t >= self.span_s and snap.machine_s is not None:
                start = snap
                break
        else:  # nothing old enough: the oldest snapshot at or before begin
            older = [s for s in self._history if s.t <= begin.t and s.machine_s is not None]
            start = older[0] if older else begin
        span = end.t - start.t
        if None in (start.machine_s, start.tree_s, end.machine_s, end.tree_s) or span <= 0:
            return UNKNOWN
        other_s = max(0.0, (end.machine_s - start.machine_s) - (end.tree_s - start.tree_s))  # type: ignore[operator]
        share = min(1.0, other_s / (span * self.cpus))
        return OtherLoad(cpu_s=share * self.cpus * max(wall, 0.0), share=share, span_s=span)


def contention_line(rows: Any, policy: str) -> str:
    """The run summary's count of contended windows, from the stored phase rows (a DataFrame with the paired
    phases' `contended_windows` and `repeats`)."""
    if "contended_windows" not in getattr(rows, "columns", ()):
        return "contended windows: not recorded (rows written before protocol v2)"
    paired = rows.dropna(subset=["contended_windows"])
    contended, windows = int(paired["contended_windows"].sum()), int(2 * paired["repeats"].sum())
    what = {"flag": "flagged in their rows", "retry": "still contended after footprint.quiet.retries",
            "stop": "the run stops at the first"}[policy]
    return f"contended windows (others used the machine): {contended} of {windows} paired windows, {what}"
