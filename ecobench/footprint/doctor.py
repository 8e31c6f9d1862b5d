"""`ecobench doctor`: what this machine can measure, how, one concrete fix for each thing it cannot, and the
site factors (EWIF with its source and convention) a suite's footprint would use."""

from __future__ import annotations

import os
from pathlib import Path

from ecobench.config.footprint import SiteConfig
from ecobench.footprint import codecarbon_adapter as cc
from ecobench.footprint import grid
from ecobench.footprint.embodied import Hardware, resolve_hardware
from ecobench.footprint.meters import estimate, nvml, rapl
from ecobench.footprint.site import resolve_site

NVML_FIX = ("fix: install the NVIDIA driver (it provides libnvidia-ml.so) and the package nvidia-ml-py; in a "
            "container, start it with the GPU exposed (docker run --gpus all)")
VISIBLE_FIX = "fix: unset CUDA_VISIBLE_DEVICES, or list a GPU in it (e.g. CUDA_VISIBLE_DEVICES=0)"
NO_POWERCAP_FIX = ("fix: on bare-metal Linux load the driver (sudo modprobe intel_rapl_common); in a container "
                   "mount it (-v /sys/class/powercap:/sys/class/powercap:ro); virtual machines rarely expose RAPL, "
                   "so there the CPU stays an estimate")
RAM_FIX = ("fix: none on this kind of machine: Linux exposes no RAM power meter (RAPL's dram domain is not read), "
           "so RAM stays codecarbon's estimate; set footprint.ram: none to leave it out")


def doctor_report(powercap_root: Path | str = rapl.DEFAULT_POWERCAP_ROOT, site: SiteConfig | None = None,
                  site_label: str = "the default site (pass a suite to see its own)") -> str:
    """A few lines per component and the site; never raises on missing hardware."""
    lines = ["GPU (NVML, package nvidia-ml-py):"]
    lines += _gpu_lines()
    lines.append(f"CPU (RAPL under {powercap_root}):")
    lines += _rapl_lines(Path(powercap_root))
    lines.append("CPU and RAM estimates (codecarbon):")
    lines += _codecarbon_lines()
    lines.append(f"Site: {site_label}:")
    lines += site_lines(site or SiteConfig())
    return "\n".join(lines)


def site_lines(config: SiteConfig) -> list[str]:
    s = resolve_site(config)
    return [
        f"  {s.name}: PUE {s.pue:g} ({s.pue_source}), {s.carbon_intensity_g_per_kwh:.0f} gCO2e/kWh "
        f"({s.carbon_intensity_source}), WUE {s.wue_l_per_kwh:g} L/kWh ({s.wue_source})",
        f"  {s.describe_ewif()}; footprint.site.hydro_evaporation: {config.hydro_evaporation}",
        "  ranges (low-central-high, how drawn; carbon and water intervals draw from them):",
        *(f"    {line}" for line in range_lines(s.factor_ranges)),
        "  energy's own error (a triangle around each component's value): "
        + ", ".join(f"{k} +/-{100 * v['r']:.0f}%" for k, v in grid.site_factors()["energy_bands"].items()
                    if not k.startswith("_")),
        "  sources, in full: ecobench/footprint/data/site_factors.json (factor_ranges, energy_bands) and "
        "data/embodied.json",
        f"  embodied carbon: {embodied_line(resolve_hardware([]))} (a GPU run: the server of the GPUs it measures)",
    ]


RANGE_NAMES = {"pue": "PUE", "wue_l_per_kwh": "WUE (L/kWh)", "carbon_intensity_g_per_kwh": "carbon intensity (g/kWh)",
               "ewif_l_per_kwh": "EWIF (L/kWh)"}


def range_lines(ranges: dict) -> list[str]:
    """One line per factor: its range, distribution and source; the EWIF's fuels with their shares."""
    out = []
    for key, label in RANGE_NAMES.items():
        r = ranges.get(key)
        if r is None:
            out.append(f"{label}: no range recorded")
        elif r["dist"] == "point":
            out.append(f"{label}: {r['central']:.3g}, a point ({r['source']}): its intervals cover the rest only")
        else:
            how = "each fuel drawn from its own range, weighted by its share" if r["dist"] == "mix" else r["dist"]
            out.append(f"{label}: {r['low']:.3g}-{r['central']:.3g}-{r['high']:.3g}, {how} ({r['source']})")
    for fuel, f in sorted((ranges.get("ewif_by_fuel") or {}).items(), key=lambda kv: -kv[1]["share"]):
        if f["share"] >= 0.005:
            out.append(f"  {fuel} {100 * f['share']:.0f}% of the mix: {f['low']:.3g}-{f['central']:.3g}-"
                       f"{f['high']:.3g} L/kWh, {f['dist']} ({f['source']})")
    return out


def embodied_line(hw: Hardware) -> str:
    return (f"{hw.kg:g} kgCO2e ({hw.kg_low:g}-{hw.kg_high:g}) per server over {hw.lifetime_s / 3.15576e7:.0f} years "
            f"({hw.source}), charged by machine-time used")


def _gpu_lines() -> list[str]:
    probe = nvml.probe()
    try:
        env = os.environ.get("CUDA_VISIBLE_DEVICES")
        out = [f"  CUDA_VISIBLE_DEVICES={env!r}" if env is not None else "  CUDA_VISIBLE_DEVICES unset (all GPUs)"]
        if probe.driver:
            out.append(f"  driver {probe.driver}")
        for d in probe.devices:
            counter = "energy counter: yes" if d.counter_supported else "energy counter: NO (power sampling instead)"
            power = "power readings: yes" if d.power_supported else "power readings: NO"
            out.append(f"  gpu{d.visible_index} = NVML {d.index}: {d.name} {d.uuid}; {counter}; {power}")
        if probe.problem:
            out.append(f"  none: {probe.problem} -> GPU energy source 'none'")
            out.append("  " + (VISIBLE_FIX if env is not None and probe.initialized else NVML_FIX)
                       + " (on a machine without an NVIDIA GPU there is nothing to fix)")
        return out
    finally:
        nvml.shutdown(probe)


def _rapl_lines(root: Path) -> list[str]:
    probe = rapl.probe(root)
    out = []
    for d in probe.domains:
        state = "readable" if d.readable else f"NOT readable: {d.problem}"
        out.append(f"  {d.path.name} ({d.name}): {state}")
    if probe.usable:
        out.append(f"  -> CPU energy measured (measured:rapl, {len(probe.usable)} package(s))")
        return out
    out.append(f"  -> not usable: {probe.problem}; CPU energy will be codecarbon's estimate")
    if any(d.problem and "permission denied" in d.problem for d in probe.domains):
        out.append(f"  fix: {rapl.RAPL_FIX}")
    else:
        out.append(f"  {NO_POWERCAP_FIX}")
    return out


def _codecarbon_lines() -> list[str]:
    info = cc.cpu_model()
    if info.matched:
        match = f"matched '{info.matched}' in codecarbon's TDP table: {info.tdp_w:g} W per CPU"
    else:
        match = (
            f"NOT in codecarbon's TDP table; it assumes {info.tdp_w:g} W "
            f"({info.threads} threads x its per-thread default)"
        )
    ram = estimate.CodecarbonRamChannel()
    max_w = info.max_power_w or 0
    return [
        f"  codecarbon {cc.version()}",
        f"  CPU model '{info.model}', {info.physical_cpus} physical CPU(s), {info.threads} threads: {match}",
        f"  CPU estimate without RAPL (footprint.cpu_attribution): process = max {max_w:g} W x this process tree's "
        f"share of CPU time (estimated:codecarbon-cpu-process); machine = max {max_w:g} W x (0.1 + 0.9 x load^3) "
        "on the whole machine's load (estimated:codecarbon-cpu-load)",
        f"  RAM estimate: {ram.power_w:g} W for {ram.memory_gb:.1f} GB (estimated:codecarbon-ram)",
        f"  {RAM_FIX}",
    ]
