"""Carbon and water shown with their intervals: the text of a range, the run total's interval, embodied carbon.

A range is printed in one unit with at most two significant figures when it is wide (its width over a third of
the value), three otherwise: "0.40–1.9 mL". A row or run written before intervals existed has no range; it is
printed as its point value followed by "(interval absent)", never with an invented one.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ecobench.footprint.embodied import Hardware
from ecobench.footprint.measurement import COMPONENTS
from ecobench.footprint.uncertainty import WORDS, Draws, Energy
from ecobench.report.units import MISSING, pick_unit, with_unit

ABSENT = "interval absent"
NOTE = ("carbon and water [low–high]: 95% Monte Carlo interval over the energy's own error and the site factors' "
        "ranges (`ecobench doctor SUITE` lists them; 'no interval': rows written before intervals); two significant "
        "figures when wide; ×dense needs none, the factors cancel in a ratio; embodied carbon (the hardware's "
        "manufacture, amortised) is its own column, never inside 'carbon'")
WIDE = 1 / 3  # a range wider than this share of its value is printed to two significant figures


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def digits(point: float | None, low: float | None, high: float | None) -> int:
    """Significant figures a value with this interval deserves: 2 when it is wide, else 3."""
    if not (_num(point) and _num(low) and _num(high)) or not point:
        return 2
    return 2 if (high - low) / abs(point) > WIDE else 3


def sig(x: float, d: int) -> str:
    """x rounded to d significant figures: 266 -> '270', 0.396 -> '0.4' (d = 2)."""
    if x == 0:
        return "0"
    r = round(x, d - 1 - int(math.floor(math.log10(abs(x)))))
    return f"{r:,.0f}" if abs(r) >= 10 ** (d - 1) else f"{r:.{d}g}"


def range_text(low: float | None, high: float | None, qty: str, point: float | None = None) -> str:
    """'0.4–1.9 mL' in the unit of the point (else of the high end); '–' when either end is missing."""
    if not (_num(low) and _num(high)):
        return MISSING
    unit, factor = pick_unit([point if _num(point) and point else high], qty)
    d = digits(point if point is not None else (low + high) / 2, low, high)
    return f"{sig(low * factor, d)}–{sig(high * factor, d)} {unit}"


def value_with_range(point: float | None, low: float | None, high: float | None, qty: str) -> str:
    """'0.82 mL (0.40–1.9 mL)'; the point alone with '(interval absent)' for rows without one."""
    if not _num(point):
        return MISSING
    if not (_num(low) and _num(high)):
        return f"{with_unit(point, qty)} ({ABSENT})"
    unit, factor = pick_unit([point], qty)
    return f"{sig(point * factor, digits(point, low, high))} {unit} ({range_text(low, high, qty, point)})"


def dominated(key: str | None) -> str:
    """', dominated by the off-site water factor (EWIF)' (empty when unknown)."""
    return f", dominated by {WORDS[key]}" if key in WORDS and key != "none" else ""


def run_intervals(site: dict[str, Any], totals: dict[str, Any], sources: dict[str, str]) -> dict[str, Any] | None:
    """The run total's carbon and water intervals from the manifest's site ranges and the totals per component;
    None when the folder predates ranges. Sources joined over sessions ('a+b') take the first one's band."""
    ranges = site.get("factor_ranges") or {}
    if "pue" not in ranges:
        return None
    src = {c: (sources.get(c) or "none").split("+")[0] for c in COMPONENTS}
    e = Energy({c: totals.get(f"energy_{c}_kwh") for c in COMPONENTS}, src)
    d = Draws(ranges, src)
    out = {}
    for q in ("co2e_g", "water_l"):
        iv = d.interval(e, q)
        out[q] = None if iv is None else {"low": iv.low, "high": iv.high, "dominant": iv.dominant}
    return out


def run_machine_s(hw: dict[str, Any], sessions: list[dict[str, Any]]) -> float | None:
    """Machine-seconds of the embodied archetype the run used, from its sessions' records (wall or CPU seconds)."""
    total = 0.0
    for s in sessions:
        fp = s.get("footprint")
        if not isinstance(fp, dict):
            return None
        if hw["gpus_used"]:
            total += fp["wall_s"] * hw["gpus_used"] / hw["server_gpus"]
        else:
            total += (fp["window"]["cpu_process_s"] + fp["startup"]["cpu_s"]) / hw["server_threads"]
    return total if sessions else None


def run_embodied_g(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The run's embodied carbon (g, low, high) and its source; None when the manifest records no hardware."""
    hw = (manifest.get("footprint") or {}).get("embodied")
    if not isinstance(hw, dict):
        return None
    machine_s = run_machine_s(hw, manifest.get("sessions") or [])
    if machine_s is None:
        return None
    cols = Hardware(**hw).columns(wall_s=None, cpu_process_s=None)  # validates the record's fields
    per = 1000.0 * machine_s / hw["lifetime_s"]
    return {"g": hw["kg"] * per, "low": hw["kg_low"] * per, "high": hw["kg_high"] * per, "machine_s": machine_s,
            "source": hw["source"], "kg": hw["kg"], "lifetime_s": hw["lifetime_s"],
            "water": cols["embodied_water_source"]}


# -- compare's cell totals ------------------------------------------------------------------------------------------

ROW_COLS = {"gross": {"co2e_g": "co2e_g", "water_l": "water_l"},
            "above-idle": {"co2e_g": "co2e_above_idle_g", "water_l": "water_above_idle_l"}}
CELL_RANGE_COLS = (*(f"cell_{q}_{b}" for q in ("co2e_g", "water_l") for b in ("low", "high")),
                   "cell_embodied_co2e_g", "cell_embodied_co2e_g_low", "cell_embodied_co2e_g_high")


def _known_sum(rows: pd.DataFrame, col: str) -> float:
    if col not in rows.columns or rows.empty:
        return math.nan
    v = pd.to_numeric(rows[col], errors="coerce")
    return float(v.sum()) if v.notna().all() else math.nan


def cell_ranges(g: pd.DataFrame, phases: list[str], energy: str = "gross") -> dict[str, float]:
    """A cell's carbon and water bounds over its own phases (the rows' bounds added: the factors are the same site's
    in every row, so this is the interval of the sum, a little wide where the rows' energy errors are independent)
    and its embodied carbon with its range; NaN where any row lacks them (rows written before intervals)."""
    rows = g[g["phase"].isin(phases)]
    out = {}
    for q, col in ROW_COLS[energy].items():
        for b in ("low", "high"):
            out[f"cell_{q}_{b}"] = _known_sum(rows, f"{col}_{b}")
    for suffix in ("", "_low", "_high"):
        out[f"cell_embodied_co2e_g{suffix}"] = _known_sum(rows, f"embodied_co2e_g{suffix}")
    return out


def cell_text(r: pd.Series, key: str, factor: float) -> str:
    """A table cell: '0.19 [0.13–0.27]' in the column's unit (two significant figures when wide); the point and
    'no interval' for rows written before intervals existed."""
    point, low, high = r.get(key), r.get(f"{key}_low"), r.get(f"{key}_high")
    if not _num(point):
        return MISSING
    if not (_num(low) and _num(high)):
        return f"{sig(point * factor, 3)} (no interval)"
    d = digits(point, low, high)
    return f"{sig(point * factor, d)} [{sig(low * factor, d)}–{sig(high * factor, d)}]"


def embodied_specs(unit: str, tag: str) -> list[tuple[str, Any, Any]]:
    """compare's embodied columns as (header, value in g, text at a unit factor): embodied carbon on its own, then
    operational + embodied; never folded into the carbon column."""
    def both(r: pd.Series) -> float:
        return r["cell_co2e_g"] + r["cell_embodied_co2e_g"]

    return [(f"cell embodied ({unit})", lambda r: r["cell_embodied_co2e_g"],
             lambda r, f: cell_text(r, "cell_embodied_co2e_g", f)),
            (f"cell carbon + embodied ({unit}{tag})", both, lambda r, f: sig(both(r) * f, 3) if _num(both(r)) else MISSING)]
