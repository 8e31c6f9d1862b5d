"""The whole run, accounted: one footprint window around each invocation of `ecobench run`, plus an estimate of
the start-up before the meters existed, stored per session in the manifest and summed over resumed sessions.

Nothing is counted twice: phase windows nest inside the run window, so the run total is the run window (plus the
start-up estimate), never phases + run window. What the phases do not cover is `rest = total - phases`: start-up,
meter probing, the forecast probe, idle baseline, data loading, building and loading models, checkpoints.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

from ecobench.footprint.measurement import COMPONENTS, Measurement, kwh
from ecobench.footprint.monitor import Monitor, RunningWindow
from ecobench.footprint.site import Site
from ecobench.record import CellRecord

STARTUP_SOURCE = "estimated:startup-extrapolated"
STARTUP_RULE = (
    "start-up before the meters existed (interpreter, imports, suite and data loading, meter probing): wall time from the "
    "process's start time (psutil create_time), CPU time from the process's own CPU counters; energy per component "
    "at the run window's mean power over that wall time, except a process-attributed CPU estimate, charged at the "
    "window's energy per CPU-second of this process over the start-up's CPU seconds"
)
ENDED = ("complete", "budget", "interrupted", "error")


@dataclass(frozen=True)
class StartUp:
    """This process from its start to now: wall seconds and its own CPU seconds (user + system)."""

    wall_s: float
    cpu_s: float

    @classmethod
    def now(cls) -> StartUp:
        p = psutil.Process()
        t = p.cpu_times()
        return cls(wall_s=max(0.0, time.time() - p.create_time()), cpu_s=t.user + t.system)


def startup_energy_j(m: Measurement, startup: StartUp) -> dict[str, float | None]:
    """Per component, the start-up's energy extrapolated from window `m` (see STARTUP_RULE); None where `m` has none."""
    out: dict[str, float | None] = {}
    for c in COMPONENTS:
        e = m.components[c]
        if e.energy_j is None or m.wall_s <= 0:
            out[c] = None
        elif c == "cpu" and e.attribution == "process":
            out[c] = e.energy_j / m.cpu_process_s * startup.cpu_s if m.cpu_process_s > 0 else None
        else:
            out[c] = e.energy_j / m.wall_s * startup.wall_s
    return out


def _sum(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def session_footprint(m: Measurement, startup: StartUp, site: Site, ended: str) -> dict[str, Any]:
    """One session's record: the run window, the start-up estimate and their sum, converted at the site."""
    up = startup_energy_j(m, startup)
    total_j = {c: (None if m.components[c].energy_j is None else m.components[c].energy_j + (up[c] or 0.0))
               for c in COMPONENTS}
    energy = kwh(_sum(list(total_j.values())))
    fp = site.footprint(energy)
    return {
        "ended": ended,
        "wall_s": m.wall_s + startup.wall_s,
        "energy_kwh": energy,
        **{f"energy_{c}_kwh": kwh(total_j[c]) for c in COMPONENTS},
        "energy_facility_kwh": fp.facility_kwh,
        "co2e_g": fp.co2e_g,
        "water_onsite_l": fp.water_onsite_l,
        "water_offsite_l": fp.water_offsite_l,
        "water_l": fp.water_l,
        "sources": {c: m.components[c].source for c in COMPONENTS},
        "reasons": {c: m.components[c].reason for c in COMPONENTS if m.components[c].reason},
        "cpu_attribution": m.components["cpu"].attribution,
        "provenance": m.provenance,
        "window": {"wall_s": m.wall_s, "cpu_process_s": m.cpu_process_s, "energy_kwh": kwh(m.energy_j),
                   **{f"energy_{c}_kwh": kwh(m.components[c].energy_j) for c in COMPONENTS}},
        "startup": {"wall_s": startup.wall_s, "cpu_s": startup.cpu_s, "energy_kwh": kwh(_sum(list(up.values()))),
                    **{f"energy_{c}_kwh": kwh(up[c]) for c in COMPONENTS}, "source": STARTUP_SOURCE,
                    "rule": STARTUP_RULE},
    }


class RunAccount:
    """The run window of one session: opened as soon as the meters exist, read at any time, closed once."""

    def __init__(self, monitor: Monitor):
        self.monitor = monitor
        self.startup = StartUp.now()  # before the window opens: what the window cannot see
        self._window: RunningWindow = monitor.begin("run")
        self.forecast: dict[str, Any] | None = None

    def so_far(self, ended: str = "running") -> dict[str, Any]:
        return session_footprint(self._window.peek(), self.startup, self.monitor.site, ended)

    def finish(self, ended: str) -> dict[str, Any]:
        rec = session_footprint(self._window.end(), self.startup, self.monitor.site, ended)
        if self.forecast is not None:
            rec["forecast"] = self.forecast
        return rec


# -- the run total, over sessions ------------------------------------------------------------------------------

TOTAL_FIELDS = ("wall_s", "energy_kwh", *(f"energy_{c}_kwh" for c in COMPONENTS), "energy_facility_kwh", "co2e_g",
                "water_onsite_l", "water_offsite_l", "water_l")


@dataclass
class RunTotal:
    """The run summed over its sessions, and the part its phase rows cover. A None total means unknown."""

    sessions: int  # sessions in the manifest
    accounted: int  # sessions that recorded a footprint (a killed process records none)
    totals: dict[str, float | None] = field(default_factory=dict)  # TOTAL_FIELDS summed over accounted sessions
    startup_kwh: float | None = None
    startup_wall_s: float = 0.0
    phases_kwh: float | None = None  # every phase row ever appended (failed cells' phases too)
    phases_wall_s: float = 0.0
    phase_rows_without_energy: int = 0
    sources: dict[str, str] = field(default_factory=dict)
    forecast: dict[str, Any] | None = None  # sessions' forecasts summed (point, low, high) for wall and energy
    parts: list = field(default_factory=list)  # run_parts.Part: what the rest holds, split (measured/estimated)

    @property
    def complete(self) -> bool:
        return self.sessions > 0 and self.accounted == self.sessions

    @property
    def energy_kwh(self) -> float | None:
        return self.totals.get("energy_kwh")

    @property
    def rest_kwh(self) -> float | None:
        if self.energy_kwh is None or self.phases_kwh is None:
            return None
        return self.energy_kwh - self.phases_kwh

    @property
    def phase_share(self) -> float | None:
        """The phases' share of the run's energy; None when either side is unknown or the run total is partial."""
        if not self.complete or self.energy_kwh is None or self.phases_kwh is None or self.energy_kwh <= 0:
            return None
        return self.phases_kwh / self.energy_kwh

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "complete": self.complete, "rest_kwh": self.rest_kwh, "phase_share": self.phase_share}


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def run_total(manifest: dict, records: list[CellRecord]) -> RunTotal:
    """Sum the sessions' footprints (a component unknown in any session is unknown in the total) and the phases."""
    sessions = manifest.get("sessions") or []
    recs = [s["footprint"] for s in sessions if isinstance(s.get("footprint"), dict)]
    out = RunTotal(sessions=len(sessions), accounted=len(recs))
    if recs:
        out.totals = {k: recs[0].get(k) for k in TOTAL_FIELDS}
        out.startup_kwh = recs[0]["startup"].get("energy_kwh")
        for r in recs[1:]:
            out.totals = {k: _add(out.totals[k], r.get(k)) for k in TOTAL_FIELDS}
            out.startup_kwh = _add(out.startup_kwh, r["startup"].get("energy_kwh"))
        out.startup_wall_s = sum(r["startup"]["wall_s"] for r in recs)
        out.sources = {c: "+".join(dict.fromkeys(r["sources"][c] for r in recs)) for c in COMPONENTS}
        forecasts = [r["forecast"] for r in recs if isinstance(r.get("forecast"), dict)]
        if len(forecasts) == len(recs):
            out.forecast = {q: {b: sum(f[q][b] for f in forecasts) if all(f[q][b] is not None for f in forecasts)
                                else None for b in ("point", "low", "high")} for q in ("wall_s", "energy_kwh")}
    energies = [p.energy_kwh for r in records for p in r.phases]
    out.phases_wall_s = sum(p.wall_s or 0.0 for r in records for p in r.phases)
    out.phase_rows_without_energy = sum(e is None for e in energies)
    out.phases_kwh = sum(e for e in energies if e is not None) if records else 0.0
    if out.complete:
        from ecobench.run_parts import split

        out.parts = split(out.rest_kwh, manifest, records, "estimated" if windows_estimated(out.sources) else "measured")
    return out


def share_line(t: RunTotal) -> str:
    """'phases: 93% of the run's energy; the rest: start-up, data, checkpoints' (or why it cannot be said)."""
    from ecobench.report.units import with_unit

    if t.accounted == 0:
        return "run total: not recorded (the run predates run accounting, or no session finished)"
    head = f"run total {with_unit(t.energy_kwh, 'energy_kwh')} over {t.totals['wall_s']:.1f} s"
    if t.sessions > 1:
        head += f" ({t.accounted} of {t.sessions} sessions accounted)"
    if t.phase_share is None:
        why = "part of the run is unaccounted" if not t.complete else "energy unknown"
        return f"{head}; phases' share unknown ({why})"
    parts = "; ".join(f"{p.name} {with_unit(p.energy_kwh, 'energy_kwh')} ({p.kind})" for p in t.parts)
    return (f"{head} ({'estimated' if estimated(t) else 'measured'}); phases: {100 * t.phase_share:.0f}% of the run's energy; the rest "
            f"({with_unit(t.rest_kwh, 'energy_kwh')}): {parts or 'start-up, data, models, checkpoints'}")


def windows_estimated(sources: dict[str, str]) -> bool:
    """Whether the meters' own windows are estimated: a power model for any component."""
    return any("estimated" in str(s) for s in sources.values())


def estimated(t: RunTotal) -> bool:
    """Whether the run total holds estimated energy: a power model for any component, or the start-up (always
    extrapolated)."""
    return windows_estimated(t.sources) or bool(t.startup_kwh)
