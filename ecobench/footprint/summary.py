"""The one line a run prints at its start: what is measured, what is estimated, what is absent, and the site."""

from __future__ import annotations

from ecobench.config.footprint import FootprintConfig
from ecobench.footprint.meters.base import NONE
from ecobench.footprint.probe import Meters
from ecobench.footprint.site import Site


def summary_line(meters: Meters, config: FootprintConfig, site: Site) -> str:
    parts = []
    devices = meters.gpu_devices
    if devices:
        how = "NVML energy counter" if meters.gpu_counter else "NVML power sampling"
        if meters.gpu_counter and len(meters.gpu_counter) < len(devices):
            how = "NVML energy counter where supported, else power sampling"
        parts.append(f"GPU measured ({how}, {len(devices)} device(s))")
    else:
        parts.append(f"GPU none ({meters.notes.get('gpu', 'not probed')})")
    cpu = meters.source("cpu")
    if cpu == NONE:
        parts.append(f"CPU none ({meters.notes.get('cpu', 'not probed')})")
    elif cpu.startswith("measured:"):
        parts.append(f"CPU measured (RAPL, {len(meters.cpu)} package(s))")
    else:
        model = {"cpu-load": "load model", "cpu-process": "process-share model"}.get(cpu.split("codecarbon-")[-1],
                                                                                     "TDP x 50 %")
        parts.append(f"CPU ESTIMATED (codecarbon {model}: {meters.notes['cpu']})")
    ram = meters.source("ram")
    parts.append(f"RAM ESTIMATED (codecarbon model, {meters.notes['ram']})" if ram != NONE else "RAM none")
    idle = (
        f"idle baseline {config.idle_seconds:g} s" if config.idle_seconds > 0 else "no idle baseline (idle_seconds: 0)"
    )
    where = (
        f"site {site.name}: PUE {site.pue:g}, {site.carbon_intensity_g_per_kwh:.0f} gCO2e/kWh, "
        f"WUE {site.wue_l_per_kwh:g} + EWIF {site.ewif_l_per_kwh:.2f} L/kWh ({site.ewif_convention})"
    )
    return "footprint: " + "; ".join(parts) + f"; {idle}; {where}"
