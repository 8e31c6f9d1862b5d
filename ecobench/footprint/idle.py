"""One idle-baseline procedure, the same for a local run and for every Ray worker: wait for the device's queued work,
let its power settle, then measure `footprint.idle_seconds`; where NVML meters a GPU, its performance state (P-state)
and SM/memory clocks are recorded at both ends, so a baseline taken while the GPU was still coming down from work
(P0, high clocks) shows as such.

Why: a baseline read right after work (the forecast probe, a warm-up) holds the tail of that work's power (a GPU
takes seconds to leave P0; its power reading is a 1 s average), and one read before CUDA starts in a worker holds
none of the context's standing power. Both bias every above-idle figure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pynvml

log = logging.getLogger(__name__)

SETTLE_S = {"cuda": 3.0, "cpu": 1.0}  # seconds of nothing between the last work and the baseline window
PROCEDURE = ("synchronize the device, wait SETTLE_S with no work, then measure footprint.idle_seconds; GPU P-state "
             "and clocks recorded before and after (NVML)")


def gpu_state(uuid: str) -> dict[str, Any]:
    """P-state and SM / memory clocks (MHz) of the GPU `uuid`, through NVML (already initialised by the meters)."""
    try:
        handle = pynvml.nvmlDeviceGetHandleByUUID(uuid)
        return {"uuid": uuid, "pstate": f"P{int(pynvml.nvmlDeviceGetPerformanceState(handle))}",
                "sm_clock_mhz": int(pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM)),
                "mem_clock_mhz": int(pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_MEM))}
    except pynvml.NVMLError as err:
        return {"uuid": uuid, "problem": str(err)}


def measure_idle_baseline(monitor: Any, device: str, sleep: Callable[[float], None] = time.sleep,
                          sync: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The baseline by PROCEDURE; returns what the manifest records about how it was taken."""
    if monitor.config.idle_seconds <= 0:
        return {"procedure": PROCEDURE, "skipped": "footprint.idle_seconds is 0"}
    (sync or _synchronize)(device)
    settle = SETTLE_S["cuda" if device.startswith("cuda") else "cpu"]
    uuids = [d["uuid"] for d in monitor.manifest().get("gpu_devices", [])]
    before = [gpu_state(u) for u in uuids]
    sleep(settle)
    monitor.measure_idle()
    after = [gpu_state(u) for u in uuids]
    busy = [s for s in before if s.get("pstate") not in (None, "P8", "P12")]
    if busy:
        log.info("idle baseline: GPU in %s before settling", ", ".join(s["pstate"] for s in busy))
    return {"procedure": PROCEDURE, "settle_s": settle, "gpu_before": before, "gpu_after": after}


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)
