"""What the results folder's manifest says about the footprint: meters, devices, idle baseline, site, rules."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ecobench.config.footprint import FootprintConfig
from ecobench.footprint import codecarbon_adapter as cc
from ecobench.footprint.measurement import ABOVE_IDLE_RULE, COMPONENTS
from ecobench.footprint.meters.base import NONE
from ecobench.footprint.probe import Meters
from ecobench.footprint.site import Site


def footprint_manifest(
    meters: Meters,
    config: FootprintConfig,
    site: Site,
    idle_w: dict[str, float | None] | None,
    idle_devices_w: dict[str, float],
    summary: str | None,
) -> dict[str, Any]:
    idle: dict[str, Any] | None = None
    if idle_w is not None:
        idle = {
            "seconds": config.idle_seconds,
            **{f"{c}_w": (idle_w.get(c) if meters.source(c) != NONE else None) for c in COMPONENTS},
            "gpu_device_w": dict(idle_devices_w),
        }
    probe_rapl = meters.rapl
    return {
        "summary": summary,
        "sources": {c: meters.source(c) for c in COMPONENTS},
        "cpu_attribution": meters.cpu_attribution(),
        "notes": dict(meters.notes),
        "meters": [c.describe() for c in meters.all],
        "gpu_devices": [
            {
                "visible_index": d.visible_index,
                "nvml_index": d.index,
                "name": d.name,
                "uuid": d.uuid,
                "energy_counter": d.counter_supported,
                "power_readings": d.power_supported,
                "scope": d.scope,
                "mapped_by": d.mapped_by,
            }
            for d in (meters.nvml.devices if meters.nvml else [])
        ],
        "nvml_driver": meters.nvml.driver if meters.nvml else None,
        "rapl": (
            {"root": str(probe_rapl.root), "problem": probe_rapl.problem,
             "domains": [{"path": str(d.path), "name": d.name, "readable": d.readable, "problem": d.problem}
                         for d in probe_rapl.domains]}
            if probe_rapl else None
        ),
        "cpu_model": asdict(meters.cpu_info) if meters.cpu_info else None,
        "idle_baseline": idle,
        "above_idle_rule": ABOVE_IDLE_RULE,
        "gpu_window_rule": (
            f"energy counter when the window lasts >= {config.min_counter_window_s:g} s, "
            f"else power samples every {config.sample_interval_s:g} s"
        ),
        # how long a measured window must last for these meters, and why (each meter's resolution_s is above)
        "min_window": dict(zip(("seconds", "why"), meters.min_window_s(config.min_window_s), strict=True)),
        "contention_rule": (f"contended: others used more than {config.quiet.max_other_cpu:.0%} of the machine's CPU "
                            f"(or another process the metered GPU); on_contention: {config.on_contention}"),
        "site": site.as_dict(),
        "config": config.model_dump(),
        "codecarbon_version": cc.version(),
    }
