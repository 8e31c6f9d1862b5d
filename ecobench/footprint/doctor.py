"""`ecobench doctor`: what this machine can measure, how, and what to do about what it cannot."""

from __future__ import annotations

import os
from pathlib import Path

from ecobench.footprint.meters import estimate, nvml, rapl


def doctor_report(powercap_root: Path | str = rapl.DEFAULT_POWERCAP_ROOT) -> str:
    """A few lines per component; never raises on missing hardware."""
    lines = ["GPU (NVML, package nvidia-ml-py):"]
    lines += _gpu_lines()
    lines.append(f"CPU (RAPL under {powercap_root}):")
    lines += _rapl_lines(Path(powercap_root))
    lines.append("CPU and RAM estimates (codecarbon):")
    lines += _codecarbon_lines()
    return "\n".join(lines)


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
    else:
        out.append(f"  -> not usable: {probe.problem}; CPU energy will be codecarbon's estimate")
    return out


def _codecarbon_lines() -> list[str]:
    import codecarbon

    info = estimate.cpu_model()
    if info.matched:
        match = f"matched '{info.matched}' in codecarbon's TDP table: {info.tdp_w:g} W per CPU"
    else:
        match = (
            f"NOT in codecarbon's TDP table; it assumes {info.tdp_w:g} W "
            f"({info.threads} threads x its per-thread default)"
        )
    ram = estimate.CodecarbonRamChannel()
    return [
        f"  codecarbon {codecarbon.__version__}",
        f"  CPU model '{info.model}', {info.physical_cpus} physical CPU(s), {info.threads} threads: {match}",
        f"  CPU estimate without RAPL: max {(info.max_power_w or 0):g} W x (0.1 + 0.9 x load^3) "
        "(estimated:codecarbon-cpu-load)",
        f"  RAM estimate: {ram.power_w:g} W for {ram.memory_gb:.1f} GB (estimated:codecarbon-ram)",
    ]
