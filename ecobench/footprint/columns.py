"""The flat row columns of one phase: energy per component (None when absent), carbon, water, provenance, site.

Carbon and water are the site's conversion (`Site.footprint`) of the gross IT energy, and again of the energy
above idle; a component with no value is None in its column and is left out of the totals, never counted as 0.
"""

from __future__ import annotations

from typing import Any

from ecobench.footprint.measurement import COMPONENTS, Measurement, kwh
from ecobench.footprint.site import Site


def row_columns(m: Measurement, site: Site) -> dict[str, Any]:
    energy_kwh = kwh(m.energy_j)
    above_kwh = kwh(m.above_idle_j())
    gross, above = site.footprint(energy_kwh), site.footprint(above_kwh)
    row: dict[str, Any] = {"wall_s": m.wall_s, "cpu_process_s": m.cpu_process_s, "energy_kwh": energy_kwh}
    row |= {f"energy_{c}_kwh": kwh(m.components[c].energy_j) for c in COMPONENTS}
    row["energy_above_idle_kwh"] = above_kwh
    row |= {f"energy_{c}_above_idle_kwh": kwh(m.above_idle_j(c)) for c in COMPONENTS}
    row |= {
        "energy_facility_kwh": gross.facility_kwh,
        "co2e_g": gross.co2e_g,
        "water_onsite_l": gross.water_onsite_l,
        "water_offsite_l": gross.water_offsite_l,
        "water_l": gross.water_l,
        "co2e_above_idle_g": above.co2e_g,
        "water_above_idle_l": above.water_l,
    }
    row |= {f"source_{c}": m.components[c].source for c in COMPONENTS}
    row |= {f"reason_{c}": m.components[c].reason for c in COMPONENTS}
    row |= {
        "energy_provenance": m.provenance,
        "cpu_attribution": m.components["cpu"].attribution,
        "ram_attribution": m.components["ram"].attribution,
        "other_cpu_s": m.other_cpu_s,
        "other_cpu_share": m.other_cpu_share,
        "other_cpu_span_s": m.other_cpu_span_s,
        "other_gpu_processes": m.other_gpu_processes,
        "contended": m.contended,
        "site_name": site.name,
        "site_country": site.country,
        "site_region": site.region,
        "pue": site.pue,
        "carbon_intensity_g_per_kwh": site.carbon_intensity_g_per_kwh,
        "carbon_intensity_source": site.carbon_intensity_source,
        "wue_l_per_kwh": site.wue_l_per_kwh,
        "ewif_l_per_kwh": site.ewif_l_per_kwh,
        "ewif_source": site.ewif_source,
        "ewif_convention": site.ewif_convention,
    }
    return row
