"""Grid data by place: the data file's factors and presets, codecarbon's countries, regions, carbon intensity and
generation mix, and the off-site water factor (EWIF) a mix implies under a hydropower convention.

Both the suite's validators (config/footprint.py, handed this module by the footprint package) and the site
resolution (footprint/site.py) read this module; neither imports the other.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from ecobench.config.footprint import HydroEvaporation
from ecobench.footprint import codecarbon_adapter as cc

# What a row's `ewif_convention` says: derived from the mix with or without reservoir evaporation, or given.
CONVENTIONS = {"exclude": "mix:hydro-excluded", "include": "mix:hydro-included"}
GIVEN = "given"


@cache
def site_factors() -> dict[str, Any]:
    """The one data file with every non-codecarbon factor and its source."""
    text = resources.files("ecobench.footprint").joinpath("data/site_factors.json").read_text()
    return json.loads(text)


def preset_values(preset: str) -> dict[str, Any]:
    return {k: v for k, v in site_factors()["presets"][preset].items() if not k.startswith("_")}


def known_countries() -> frozenset[str]:
    """ISO alpha-3 codes codecarbon has a generation mix for."""
    return frozenset(cc.energy_mix())


def known_regions(country: str) -> frozenset[str]:
    """Sub-national regions codecarbon's own emissions lookup understands (lower case)."""
    return cc.regions(country.upper())


def carbon_intensity_g_per_kwh(country: str | None, region: str | None = None) -> tuple[float, str]:
    """Grid carbon intensity from codecarbon's bundled data, via codecarbon's own lookup."""
    if country is None:
        return cc.world_carbon_intensity_g_per_kwh(), "codecarbon:world_average"
    where = f"{country}/{region.lower()}" if region else country
    return cc.grid_g_per_kwh(country, region), f"codecarbon:{where}"


def fuel_factors(hydro_evaporation: HydroEvaporation = "exclude") -> dict[str, float]:
    """L/kWh generated per fuel; hydro is reservoir evaporation under `include`, 0 under `exclude`."""
    data = site_factors()
    per_fuel = {k: float(v) for k, v in data["ewif_l_per_kwh_by_fuel"].items() if not k.startswith("_")}
    if hydro_evaporation == "include":
        per_fuel["hydro"] = float(data["hydro_evaporation"]["l_per_kwh"])
    return per_fuel


def mix_ewif_l_per_kwh(mix: dict[str, Any], hydro_evaporation: HydroEvaporation = "exclude") -> float:
    """Generation-weighted mean of the per-fuel water factors for one codecarbon mix record."""
    per_fuel = fuel_factors(hydro_evaporation)
    total_twh = water = 0.0
    for key, fuel in site_factors()["codecarbon_mix_fuel"].items():
        if key.startswith("_"):
            continue
        twh = float(mix.get(key) or 0.0)
        total_twh += twh
        water += twh * per_fuel[fuel]
    if total_twh <= 0:
        raise ValueError(f"no generation recorded for {mix.get('country_name', '?')}")
    return water / total_twh


def country_ewif_l_per_kwh(country: str | None, hydro_evaporation: HydroEvaporation = "exclude") -> tuple[float, str]:
    """EWIF from codecarbon's 2023 generation mix; None means the sum over all its countries."""
    mixes = cc.energy_mix()
    if country is not None:
        return mix_ewif_l_per_kwh(mixes[country], hydro_evaporation), f"derived:codecarbon-mix:{country}"
    world: dict[str, float] = {}
    for mix in mixes.values():
        for key in site_factors()["codecarbon_mix_fuel"]:
            world[key] = world.get(key, 0.0) + float(mix.get(key) or 0.0)
    return mix_ewif_l_per_kwh(world, hydro_evaporation), "derived:codecarbon-mix:all-countries"


# -- ranges (footprint/uncertainty.py draws from them) ---------------------------------------------------------------


def factor_range(low: float, central: float, high: float, dist: str, source: str) -> dict[str, Any]:
    """One factor's range as every row and manifest stores it (plain JSON)."""
    return {"low": float(low), "central": float(central), "high": float(high), "dist": dist, "source": source}


def point(value: float, source: str) -> dict[str, Any]:
    return factor_range(value, value, value, "point", source)


def fuel_ranges(hydro_evaporation: HydroEvaporation = "exclude") -> dict[str, dict[str, Any]]:
    """Per fuel, L/kWh generated: low / central / high and the distribution (Macknick et al. 2012 bounds)."""
    data = site_factors()["factor_ranges"]
    central = fuel_factors(hydro_evaporation)
    out = {}
    for fuel, r in data["ewif_l_per_kwh_by_fuel"].items():
        if not fuel.startswith("_"):
            out[fuel] = factor_range(r["low"], central[fuel], r["high"], r["dist"], "macknick-2012:" + fuel)
    if hydro_evaporation == "include":
        h = data["hydro_evaporation"]
        out["hydro"] = factor_range(h["low"], central["hydro"], h["high"], h["dist"], "macknick-2012:hydro-in-stream")
    return out


def _mix_of(country: str | None) -> dict[str, float]:
    mixes = cc.energy_mix()
    if country is not None:
        return {k: float(mixes[country].get(k) or 0.0) for k in site_factors()["codecarbon_mix_fuel"]}
    world: dict[str, float] = {}
    for mix in mixes.values():
        for key in site_factors()["codecarbon_mix_fuel"]:
            world[key] = world.get(key, 0.0) + float(mix.get(key) or 0.0)
    return world


def mix_shares(country: str | None) -> dict[str, float]:
    """Each fuel's share of generation in codecarbon's mix (None: the sum over its countries); shares sum to 1."""
    by_key = {k: v for k, v in _mix_of(country).items() if not k.startswith("_")}
    total = sum(by_key.values())
    shares: dict[str, float] = {}
    for key, twh in by_key.items():
        fuel = site_factors()["codecarbon_mix_fuel"][key]
        shares[fuel] = shares.get(fuel, 0.0) + twh / total
    return shares


def country_ewif_range(country: str | None, hydro_evaporation: HydroEvaporation = "exclude") -> tuple[float, float]:
    """EWIF with every fuel at its low bound, and at its high bound (the range the README's table prints)."""
    shares, ranges = mix_shares(country), fuel_ranges(hydro_evaporation)
    return (sum(s * ranges[f]["low"] for f, s in shares.items()),
            sum(s * ranges[f]["high"] for f, s in shares.items()))


def preset_ranges(preset: str) -> dict[str, Any]:
    return site_factors()["factor_ranges"]["presets"][preset]
