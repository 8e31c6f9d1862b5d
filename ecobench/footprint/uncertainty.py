"""Carbon and water intervals: seeded Monte Carlo over the energy's own uncertainty and the site factors' ranges.

    carbon = E x PUE x CI          water = E x WUE + E x PUE x EWIF,  EWIF = sum over fuels of share x factor

(Site.footprint's formulas). Per draw: each present component's energy times a triangle (1 - r, 1, 1 + r) for its
source's band (data/site_factors.json `energy_bands`: meter accuracy for measured counters, +/-40% for codecarbon's
models), times a Student t draw of the repeat mean where paired windows give one; each factor from its range
(`factor_ranges`: triangular with the mode at the central value, log-uniform, or a point), each fuel's water factor
drawn independently and weighted by the mix's share. The interval is the 2.5th-97.5th percentile of N_DRAWS draws
with a fixed seed, so a row's interval is the same every time it is computed. Which component dominates the width
is found one at a time: the interval's width with only that component varying, the others at their central values.

Ratios to dense need none of this: both sides of a pair share the site and meters, so the factors cancel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecobench.footprint import grid
from ecobench.footprint.measurement import COMPONENTS
from ecobench.footprint.stats import LEVEL, t_quantile

N_DRAWS = 4000
SEED = 27
QUANTILES = (100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2)
METHOD = f"monte-carlo:{N_DRAWS} draws, seed {SEED}, {100 * LEVEL:.0f}% (percentiles)"
# what may dominate an interval's width, in words for tables and the statement
WORDS = {"energy": "the energy measurement", "pue": "the PUE", "carbon_intensity": "the carbon intensity",
         "wue": "the on-site water factor (WUE)", "ewif": "the off-site water factor (EWIF)", "none": "nothing"}
CARBON_PARTS = ("energy", "pue", "carbon_intensity")
WATER_PARTS = ("energy", "pue", "wue", "ewif")


def draw(r: Mapping[str, Any], rng: np.random.Generator, n: int) -> np.ndarray:
    """n draws of one factor's range (grid.factor_range)."""
    lo, c, hi, dist = float(r["low"]), float(r["central"]), float(r["high"]), r["dist"]
    lo, hi = min(lo, c), max(hi, c)
    if dist == "point" or lo == hi:
        return np.full(n, c)
    if dist == "triangular":
        return rng.triangular(lo, c, hi, n)
    if dist == "log-uniform":
        return np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    raise ValueError(f"unknown distribution {dist!r}")


def band(source: str | None) -> tuple[float, str]:
    """(r, key): the relative half-width of an energy source's own error and the band it came from."""
    bands = grid.site_factors()["energy_bands"]
    s = source or "other"
    for key in bands:
        if not key.startswith("_") and key not in ("estimated", "other") and s.startswith(key):
            return float(bands[key]["r"]), key
    key = "estimated" if s.startswith("estimated") else "other"
    return float(bands[key]["r"]), key


@dataclass(frozen=True)
class Energy:
    """What is known about one quantity of IT energy: per-component kWh with their sources, and the repeat interval
    (low, high, n) of its mean where paired windows measured it."""

    components: dict[str, float | None]
    sources: dict[str, str]
    repeat: tuple[float, float, int] | None = None  # the mean's t interval (low, high) over n repeats

    @property
    def total(self) -> float | None:
        present = [v for v in self.components.values() if v is not None]
        return sum(present) if present else None


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    dominant: str  # a key of WORDS
    widths: dict[str, float]  # the width with only that part varying


def _pct(x: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(x, QUANTILES)
    return float(lo), float(hi)


def _width(x: np.ndarray) -> float:
    lo, hi = _pct(x)
    return hi - lo


class Draws:
    """One set of draws for a site and a set of energy sources; quantities are evaluated on it."""

    def __init__(self, ranges: Mapping[str, Any], sources: Mapping[str, str], n: int = N_DRAWS, seed: int = SEED):
        rng = np.random.default_rng(seed)
        self.n = n
        # energy multipliers per component (drawn for every component, in a fixed order, so a component's draws do
        # not depend on which others are present) and the repeat-interval t draws
        self.mult = {c: rng.triangular(1 - band(sources.get(c))[0], 1, 1 + band(sources.get(c))[0], n)
                     if band(sources.get(c))[0] > 0 else np.ones(n) for c in COMPONENTS}
        # Student t with df degrees of freedom = z / sqrt(chi2_df / df), chi2 built from df normals (df <= 64; the
        # t of more repeats is a normal to within 1%)
        self.z, self.chi = rng.standard_normal(n), rng.standard_normal((n, 64))
        self.factors = {k: draw(ranges[k], rng, n) for k in ("pue", "carbon_intensity_g_per_kwh", "wue_l_per_kwh")}
        self.central = {k: float(ranges[k]["central"]) for k in
                        ("pue", "carbon_intensity_g_per_kwh", "wue_l_per_kwh", "ewif_l_per_kwh")}
        fuels = ranges.get("ewif_by_fuel")
        if fuels:
            ewif = np.zeros(n)
            for f in sorted(fuels):
                ewif += float(fuels[f]["share"]) * draw(fuels[f], rng, n)
            self.factors["ewif_l_per_kwh"] = ewif
        else:
            self.factors["ewif_l_per_kwh"] = draw(ranges["ewif_l_per_kwh"], rng, n)

    def _t(self, df: int) -> np.ndarray:
        k = min(df, self.chi.shape[1])
        return self.z / np.sqrt((self.chi[:, :k] ** 2).sum(axis=1) / k)

    def energy(self, e: Energy) -> np.ndarray | None:
        """Draws of E (kWh): each component times its band, times the repeat mean's t draw where there is one."""
        if e.total is None:
            return None
        out = np.zeros(self.n)
        for c in COMPONENTS:
            v = e.components.get(c)
            if v is not None:
                out += v * self.mult[c]
        if e.repeat is not None and e.total > 0:
            low, high, reps = e.repeat
            if reps >= 2 and high > low:
                se = (high - low) / 2 / t_quantile(0.5 + LEVEL / 2, reps - 1)
                out *= np.maximum(0.0, 1 + se * self._t(reps - 1) / e.total)
        return out

    def _parts(self, e: np.ndarray, varying: str | None) -> dict[str, np.ndarray | float]:
        """E and the factors, with only `varying` drawn (None: everything drawn)."""
        def pick(part: str, drawn: np.ndarray | float, central: float) -> np.ndarray | float:
            return drawn if varying is None or varying == part else central
        total = float(np.mean(e))
        return {
            "e": pick("energy", e, total),
            "pue": pick("pue", self.factors["pue"], self.central["pue"]),
            "ci": pick("carbon_intensity", self.factors["carbon_intensity_g_per_kwh"],
                       self.central["carbon_intensity_g_per_kwh"]),
            "wue": pick("wue", self.factors["wue_l_per_kwh"], self.central["wue_l_per_kwh"]),
            "ewif": pick("ewif", self.factors["ewif_l_per_kwh"], self.central["ewif_l_per_kwh"]),
        }

    def carbon(self, e: np.ndarray, varying: str | None = None) -> np.ndarray:
        p = self._parts(e, varying)
        return np.broadcast_to(p["e"] * p["pue"] * p["ci"], (self.n,))

    def water(self, e: np.ndarray, varying: str | None = None) -> np.ndarray:
        p = self._parts(e, varying)
        return np.broadcast_to(p["e"] * (p["wue"] + p["pue"] * p["ewif"]), (self.n,))

    def interval(self, e: Energy, quantity: str) -> Interval | None:
        """The interval of 'co2e_g' or 'water_l' for energy `e`, with what dominates its width."""
        x = self.energy(e)
        if x is None:
            return None
        kwh_to = self.carbon if quantity == "co2e_g" else self.water
        parts = CARBON_PARTS if quantity == "co2e_g" else WATER_PARTS
        lo, hi = _pct(kwh_to(x))
        widths = {p: _width(kwh_to(x, varying=p)) for p in parts}
        dominant = max(widths, key=lambda p: widths[p]) if max(widths.values()) > 0 else "none"
        return Interval(lo, hi, dominant, widths)


def energy_interval(e: Energy, sources: Mapping[str, str] | None = None, n: int = N_DRAWS,
                    seed: int = SEED) -> tuple[float, float] | None:
    """The measurement interval alone: percentiles of the energy draws (the same draws `Draws` makes)."""
    ranges = {k: grid.point(1.0, "unit") for k in
              ("pue", "carbon_intensity_g_per_kwh", "wue_l_per_kwh", "ewif_l_per_kwh")}
    x = Draws(ranges, sources or e.sources, n, seed).energy(e)
    return None if x is None else _pct(x)


def _energy_of(row: Mapping[str, Any], basis: str) -> Energy:
    sources = {c: row.get(f"source_{c}") or "none" for c in COMPONENTS}
    suffix = "_kwh" if basis == "gross" else "_above_idle_kwh"
    comps = {c: row.get(f"energy_{c}{suffix}") for c in COMPONENTS}
    total_key = "energy_kwh" if basis == "gross" else "energy_above_idle_kwh"
    if row.get(total_key) is None:
        comps = {c: None for c in COMPONENTS}
    repeat = None
    low, high, reps = row.get("energy_kwh_ci_low"), row.get("energy_kwh_ci_high"), row.get("repeats")
    if low is not None and high is not None and isinstance(reps, int) and reps >= 2:
        repeat = (float(low), float(high), reps)
        if basis != "gross" and row.get("energy_kwh"):  # the same relative spread on the above-idle part
            scale = (row.get(total_key) or 0.0) / row["energy_kwh"]
            repeat = (low * scale, high * scale, reps)
    return Energy(comps, sources, repeat)


def row_intervals(row: Mapping[str, Any], ranges: Mapping[str, Any]) -> dict[str, Any]:
    """The interval columns of one phase row (gross and above idle); {} when the site recorded no ranges."""
    if not ranges or "pue" not in ranges:
        return {}
    sources = {c: row.get(f"source_{c}") or "none" for c in COMPONENTS}
    d = Draws(ranges, sources)
    out: dict[str, Any] = {"footprint_interval_method": METHOD}
    for basis, co2e, water in (("gross", "co2e_g", "water_l"), ("above-idle", "co2e_above_idle_g", "water_above_idle_l")):
        e = _energy_of(row, basis)
        for q, col in (("co2e_g", co2e), ("water_l", water)):
            iv = d.interval(e, q)
            out[f"{col}_low"], out[f"{col}_high"] = (iv.low, iv.high) if iv else (None, None)
            if basis == "gross":
                out[f"{col}_dominant"] = iv.dominant if iv else None
    return out


def footprint_bounds(ranges: Mapping[str, Any], e_low: float, e_high: float) -> dict[str, tuple[float, float]]:
    """Carbon and water with the energy and every factor at the ends of their ranges (the forecast's range: a bound,
    not an interval; it contains the Monte Carlo interval of any energy between e_low and e_high)."""
    def end(key: str, i: int) -> float:
        r = ranges[key]
        return float(min(r["low"], r["central"]) if i == 0 else max(r["high"], r["central"]))

    out = {}
    for i, e in ((0, e_low), (1, e_high)):
        pue, ci, wue, ewif = (end(k, i) for k in
                              ("pue", "carbon_intensity_g_per_kwh", "wue_l_per_kwh", "ewif_l_per_kwh"))
        out.setdefault("co2e_g", []).append(e * pue * ci)
        out.setdefault("water_l", []).append(e * (wue + pue * ewif))
    return {q: (v[0], v[1]) for q, v in out.items()}
