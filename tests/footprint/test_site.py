"""Site factors: presets, overrides, codecarbon's carbon intensity, EWIF from the generation mix."""

from __future__ import annotations

import pytest

from ecobench.footprint import SiteConfig, resolve_site
from ecobench.footprint.grid import country_ewif_l_per_kwh, mix_ewif_l_per_kwh, site_factors


def test_us_average_preset_is_li_et_al_facility_on_the_derived_us_grid():
    site = resolve_site(SiteConfig(preset="us-average"))
    assert (site.pue, site.wue_l_per_kwh) == (1.17, 0.55)
    # one convention for presets and countries: the preset's EWIF is the U.S. mix's, not a literature value
    assert (site.ewif_l_per_kwh, site.ewif_source) == country_ewif_l_per_kwh("USA")
    assert site.ewif_convention == "mix:hydro-excluded"
    assert site.country == "USA" and site.carbon_intensity_source == "codecarbon:USA"
    assert site.carbon_intensity_g_per_kwh == pytest.approx(369.473)  # codecarbon's bundled 2023 value


def test_world_average_is_the_default():
    site = resolve_site(SiteConfig())
    assert site.name == "world-average" and site.pue == 1.56
    assert site.carbon_intensity_g_per_kwh == 475.0
    assert site.ewif_source == "derived:codecarbon-mix:all-countries"
    assert 0.5 < site.ewif_l_per_kwh < 2.5


def test_given_values_win_over_the_preset():
    site = resolve_site(
        SiteConfig(preset="hyperscaler", pue=1.3, carbon_intensity_g_per_kwh=100.0, ewif_l_per_kwh=2.0)
    )
    assert (site.pue, site.carbon_intensity_g_per_kwh, site.ewif_l_per_kwh) == (1.3, 100.0, 2.0)
    assert site.wue_l_per_kwh == 0.18 and site.wue_source == "preset:hyperscaler"
    assert site.carbon_intensity_source == site.ewif_source == site.pue_source == "given"


def test_another_country_drops_the_presets_location_values():
    site = resolve_site(SiteConfig(preset="us-average", country="FRA"))
    assert site.pue == 1.17  # facility value kept
    assert site.carbon_intensity_g_per_kwh == pytest.approx(56.039)  # France's grid, not the US one
    assert site.ewif_source == "derived:codecarbon-mix:FRA"
    assert site.name == "FRA"


def test_region_uses_codecarbon_regional_data():
    site = resolve_site(SiteConfig(preset="us-average", region="California"))
    assert site.carbon_intensity_source == "codecarbon:USA/california"
    assert site.carbon_intensity_g_per_kwh < 369.473  # California's grid is cleaner than the US mean


def test_ewif_is_the_generation_weighted_fuel_mean():
    fuel = site_factors()["ewif_l_per_kwh_by_fuel"]
    mix = {"coal_TWh": 1.0, "gas_TWh": 1.0, "wind_TWh": 2.0, "nuclear_TWh": 0.0, "country_name": "X"}
    assert mix_ewif_l_per_kwh(mix) == pytest.approx((fuel["coal"] + fuel["gas"]) / 4)
    assert fuel["coal"] == pytest.approx(450 * 3.785412 / 1000)  # 450 gal/MWh, Macknick et al. 2012


def test_us_mix_ewif_is_lower_than_the_papers_figure():
    # The per-fuel table counts no hydro evaporation by default; 3.14 L/kWh is the paper's own figure.
    value, source = country_ewif_l_per_kwh("USA")
    assert 1.0 < value < 1.5 and source == "derived:codecarbon-mix:USA"
    assert site_factors()["literature_ewif_l_per_kwh"]["li-et-al-2023-us"]["l_per_kwh"] == 3.14


def test_hydro_evaporation_is_macknick_median_on_the_hydro_share():
    data = site_factors()["hydro_evaporation"]
    assert data["median_gal_per_mwh"] == 4491
    assert data["l_per_kwh"] == pytest.approx(4491 * 3.785412 / 1000)
    mix = {"hydroelectricity_TWh": 1.0, "coal_TWh": 1.0, "country_name": "X"}
    fuel = site_factors()["ewif_l_per_kwh_by_fuel"]
    assert mix_ewif_l_per_kwh(mix, "exclude") == pytest.approx(fuel["coal"] / 2)
    assert mix_ewif_l_per_kwh(mix, "include") == pytest.approx((fuel["coal"] + data["l_per_kwh"]) / 2)
    site = resolve_site(SiteConfig(country="NOR", hydro_evaporation="include"))
    assert site.ewif_convention == "mix:hydro-included" and site.ewif_l_per_kwh > 10  # Norway: ~90 % hydro
    given = resolve_site(SiteConfig(country="NOR", hydro_evaporation="include", ewif_l_per_kwh=3.14))
    assert (given.ewif_l_per_kwh, given.ewif_convention) == (3.14, "given")


def test_readme_ewif_table_matches_the_data_file():
    """Each cell is `central (low–high)`: the mix's EWIF with every fuel at its central, low and high factor."""
    import re
    from pathlib import Path

    from ecobench.footprint.grid import country_ewif_range

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    rows = {line.split("|")[1].strip(): line.split("|")[2:4] for line in readme.splitlines()
            if line.startswith("| ") and "L/kWh" not in line and line.count("|") == 5}
    cell = re.compile(r"^\s*([0-9.]+) \(([0-9.]+)–([0-9.]+)\)\s*$")
    for name, country in (("USA", "USA"), ("FRA", "FRA"), ("NOR", "NOR"), ("CHN", "CHN"), ("world", None)):
        for text, convention in zip(rows[name], ("exclude", "include"), strict=True):
            m = cell.match(text)
            assert m, (name, text)
            central, low, high = (float(v) for v in m.groups())
            assert central == round(country_ewif_l_per_kwh(country, convention)[0], 2), name
            assert (low, high) == tuple(round(v, 2) for v in country_ewif_range(country, convention)), name
            assert low <= central <= high
    assert float(rows["U.S., Li et al."][0]) == site_factors()["literature_ewif_l_per_kwh"]["li-et-al-2023-us"]["l_per_kwh"]


def test_every_fuel_and_preset_has_a_range_around_its_central_value():
    from ecobench.footprint.grid import fuel_ranges

    for convention in ("exclude", "include"):
        for fuel, r in fuel_ranges(convention).items():
            assert r["low"] <= r["central"] <= r["high"], fuel
    hydro = fuel_ranges("include")["hydro"]
    assert (hydro["low"], hydro["high"]) == pytest.approx((1425 * 3.785412e-3, 18000 * 3.785412e-3))
    assert hydro["dist"] == "log-uniform"
    for preset in ("us-average", "hyperscaler", "world-average"):
        site = resolve_site(SiteConfig(preset=preset))
        for key in ("pue", "wue_l_per_kwh"):
            r = site.factor_ranges[key]
            assert r["low"] < r["central"] < r["high"] and r["dist"] == "triangular", (preset, key)
        assert site.factor_ranges["carbon_intensity_g_per_kwh"]["dist"] == "point"  # no sourced range bundled
    given = resolve_site(SiteConfig(pue=1.3, ewif_l_per_kwh=2.0))
    assert given.factor_ranges["pue"]["dist"] == given.factor_ranges["ewif_l_per_kwh"]["dist"] == "point"
    assert "ewif_by_fuel" not in given.factor_ranges
