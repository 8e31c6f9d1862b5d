"""Fakes at the vendor boundary: the `pynvml` functions and a powercap tree in tmp_path."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pynvml
import pytest


class FakeClock:
    """A clock the test moves by hand, so energy = power x time is exact."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@dataclass
class FakeGpu:
    """One device: constant power (W) that a test may change; energy integrates it on `clock`."""

    uuid: str
    power_w: float | None = 100.0  # None: power readings unsupported
    counter: bool = True  # False: nvmlDeviceGetTotalEnergyConsumption not supported
    name: str = "NVIDIA Fake H100"
    counter_step_s: float = 0.0  # >0: the counter only updates every step (like the real ~100 ms)
    energy_j: float = 5_000.0  # since "driver load"
    _t: float | None = None
    history: list = field(default_factory=list)

    def advance_to(self, now: float) -> None:
        if self._t is not None:
            self.energy_j += (self.power_w or 0.0) * (now - self._t)
        self._t = now

    def set_power(self, watts: float, now: float) -> None:
        self.advance_to(now)
        self.power_w = watts


class FakeNvml:
    """Replaces the pynvml functions ecobench calls; counts init/shutdown."""

    def __init__(self, gpus: list[FakeGpu], clock):
        self.gpus = gpus
        self.clock = clock
        self.inits = 0
        self.shutdowns = 0

    def _gpu(self, handle) -> FakeGpu:
        return self.gpus[handle]

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
        def not_supported():
            return pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

        def init():
            self.inits += 1

        def shutdown():
            self.shutdowns += 1

        def energy(handle):
            gpu = self._gpu(handle)
            if not gpu.counter:
                raise not_supported()
            now = self.clock()
            if gpu.counter_step_s:
                now = (now // gpu.counter_step_s) * gpu.counter_step_s
            gpu.advance_to(max(now, gpu._t or now))
            return int(gpu.energy_j * 1000)

        def power(handle):
            gpu = self._gpu(handle)
            if gpu.power_w is None:
                raise not_supported()
            return int(gpu.power_w * 1000)

        monkeypatch.setattr(pynvml, "nvmlInit", init)
        monkeypatch.setattr(pynvml, "nvmlShutdown", shutdown)
        monkeypatch.setattr(pynvml, "nvmlSystemGetDriverVersion", lambda: "999.99")
        monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", lambda: len(self.gpus))
        monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByIndex", lambda i: i)
        monkeypatch.setattr(pynvml, "nvmlDeviceGetUUID", lambda h: self._gpu(h).uuid)
        monkeypatch.setattr(pynvml, "nvmlDeviceGetName", lambda h: self._gpu(h).name)
        monkeypatch.setattr(pynvml, "nvmlDeviceGetTotalEnergyConsumption", energy)
        monkeypatch.setattr(pynvml, "nvmlDeviceGetPowerUsage", power)
        return self


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def no_cuda_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch, no_cuda_env):
    """Call with a list of FakeGpu and the clock the Monitor uses."""

    def make(gpus: list[FakeGpu], clock=time.perf_counter) -> FakeNvml:
        return FakeNvml(gpus, clock).install(monkeypatch)

    return make


@pytest.fixture
def no_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without the NVIDIA driver, whatever machine the tests run on."""

    def init():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", init)


def make_powercap(root: Path, packages: dict[int, int], max_uj: int = 262_143_328_850) -> Path:
    """A powercap tree: intel-rapl:N packages with energy_uj, plus a core sub-domain and psys to skip."""
    for index, energy in packages.items():
        domain = root / f"intel-rapl:{index}"
        domain.mkdir(parents=True)
        (domain / "name").write_text(f"package-{index}\n")
        (domain / "energy_uj").write_text(f"{energy}\n")
        (domain / "max_energy_range_uj").write_text(f"{max_uj}\n")
        core = root / f"intel-rapl:{index}:0"
        core.mkdir()
        (core / "name").write_text("core\n")
        (core / "energy_uj").write_text("7\n")
    psys = root / f"intel-rapl:{len(packages)}"
    psys.mkdir()
    (psys / "name").write_text("psys\n")
    (psys / "energy_uj").write_text("123456789\n")
    (psys / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return root


def set_energy(root: Path, index: int, energy_uj: int) -> None:
    (root / f"intel-rapl:{index}" / "energy_uj").write_text(f"{energy_uj}\n")
