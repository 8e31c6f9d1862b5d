"""GPU energy from NVML (package `nvidia-ml-py`, imported as `pynvml`).

Two channels per visible device: the total-energy counter (mJ since driver load, Volta and newer,
updated about every 100 ms) read at window edges, and power samples (mW) integrated by the
sampler thread. Windows shorter than `min_counter_window_s`, and devices without the counter,
use the power samples. Every call goes through the `pynvml` module attribute, so tests replace
the vendor functions, not ours.

Which NVML device is CUDA's device N: matched by UUID (`torch.cuda.get_device_properties(N).uuid` against
`nvmlDeviceGetUUID`), never by index: CUDA orders devices fastest first (CUDA_DEVICE_ORDER=FASTEST_FIRST, its
default), NVML by PCI bus, so on a node with mixed GPUs the indices disagree. A MIG instance is metered through its
parent GPU (NVML has no energy reading per instance): its energy is the whole GPU's, and says so (`scope`). Without
CUDA in this process (doctor on a machine whose torch is a CPU build), CUDA_VISIBLE_DEVICES is followed instead.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import pynvml

from ecobench.footprint.meters.base import NVML_COUNTER, NVML_POWER, Channel, Clock

log = logging.getLogger(__name__)


@dataclass
class GpuDevice:
    """One visible GPU: `index` is its NVML index, `visible_index` what CUDA calls it in this process."""

    index: int
    visible_index: int
    name: str
    uuid: str
    handle: Any
    counter_supported: bool
    power_supported: bool
    problem: str | None = None
    scope: str = "gpu"  # 'whole-gpu (MIG instance MIG-...)': the work runs on a MIG slice, the meter reads the GPU
    mapped_by: str = "uuid"  # how CUDA's index was matched to NVML's: uuid, or CUDA_VISIBLE_DEVICES (no CUDA here)


@dataclass
class NvmlProbe:
    devices: list[GpuDevice] = field(default_factory=list)
    problem: str | None = None  # why there is no GPU meter, when there is none
    driver: str | None = None
    initialized: bool = False  # nvmlInit succeeded: call shutdown() when done


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def visible_indices(env: str | None, uuids: list[str]) -> list[int]:
    """NVML indices of the devices CUDA_VISIBLE_DEVICES exposes, in CUDA's order.

    Follows CUDA's rules: integers or (prefixes of) UUIDs, separated by commas; parsing stops at the
    first entry that names no device; unset means all. MIG instances cannot be metered by NVML's
    energy counter and are skipped with a warning.
    """
    if env is None:
        return list(range(len(uuids)))
    chosen: list[int] = []
    for raw in env.split(","):
        entry = raw.strip()
        if not entry:
            break
        if entry.startswith("MIG-"):
            log.warning("CUDA_VISIBLE_DEVICES entry %s is a MIG instance; NVML cannot meter it alone", entry)
            continue
        if entry.lstrip("-").isdigit():
            index = int(entry)
            if not 0 <= index < len(uuids):
                break
        else:
            matches = [i for i, u in enumerate(uuids) if u.startswith(entry) or u.startswith("GPU-" + entry)]
            if len(matches) != 1:
                break
            index = matches[0]
        if index in chosen:
            break
        chosen.append(index)
    return chosen


def _bare(uuid: str) -> str:
    """A UUID without NVIDIA's 'GPU-'/'MIG-' prefix, lower case: torch's `_CUuuid` prints the bare form."""
    u = uuid.strip().lower()
    for prefix in ("gpu-", "mig-"):
        u = u.removeprefix(prefix)
    return u


def cuda_uuids() -> list[str] | None:
    """The bare UUIDs of the CUDA devices this process sees, in CUDA's order; None when torch has no CUDA here."""
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        return [_bare(str(torch.cuda.get_device_properties(i).uuid)) for i in range(torch.cuda.device_count())]
    except (ImportError, RuntimeError, AssertionError) as err:
        log.debug("no CUDA device list: %s", err)
        return None


def _mig_parents(handles: list[Any]) -> dict[str, tuple[int, str]]:
    """bare MIG-instance UUID -> (parent NVML index, the instance's UUID), for GPUs in MIG mode."""
    out: dict[str, tuple[int, str]] = {}
    for index, handle in enumerate(handles):
        try:
            count = pynvml.nvmlDeviceGetMaxMigDeviceCount(handle)
        except (pynvml.NVMLError, AttributeError):
            continue
        for k in range(count):
            try:
                mig_uuid = _text(pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, k)))
            except pynvml.NVMLError:
                continue
            out[_bare(mig_uuid)] = (index, mig_uuid)
    return out


def cuda_to_nvml(cuda: list[str], uuids: list[str], handles: list[Any]) -> list[tuple[int, str]]:
    """For each CUDA device in CUDA's order: (its NVML index, scope), matched by UUID; a MIG instance maps to its
    parent GPU with scope 'whole-gpu (MIG instance ...)'. A device NVML does not show is left out, with a warning."""
    by_uuid = {_bare(u): i for i, u in enumerate(uuids)}
    migs: dict[str, tuple[int, str]] | None = None
    out: list[tuple[int, str]] = []
    for n, u in enumerate(cuda):
        if u in by_uuid:
            out.append((by_uuid[u], "gpu"))
            continue
        migs = _mig_parents(handles) if migs is None else migs
        if u in migs:
            parent, mig_uuid = migs[u]
            out.append((parent, f"whole-gpu (MIG instance {mig_uuid}: NVML meters the parent GPU)"))
        else:
            log.warning("CUDA device %d (UUID %s) is not among the GPUs NVML lists; it is not metered", n, u)
            out.append((-1, "gpu"))
    return out


def probe() -> NvmlProbe:
    """Initialise NVML and list the visible devices and what each supports. Never raises."""
    result = NvmlProbe()
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as err:
        result.problem = f"NVML unavailable ({type(err).__name__}: {err})"
        return result
    except OSError as err:  # a broken driver install can surface as a loader error
        result.problem = f"NVML unavailable ({err})"
        return result
    result.initialized = True
    try:
        result.driver = _text(pynvml.nvmlSystemGetDriverVersion())
    except pynvml.NVMLError:
        result.driver = None
    try:
        count = pynvml.nvmlDeviceGetCount()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        uuids = [_text(pynvml.nvmlDeviceGetUUID(h)) for h in handles]
    except pynvml.NVMLError as err:
        result.problem = f"NVML could not list devices ({err})"
        return result
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    cuda = cuda_uuids()
    if cuda is not None:
        mapping, mapped_by = cuda_to_nvml(cuda, uuids, handles), "uuid"
    else:
        mapping, mapped_by = [(i, "gpu") for i in visible_indices(env, uuids)], "CUDA_VISIBLE_DEVICES"
    for visible, (index, scope) in enumerate(mapping):
        if index < 0:
            continue
        handle = handles[index]
        device = GpuDevice(
            index=index,
            visible_index=visible,
            name=_safe(lambda h=handle: _text(pynvml.nvmlDeviceGetName(h)), "unknown"),
            uuid=uuids[index],
            handle=handle,
            counter_supported=_supports(pynvml.nvmlDeviceGetTotalEnergyConsumption, handle),
            power_supported=_supports(pynvml.nvmlDeviceGetPowerUsage, handle),
            scope=scope,
            mapped_by=mapped_by,
        )
        if not (device.counter_supported or device.power_supported):
            device.problem = "neither the energy counter nor power readings are supported"
        result.devices.append(device)
    if not result.devices:
        result.problem = (
            f"no GPU visible (CUDA_VISIBLE_DEVICES={env!r})" if env is not None else "NVML found no GPU"
        )
    return result


def shutdown(result: NvmlProbe) -> None:
    if result.initialized:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError as err:
            log.debug("nvmlShutdown: %s", err)
        result.initialized = False


def _supports(function: Any, handle: Any) -> bool:
    try:
        function(handle)
        return True
    except pynvml.NVMLError as err:
        log.debug("%s unsupported: %s", getattr(function, "__name__", function), err)
        return False


def _safe(function: Any, default: str) -> str:
    try:
        return function()
    except pynvml.NVMLError:
        return default


class NvmlCounterChannel(Channel):
    """The device's cumulative energy counter (mJ); read at window edges only."""

    component = "gpu"
    source = NVML_COUNTER
    poll_period_s = None
    resolution_s = 0.1  # the counter updates about every 100 ms (Yang et al., SC24)

    def __init__(self, device: GpuDevice, clock: Clock = time.perf_counter):
        super().__init__(clock)
        self.gpu = device
        self.device = f"gpu{device.visible_index}"
        self._last_mj = 0

    def _first_reading(self) -> None:
        self._last_mj = int(pynvml.nvmlDeviceGetTotalEnergyConsumption(self.gpu.handle))

    def _energy_since_last_j(self) -> float:
        now = int(pynvml.nvmlDeviceGetTotalEnergyConsumption(self.gpu.handle))
        delta, self._last_mj = now - self._last_mj, now
        return max(delta, 0) / 1e3

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "name": self.gpu.name, "uuid": self.gpu.uuid, "nvml_index": self.gpu.index,
                "scope": self.gpu.scope, "mapped_by": self.gpu.mapped_by}


class NvmlPowerChannel(Channel):
    """Power samples (mW) integrated with the trapezoid rule between consecutive readings."""

    component = "gpu"
    source = NVML_POWER
    resolution_s = 1.0  # on Hopper and newer the reading is a 1 s trailing average

    def __init__(self, device: GpuDevice, period_s: float, clock: Clock = time.perf_counter):
        super().__init__(clock)
        self.gpu = device
        self.device = f"gpu{device.visible_index}"
        self.poll_period_s = period_s
        self._last_w = 0.0
        self._last_t = 0.0

    def _read_w(self) -> float:
        return pynvml.nvmlDeviceGetPowerUsage(self.gpu.handle) / 1e3

    def _first_reading(self) -> None:
        self._last_w, self._last_t = self._read_w(), self.clock()

    def _energy_since_last_j(self) -> float:
        watts, now = self._read_w(), self.clock()
        energy = 0.5 * (watts + self._last_w) * (now - self._last_t)
        self._last_w, self._last_t = watts, now
        return energy

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "name": self.gpu.name, "uuid": self.gpu.uuid, "period_s": self.poll_period_s,
                "scope": self.gpu.scope, "mapped_by": self.gpu.mapped_by}


def other_processes(device: GpuDevice, own_pids: set[int]) -> int | None:
    """How many compute processes other than this process tree use the device; None when NVML cannot say, or when
    it lists pids from another pid namespace (a container: none of ours is among them, so no pid can be judged)."""
    try:
        pids = {int(p.pid) for p in pynvml.nvmlDeviceGetComputeRunningProcesses(device.handle)}
    except (pynvml.NVMLError, AttributeError) as err:
        log.debug("nvmlDeviceGetComputeRunningProcesses: %s", err)
        return None
    if pids and not pids & own_pids:
        return None
    return len(pids - own_pids)
