"""Site factors: PUE, carbon intensity, on-site WUE and off-site EWIF, each with where it came from.

carbon (g)  = E_IT (kWh) x PUE x CI (g/kWh)
water (L)   = E_IT (kWh) x (WUE + PUE x EWIF)      -- Li et al. 2023, "Making AI Less Thirsty"

Carbon intensity comes from codecarbon's bundled data through codecarbon's own `Emissions` class
(country mix, or US state / Canadian province / Chinese province / Nordic zone), so ecobench and
codecarbon agree by construction. EWIF not given directly is the country's generation mix (also
codecarbon's data) times the per-fuel factors in data/site_factors.json.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from typing import Any

from ecobench.footprint.config import SiteConfig

log = logging.getLogger(__name__)

_REGIONAL_COUNTRIES = ("USA", "CAN", "CHN", "SWE", "NOR", "FIN")


@dataclass(frozen=True)
class Site:
    """The resolved factors one run uses; every row records them."""

    name: str
    country: str | None  # ISO alpha-3, None for a world average
    region: str | None
    pue: float
    carbon_intensity_g_per_kwh: float
    wue_l_per_kwh: float
    ewif_l_per_kwh: float
    carbon_intensity_source: str
    ewif_source: str
    pue_source: str
    wue_source: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@cache
def site_factors() -> dict[str, Any]:
    """The one data file with every non-codecarbon factor and its source."""
    text = resources.files("ecobench.footprint").joinpath("data/site_factors.json").read_text()
    return json.loads(text)


def preset_values(preset: str) -> dict[str, Any]:
    return {k: v for k, v in site_factors()["presets"][preset].items() if not k.startswith("_")}


@cache
def _energy_mix() -> dict[str, dict[str, Any]]:
    from codecarbon.input import DataSource

    return DataSource().get_global_energy_mix_data()


def known_countries() -> frozenset[str]:
    """ISO alpha-3 codes codecarbon has a generation mix for."""
    return frozenset(_energy_mix())


@cache
def known_regions(country: str) -> frozenset[str]:
    """Sub-national regions codecarbon's own emissions lookup understands (lower case)."""
    from codecarbon.core.emissions import _NORDIC_REGIONS_BY_COUNTRY
    from codecarbon.input import DataSource

    source = DataSource()
    country = country.upper()
    if country == "USA":
        return frozenset(k for k in source.get_country_emissions_data("usa") if not k.startswith("_"))
    if country == "CAN":
        return frozenset(k for k in source.get_country_energy_mix_data("can") if not k.startswith("_"))
    if country == "CHN":
        names: set[str] = set()
        for province in source.get_china_provincial_emissions_data()["data"].values():
            names.update(province["names"])
        return frozenset(names)
    return frozenset(r.lower() for r in _NORDIC_REGIONS_BY_COUNTRY.get(country, ()))


def carbon_intensity_g_per_kwh(country: str | None, region: str | None = None) -> tuple[float, str]:
    """Grid carbon intensity from codecarbon's bundled data, via codecarbon's own lookup."""
    from codecarbon.core.emissions import Emissions
    from codecarbon.core.units import Energy
    from codecarbon.external.geography import GeoMetadata
    from codecarbon.input import DataSource

    from ecobench.footprint.meters.estimate import quiet_codecarbon

    if country is None:
        value = float(DataSource().get_carbon_intensity_per_source_data()["world_average"])
        return value, "codecarbon:world_average"
    with quiet_codecarbon():
        kg = Emissions(DataSource()).get_private_infra_emissions(
            Energy.from_energy(kWh=1.0), GeoMetadata(country_iso_code=country, region=region)
        )
    where = f"{country}/{region.lower()}" if region else country
    return float(kg) * 1000.0, f"codecarbon:{where}"


def mix_ewif_l_per_kwh(mix: dict[str, Any]) -> float:
    """Generation-weighted mean of the per-fuel water factors for one codecarbon mix record."""
    factors = site_factors()
    per_fuel = factors["ewif_l_per_kwh_by_fuel"]
    total_twh = 0.0
    water = 0.0
    for key, fuel in factors["codecarbon_mix_fuel"].items():
        if key.startswith("_"):
            continue
        twh = float(mix.get(key) or 0.0)
        total_twh += twh
        water += twh * per_fuel[fuel]
    if total_twh <= 0:
        raise ValueError(f"no generation recorded for {mix.get('country_name', '?')}")
    return water / total_twh


def country_ewif_l_per_kwh(country: str | None) -> tuple[float, str]:
    """EWIF from codecarbon's 2023 generation mix; None means the sum over all its countries."""
    mixes = _energy_mix()
    if country is not None:
        return mix_ewif_l_per_kwh(mixes[country]), f"derived:codecarbon-mix:{country}"
    world: dict[str, float] = {}
    for mix in mixes.values():
        for key in site_factors()["codecarbon_mix_fuel"]:
            world[key] = world.get(key, 0.0) + float(mix.get(key) or 0.0)
    return mix_ewif_l_per_kwh(world), "derived:codecarbon-mix:all-countries"


def resolve_site(config: SiteConfig) -> Site:
    """Preset defaults, then the suite's own values; location-bound values follow the country."""
    preset = preset_values(config.preset)
    tag = f"preset:{config.preset}"
    country = config.country if config.country is not None else preset.get("country")
    moved = config.country is not None and config.country != preset.get("country")

    if config.carbon_intensity_g_per_kwh is not None:
        ci, ci_source = config.carbon_intensity_g_per_kwh, "given"
    elif preset.get("carbon_intensity_g_per_kwh") is not None and not moved and config.region is None:
        ci, ci_source = float(preset["carbon_intensity_g_per_kwh"]), tag
    else:
        ci, ci_source = carbon_intensity_g_per_kwh(country, config.region)

    if config.ewif_l_per_kwh is not None:
        ewif, ewif_source = config.ewif_l_per_kwh, "given"
    elif preset.get("ewif_l_per_kwh") is not None and not moved:
        ewif, ewif_source = float(preset["ewif_l_per_kwh"]), tag
    else:
        ewif, ewif_source = country_ewif_l_per_kwh(country)

    pue, pue_source = (config.pue, "given") if config.pue is not None else (float(preset["pue"]), tag)
    wue, wue_source = (
        (config.wue_l_per_kwh, "given")
        if config.wue_l_per_kwh is not None
        else (float(preset["wue_l_per_kwh"]), tag)
    )
    name = config.name or (
        config.preset if not moved and config.region is None else "/".join(filter(None, [country, config.region]))
    )
    return Site(
        name=name,
        country=country,
        region=config.region.lower() if config.region else None,
        pue=float(pue),
        carbon_intensity_g_per_kwh=float(ci),
        wue_l_per_kwh=float(wue),
        ewif_l_per_kwh=float(ewif),
        carbon_intensity_source=ci_source,
        ewif_source=ewif_source,
        pue_source=pue_source,
        wue_source=wue_source,
    )
