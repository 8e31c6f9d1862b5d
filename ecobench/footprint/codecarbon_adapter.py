"""The one place that touches codecarbon, including the names it does not promise to keep.

ecobench reuses codecarbon's CPU TDP table, its CPU and RAM power models and its bundled grid data rather than
keeping a second copy. Several of those live behind private names (`TDP._get_matching_cpu`, `CPU._tdp`,
`_NORDIC_REGIONS_BY_COUNTRY`, `get_cached_tdp`). Every such use is in this module, and `missing_names()` lists
what an upgrade moved, so a test fails with the names instead of a meter failing at run time.

Tested with codecarbon 3.3.x (TESTED_SERIES).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

TESTED_SERIES = "3.3"  # pin: codecarbon>=3.3.2,<3.4

# (module, attribute path) of every codecarbon name used below; private ones start with "_" somewhere.
USED_NAMES = (
    ("codecarbon", "__version__"),
    ("codecarbon.core.cpu", "TDP"),
    ("codecarbon.core.cpu", "TDP._get_matching_cpu"),
    ("codecarbon.core.cpu", "is_psutil_available"),
    ("codecarbon.core.hardware_cache", "get_cached_tdp"),
    ("codecarbon.core.util", "count_cpus"),
    ("codecarbon.core.util", "count_physical_cpus"),
    ("codecarbon.core.emissions", "Emissions.get_private_infra_emissions"),
    ("codecarbon.core.emissions", "_NORDIC_REGIONS_BY_COUNTRY"),
    ("codecarbon.core.units", "Energy.from_energy"),
    ("codecarbon.external.geography", "GeoMetadata"),
    ("codecarbon.external.hardware", "CPU.from_utils"),
    ("codecarbon.external.hardware", "CPU.total_power"),
    ("codecarbon.external.hardware", "CPU.start"),
    ("codecarbon.external.ram", "RAM.machine_memory_GB"),
    ("codecarbon.external.ram", "RAM.total_power"),
    ("codecarbon.input", "DataSource.get_cpu_power_data"),
    ("codecarbon.input", "DataSource.get_global_energy_mix_data"),
    ("codecarbon.input", "DataSource.get_carbon_intensity_per_source_data"),
    ("codecarbon.input", "DataSource.get_country_emissions_data"),
    ("codecarbon.input", "DataSource.get_country_energy_mix_data"),
    ("codecarbon.input", "DataSource.get_china_provincial_emissions_data"),
)


def missing_names() -> list[str]:
    """Every name in USED_NAMES that this codecarbon no longer has (empty when all are there)."""
    missing = []
    for module, path in USED_NAMES:
        try:
            obj: Any = importlib.import_module(module)
            for part in path.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError):
            missing.append(f"{module}.{path}")
    return missing


def version() -> str:
    import codecarbon

    return str(codecarbon.__version__)


@contextmanager
def quiet(level: int = logging.WARNING) -> Iterator[None]:
    """codecarbon logs at INFO on every call; keep only warnings while we use it."""
    cc_log = logging.getLogger("codecarbon")
    before = cc_log.level
    cc_log.setLevel(max(level, before))
    try:
        yield
    finally:
        cc_log.setLevel(before)


# -- hardware ----------------------------------------------------------------------------------------------------


@dataclass
class CpuModel:
    """What codecarbon knows about this CPU."""

    model: str
    tdp_w: float | None  # per physical CPU, from codecarbon's table (or its per-thread default)
    matched: str | None  # the table entry matched, None if codecarbon fell back to its default
    physical_cpus: int
    threads: int

    @property
    def max_power_w(self) -> float | None:
        return None if self.tdp_w is None else self.tdp_w * self.physical_cpus


@cache
def cpu_model() -> CpuModel:
    """codecarbon's TDP lookup for this machine (1-2 s, once per process: the CPU does not change)."""
    from codecarbon.core import cpu
    from codecarbon.core.hardware_cache import get_cached_tdp
    from codecarbon.core.util import count_cpus, count_physical_cpus
    from codecarbon.input import DataSource

    with quiet(logging.ERROR):  # it warns about unknown models; our summary says it instead
        tdp = get_cached_tdp(cpu)
        matched = tdp._get_matching_cpu(tdp.model, DataSource().get_cpu_power_data()) if tdp.model else None
        physical = count_physical_cpus()
    return CpuModel(
        model=str(tdp.model),
        tdp_w=float(tdp.tdp) if tdp.tdp is not None else None,
        matched=matched,
        physical_cpus=int(physical or 1),
        threads=int(count_cpus()),
    )


def psutil_available() -> bool:
    from codecarbon.core.cpu import is_psutil_available

    return bool(is_psutil_available())


class CpuPowerModel:
    """codecarbon's machine-mode CPU model: `"cpu_load"` (max power x (0.1 + 0.9 x load^3)) or `"constant"`
    (TDP x 50 %). `mean_power_w()` is the mean power since its previous call (or since `start()`)."""

    def __init__(self, mode: str, info: CpuModel):
        from codecarbon.external.hardware import CPU

        with quiet():
            self._cpu = CPU.from_utils(".", mode, info.model, info.max_power_w)
        self.max_power_w = float(self._cpu._tdp)

    def start(self) -> None:
        self._cpu.start()  # resets its load baseline: the first sample covers from now

    def mean_power_w(self) -> float:
        # It logs at DEBUG only; no quieting here (Logger.setLevel clears every logger's cache).
        return float(self._cpu.total_power().W)


def ram_model() -> tuple[float, float]:
    """(machine memory in GB, codecarbon's constant RAM power in W for it)."""
    from codecarbon.external.ram import RAM

    with quiet():
        ram = RAM(tracking_mode="machine")
        return float(ram.machine_memory_GB), float(ram.total_power().W)


# -- grid data ---------------------------------------------------------------------------------------------------


@cache
def energy_mix() -> dict[str, dict[str, Any]]:
    """codecarbon's per-country generation mix (TWh by fuel, 2023), by ISO alpha-3 code."""
    from codecarbon.input import DataSource

    return DataSource().get_global_energy_mix_data()


def world_carbon_intensity_g_per_kwh() -> float:
    from codecarbon.input import DataSource

    return float(DataSource().get_carbon_intensity_per_source_data()["world_average"])


def grid_g_per_kwh(country: str, region: str | None) -> float:
    """Grid carbon intensity through codecarbon's own emissions lookup (country, or its sub-national region)."""
    from codecarbon.core.emissions import Emissions
    from codecarbon.core.units import Energy
    from codecarbon.external.geography import GeoMetadata
    from codecarbon.input import DataSource

    with quiet():
        kg = Emissions(DataSource()).get_private_infra_emissions(
            Energy.from_energy(kWh=1.0), GeoMetadata(country_iso_code=country, region=region)
        )
    return float(kg) * 1000.0


@cache
def regions(country: str) -> frozenset[str]:
    """Sub-national regions codecarbon's emissions lookup understands (lower case); empty if none."""
    from codecarbon.core.emissions import _NORDIC_REGIONS_BY_COUNTRY
    from codecarbon.input import DataSource

    source = DataSource()
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
