"""What the run total holds beyond the phase rows, split truly (issue 25).

A phase row of a measured workload holds the mean of the pruned side's windows: one window's worth. The run also
measured the other repeats and every dense-side window (measured: summed from the rows' repeats), ran warm-ups,
the noise floor and each cell's loss evaluation outside any window, timed a forecast probe, and started up, loaded
data and models and wrote checkpoints. The unmeasured parts are estimated from what was measured (each says how);
the last part is what remains of the run total, so the parts always add up to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median
from typing import Any

PAIRED = "dense side of the paired windows and the repeats"
WARM = "warm-ups, noise floor and loss evaluation"
PROBE = "forecast probe"
REST = "start-up, data, models, checkpoints and other unmeasured work"


@dataclass(frozen=True)
class Part:
    name: str
    energy_kwh: float | None
    kind: str  # 'measured' | 'estimated' | 'remainder'
    how: str


def _f(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _row(p: Any) -> dict[str, Any]:
    return p.model_dump() if hasattr(p, "model_dump") else dict(p)


def paired_extra_kwh(records: list) -> float:
    """Energy of every paired window beyond the one-window mean the phase row counts (measured)."""
    total = 0.0
    for rec in records:
        for p in map(_row, rec.phases):
            a, b = p.get("energy_kwh_repeats"), p.get("dense_energy_kwh_repeats")
            if not isinstance(a, list) or not isinstance(b, list):
                continue
            vals = [_f(v) for v in (*a, *b)]
            mean = _f(p.get("energy_kwh"))
            if any(v is None for v in vals) or mean is None:
                continue
            total += sum(vals) - mean  # type: ignore[arg-type]
    return total


def _window_medians(records: list) -> dict[str, float]:
    """workload label -> the median dense-side window energy over the run (what one unmeasured execution costs)."""
    by: dict[str, list[float]] = {}
    for rec in records:
        for p in map(_row, rec.phases):
            b = p.get("dense_energy_kwh_repeats")
            if isinstance(b, list):
                bs = p.get("batch_size")
                lab = p["phase"] if bs is None else f"{p['phase']}_b{int(bs)}"
                by.setdefault(lab, []).extend(v for v in map(_f, b) if v is not None)
    return {k: median(v) for k, v in by.items() if v}


def warm_kwh(manifest: dict, records: list) -> float | None:
    """Estimated: the noise floor's windows and warm-up (at the median eval window), per cell one warm-up run of
    each workload on each side (a window's energy / its inner runs, twice) and the loss evaluation itself (the eval
    window's energy per token x the tokens evaluated), and the process warm-up (one window of each workload)."""
    med = _window_medians(records)
    if "eval" not in med:
        return None
    total = sum(med.values())  # the process warm-up: each workload once
    for s in manifest.get("sessions") or []:
        floor = s.get("noise_floor") or {}
        total += (int(floor.get("windows") or 0) + 1) * med["eval"]
    for rec in records:
        tokens = _f((rec.metrics or {}).get("eval_tokens")) if hasattr(rec, "metrics") else None
        for p in map(_row, rec.phases):
            if not isinstance(p.get("dense_energy_kwh_repeats"), list):
                continue
            mean = _f(p.get("energy_kwh"))
            if mean is None:
                continue
            if p["phase"] == "eval":
                per_token = mean / p["tokens"] if _f(p.get("tokens")) else None
                if tokens and per_token:
                    total += per_token * tokens
            # protocol v2 warms both sides once per workload; a window holds `inner_runs` runs of it
            total += 2 * mean / max(1, int(p.get("inner_runs") or 1))
    return total


def probe_kwh(manifest: dict) -> float | None:
    """Estimated: the forecast probe's wall time x the power it measured, summed over sessions."""
    total, found = 0.0, False
    for s in manifest.get("sessions") or []:
        cal = ((s.get("footprint") or {}).get("forecast") or {}).get("calibration") or {}
        probe_s, power = _f(cal.get("probe_s")), cal.get("power_w") or {}
        watts = [w for w in map(_f, power.values()) if w is not None]
        if probe_s is not None and watts:
            total += probe_s * sum(watts) / 3.6e6
            found = True
    return total if found else None


def split(rest_kwh: float | None, manifest: dict, records: list, windows: str = "measured") -> list[Part]:
    """The run total minus the phases, in four parts that add up to it (the last is the remainder). `windows` is
    what the meters' own windows are on this machine: 'measured', or 'estimated' (a CPU power model)."""
    if rest_kwh is None:
        return []
    paired = paired_extra_kwh(records)
    warm, probe = warm_kwh(manifest, records), probe_kwh(manifest)
    left = rest_kwh - paired - (warm or 0.0) - (probe or 0.0)
    return [
        Part(PAIRED, paired, windows, "summed from every row's repeats, less the one-window mean the phase counts"),
        Part(WARM, warm, "estimated", "unmeasured executions at the run's median window energy of the same workload"),
        Part(PROBE, probe, "estimated", "the probe's wall time x the power it measured"),
        Part(REST, left, "remainder", "the run total less everything above (start-up itself is estimated)"),
    ]


def phase_contended(p: dict[str, Any]) -> int:
    """Windows of one phase row measured while other processes used the machine: its `contended_windows` count
    (paired rows), else its own window's `contended` flag (a one-time phase), else its repeats' flags; 0 where the
    run did not record contention."""
    n = _f(p.get("contended_windows"))
    if n is not None:
        return int(n)
    if p.get("contended") is True:
        return 1
    return sum(bool(x) for k in ("contended_repeats", "dense_contended_repeats")
               for x in (p.get(k) if isinstance(p.get(k), (list, tuple)) else []))


def contended(records: list) -> tuple[int, int]:
    """(windows measured while other processes used the machine, measured windows in all: every paired window, one
    per other phase); 0 contended where the run did not record contention."""
    busy = total = 0
    for rec in records:
        for p in map(_row, rec.phases):
            a, b = p.get("energy_kwh_repeats"), p.get("dense_energy_kwh_repeats")
            total += len(a) + len(b) if isinstance(a, list) and isinstance(b, list) else 1
            busy += phase_contended(p)
    return busy, total
