"""Site factors, and the one conversion from IT energy to facility energy, carbon and water.

facility (kWh) = E_IT x PUE
carbon (g)     = E_IT x PUE x CI (g/kWh)
water (L)      = E_IT x (WUE + PUE x EWIF)      -- Li et al. 2023, "Making AI Less Thirsty"

Carbon intensity comes from codecarbon's bundled data through codecarbon's own lookup (footprint/grid.py), so
ecobench and codecarbon agree by construction. EWIF not given directly is the site's generation mix (also
codecarbon's data) times the per-fuel factors in data/site_factors.json, under one stated convention for
hydropower's reservoir evaporation (`hydro_evaporation`), for presets and countries alike.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from ecobench.config.footprint import SiteConfig
from ecobench.footprint import grid

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SiteFootprint:
    """What a quantity of IT energy costs at a site; None throughout when the energy is unknown."""

    facility_kwh: float | None
    co2e_g: float | None
    water_onsite_l: float | None  # cooling at the data centre: E_IT x WUE
    water_offsite_l: float | None  # generating the electricity: E_IT x PUE x EWIF
    water_l: float | None


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
    ewif_convention: str = grid.CONVENTIONS["exclude"]  # mix:hydro-excluded | mix:hydro-included | given
    # low / central / high of each factor (grid.factor_range), and for a derived EWIF the mix's fuel shares with each
    # fuel's range: what footprint/uncertainty.py draws from. Empty in sites recorded before ranges existed.
    factor_ranges: dict[str, Any] = field(default_factory=dict)

    def footprint(self, energy_kwh: float | None) -> SiteFootprint:
        """Facility energy, carbon and water of `energy_kwh` of IT energy at this site."""
        if energy_kwh is None:
            return SiteFootprint(None, None, None, None, None)
        facility = energy_kwh * self.pue
        onsite = energy_kwh * self.wue_l_per_kwh
        offsite = facility * self.ewif_l_per_kwh
        return SiteFootprint(
            facility_kwh=facility,
            co2e_g=facility * self.carbon_intensity_g_per_kwh,
            water_onsite_l=onsite,
            water_offsite_l=offsite,
            water_l=energy_kwh * (self.wue_l_per_kwh + self.pue * self.ewif_l_per_kwh),
        )

    def describe_ewif(self) -> str:
        """One line: the off-site water factor, where it came from and under which convention."""
        return f"EWIF {self.ewif_l_per_kwh:.3g} L/kWh ({self.ewif_source}; convention {self.ewif_convention})"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_site(config: SiteConfig) -> Site:
    """Preset defaults, then the suite's own values; location-bound values follow the country."""
    preset = grid.preset_values(config.preset)
    tag = f"preset:{config.preset}"
    country = config.country if config.country is not None else preset.get("country")
    moved = config.country is not None and config.country != preset.get("country")

    if config.carbon_intensity_g_per_kwh is not None:
        ci, ci_source = config.carbon_intensity_g_per_kwh, "given"
    elif preset.get("carbon_intensity_g_per_kwh") is not None and not moved and config.region is None:
        ci, ci_source = float(preset["carbon_intensity_g_per_kwh"]), tag
    else:
        ci, ci_source = grid.carbon_intensity_g_per_kwh(country, config.region)

    if config.ewif_l_per_kwh is not None:
        ewif, ewif_source, convention = config.ewif_l_per_kwh, "given", grid.GIVEN
    else:
        ewif, ewif_source = grid.country_ewif_l_per_kwh(country, config.hydro_evaporation)
        convention = grid.CONVENTIONS[config.hydro_evaporation]

    pue, pue_source = (config.pue, "given") if config.pue is not None else (float(preset["pue"]), tag)
    wue, wue_source = (
        (config.wue_l_per_kwh, "given")
        if config.wue_l_per_kwh is not None
        else (float(preset["wue_l_per_kwh"]), tag)
    )
    ranges = _ranges(config, preset_name=config.preset, ci=(ci, ci_source), pue=(pue, pue_source),
                     wue=(wue, wue_source), ewif=(ewif, ewif_source), country=country)
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
        ewif_convention=convention,
        factor_ranges=ranges,
    )


def _ranges(config: SiteConfig, preset_name: str, country: str | None, **values: tuple[float, str]) -> dict[str, Any]:
    """Each factor's range: a preset's PUE and WUE ranges, the mix's per-fuel ranges for a derived EWIF, and a point
    for anything given or without a sourced range (carbon intensity: codecarbon ships one annual value)."""
    preset = grid.preset_ranges(preset_name)
    about = grid.site_factors()["factor_ranges"]
    out: dict[str, Any] = {}
    for key, name in (("pue", "pue"), ("wue", "wue_l_per_kwh")):
        value, source = values[key]
        r = preset.get(name)
        if source == "given" or r is None:
            out[name] = grid.point(value, source)
        else:
            out[name] = grid.factor_range(r["low"], value, r["high"], r["dist"], f"{source}:range")
    ci, ci_source = values["ci"]
    out["carbon_intensity_g_per_kwh"] = grid.point(ci, ci_source)
    ewif, ewif_source = values["ewif"]
    out["ewif_l_per_kwh"] = grid.point(ewif, ewif_source)
    if ewif_source != "given":
        fuels = grid.fuel_ranges(config.hydro_evaporation)
        out["ewif_by_fuel"] = {f: {**fuels[f], "share": share} for f, share in grid.mix_shares(country).items()}
        low, high = grid.country_ewif_range(country, config.hydro_evaporation)
        out["ewif_l_per_kwh"] = grid.factor_range(low, ewif, high, "mix", ewif_source)
    out["_carbon_intensity_note"] = about["carbon_intensity"]["_source"]
    return out
