"""Carbon and water intervals (footprint/uncertainty.py): properties over sites and energies, and the stored rows."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecobench.footprint import SiteConfig, grid, resolve_site
from ecobench.footprint.uncertainty import Draws, Energy, band, energy_interval, row_intervals

SITES = [SiteConfig(), SiteConfig(preset="us-average"), SiteConfig(preset="hyperscaler"), SiteConfig(country="FRA"),
         SiteConfig(country="NOR", hydro_evaporation="include"), SiteConfig(country="CHN", pue=1.3),
         SiteConfig(ewif_l_per_kwh=3.14)]
SOURCES = ["measured:nvml-counter", "measured:rapl", "estimated:codecarbon-cpu-process", "estimated:codecarbon-ram"]

energies = st.fixed_dictionaries({
    "gpu": st.one_of(st.none(), st.floats(1e-7, 10.0)),
    "cpu": st.floats(1e-7, 10.0),
    "ram": st.one_of(st.none(), st.floats(1e-8, 1.0)),
})
sources = st.fixed_dictionaries({c: st.sampled_from(SOURCES) for c in ("gpu", "cpu", "ram")})


def _energy(comps: dict, srcs: dict) -> Energy:
    return Energy(comps, {c: (srcs[c] if comps[c] is not None else "none") for c in comps})


def _points(ranges: dict) -> dict:
    """Every factor a point at its central value."""
    return {k: grid.point(v["central"], v["source"]) for k, v in ranges.items()
            if isinstance(v, dict) and "central" in v}


def _widen(ranges: dict, name: str, by: float) -> dict:
    """The same site with factor `name`'s range stretched out by `by` x its central value at each end (for a mix-derived
    EWIF: every fuel's range, each keeping its distribution; a log-uniform one is stretched by a factor 1 + by)."""
    def stretch(r: dict) -> dict:
        r = dict(r)
        if r["dist"] == "log-uniform":
            r["low"], r["high"] = r["low"] / (1 + by), r["high"] * (1 + by)
            return r
        r["low"], r["high"] = max(0.0, r["low"] - by * r["central"]), r["high"] + by * r["central"]
        if r["dist"] == "point" and r["high"] > r["low"]:
            r["dist"] = "triangular"
        return r

    if name == "ewif_l_per_kwh" and "ewif_by_fuel" in ranges:
        return {**ranges, "ewif_by_fuel": {f: stretch(r) for f, r in ranges["ewif_by_fuel"].items()}}
    return {**ranges, name: stretch(ranges[name])}


@settings(max_examples=40, deadline=None, derandomize=True)
@given(site=st.sampled_from(SITES), comps=energies, srcs=sources)
def test_the_interval_contains_the_point_value(site, comps, srcs):
    s = resolve_site(site)
    e = _energy(comps, srcs)
    point = s.footprint(e.total)
    d = Draws(s.factor_ranges, e.sources)
    carbon, water = d.interval(e, "co2e_g"), d.interval(e, "water_l")
    assert carbon.low <= point.co2e_g <= carbon.high
    assert water.low <= point.water_l <= water.high


@settings(max_examples=100, deadline=None, derandomize=True)
@given(site=st.sampled_from(SITES), comps=energies, srcs=sources, by=st.floats(0.3, 2.0),
       factor=st.sampled_from(["pue", "carbon_intensity_g_per_kwh", "wue_l_per_kwh", "ewif_l_per_kwh"]))
def test_the_interval_widens_when_a_factor_range_widens(site, comps, srcs, by, factor):
    s = resolve_site(site)
    e = _energy(comps, srcs)
    narrow, wide = Draws(s.factor_ranges, e.sources), Draws(_widen(s.factor_ranges, factor, by), e.sources)
    quantities = ["water_l"] if factor in ("wue_l_per_kwh", "ewif_l_per_kwh") else ["co2e_g", "water_l"]
    if factor == "carbon_intensity_g_per_kwh":
        quantities = ["co2e_g"]
    part = {"pue": "pue", "carbon_intensity_g_per_kwh": "carbon_intensity", "wue_l_per_kwh": "wue",
            "ewif_l_per_kwh": "ewif"}[factor]
    for q in quantities:
        a, b = narrow.interval(e, q), wide.interval(e, q)
        # never narrower (to within the draws' own noise: a small term added to a very skewed one can move the
        # percentiles by a hair), and strictly wider wherever the widened factor matters to the interval
        assert b.high - b.low >= 0.99 * (a.high - a.low), (q, a, b)
        if b.widths[part] >= 0.25 * max(b.widths.values()):
            assert b.high - b.low > a.high - a.low, (q, a, b)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(site=st.sampled_from(SITES), comps=energies, srcs=sources)
def test_with_every_factor_a_point_the_interval_is_the_measurement_interval(site, comps, srcs):
    s = resolve_site(site)
    e = _energy(comps, srcs)
    ranges = _points(s.factor_ranges)
    lo, hi = energy_interval(e)
    d = Draws(ranges, e.sources)
    carbon, water = d.interval(e, "co2e_g"), d.interval(e, "water_l")
    k_co2 = s.pue * s.carbon_intensity_g_per_kwh
    k_water = s.wue_l_per_kwh + s.pue * s.ewif_l_per_kwh
    assert (carbon.low, carbon.high) == pytest.approx((lo * k_co2, hi * k_co2), rel=1e-9)
    assert (water.low, water.high) == pytest.approx((lo * k_water, hi * k_water), rel=1e-9)
    assert carbon.dominant == water.dominant == "energy"


def test_bands_by_source():
    assert band("measured:nvml-counter") == (0.05, "measured:nvml")
    assert band("measured:rapl") == (0.05, "measured:rapl")
    assert band("estimated:codecarbon-cpu-load") == (0.4, "estimated")
    assert band("estimated:startup-extrapolated") == (0.4, "estimated")
    assert band("something-new")[1] == "other"


def test_a_measured_energy_is_narrower_than_an_estimated_one():
    s = resolve_site(SiteConfig(ewif_l_per_kwh=1.0, pue=1.2, wue_l_per_kwh=0.5))  # every factor given: points
    measured = Energy({"gpu": 1.0, "cpu": None, "ram": None}, {"gpu": "measured:nvml-counter"})
    estimated = Energy({"gpu": None, "cpu": 1.0, "ram": None}, {"cpu": "estimated:codecarbon-cpu-load"})
    d_m, d_e = Draws(s.factor_ranges, measured.sources), Draws(s.factor_ranges, estimated.sources)
    a, b = d_m.interval(measured, "co2e_g"), d_e.interval(estimated, "co2e_g")
    assert (b.high - b.low) / (a.high - a.low) == pytest.approx(8, rel=0.15)  # 40% vs 5%, the same triangle


def test_the_off_site_factor_dominates_water_where_its_range_is_widest():
    s = resolve_site(SiteConfig(country="NOR", hydro_evaporation="include", pue=1.1, wue_l_per_kwh=0.2))
    e = Energy({"gpu": 1.0, "cpu": None, "ram": None}, {"gpu": "measured:nvml-counter"})
    iv = Draws(s.factor_ranges, e.sources).interval(e, "water_l")
    assert iv.dominant == "ewif" and iv.widths["ewif"] > 10 * iv.widths["energy"]


def test_row_intervals_are_seeded_and_absent_without_ranges():
    s = resolve_site(SiteConfig())
    row = {"energy_kwh": 2e-4, "energy_cpu_kwh": 2e-4, "source_cpu": "estimated:codecarbon-cpu-process",
           "energy_above_idle_kwh": None, "repeats": 3, "energy_kwh_ci_low": 1.5e-4, "energy_kwh_ci_high": 2.5e-4}
    a, b = row_intervals(row, s.factor_ranges), row_intervals(row, s.factor_ranges)
    assert a == b and a["co2e_g_low"] < s.footprint(2e-4).co2e_g < a["co2e_g_high"]
    assert a["co2e_above_idle_g_low"] is None and a["co2e_g_dominant"] in ("energy", "pue")
    no_repeats = row_intervals({**row, "repeats": None}, s.factor_ranges)
    assert no_repeats["co2e_g_high"] - no_repeats["co2e_g_low"] < a["co2e_g_high"] - a["co2e_g_low"]
    assert row_intervals(row, {}) == {}  # a site recorded before ranges existed: no interval columns


@settings(max_examples=30, deadline=None, derandomize=True)
@given(site=st.sampled_from(SITES), comps=energies, srcs=sources)
def test_the_forecast_bounds_contain_the_monte_carlo_interval(site, comps, srcs):
    from ecobench.footprint.uncertainty import footprint_bounds

    s = resolve_site(site)
    e = _energy(comps, srcs)
    lo, hi = energy_interval(e)
    ends = footprint_bounds(s.factor_ranges, lo, hi)
    d = Draws(s.factor_ranges, e.sources)
    for q in ("co2e_g", "water_l"):
        iv = d.interval(e, q)
        assert ends[q][0] <= iv.low * (1 + 1e-9) and iv.high <= ends[q][1] * (1 + 1e-9), q
