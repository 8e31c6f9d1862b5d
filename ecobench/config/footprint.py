"""The suite's `footprint:` section: which meters to use, how long to measure idle, and the site.

Every field has a default, so `footprint: {}` works. Country and region are checked against
codecarbon's bundled data here, so a typo is a load-time error rather than a silent world average. That data is read
by `ecobench.footprint.grid`, which hands itself to `use_places` when the footprint package is imported: the config
layer imports nothing of the library.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal, Protocol

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ecobench.config.base import Config

PresetName = Literal["world-average", "us-average", "hyperscaler"]
HydroEvaporation = Literal["exclude", "include"]


class Places(Protocol):
    """What the site validators read of the grid data (ecobench/footprint/grid.py is one)."""

    def known_countries(self) -> frozenset[str]: ...

    def known_regions(self, country: str) -> frozenset[str]: ...

    def preset_values(self, preset: str) -> dict[str, Any]: ...


_places: list[Places] = []


def use_places(places: Places) -> None:
    """Where country and region names are checked (the footprint package calls this when imported)."""
    _places[:] = [places]


def _grid() -> Places:
    if not _places:
        raise RuntimeError("no grid data for site validation: import ecobench.footprint before validating a site")
    return _places[0]


class SiteConfig(Config):
    """Where the energy is accounted for. Preset values are defaults; any field given here wins.

    Location-bound preset values (carbon intensity, EWIF) are dropped when `country` names another
    country than the preset's, and then come from codecarbon's data for that country instead.
    """

    preset: PresetName = "world-average"  # named set of defaults (see footprint/data/site_factors.json)
    name: str | None = None  # label recorded in every row; default: the preset, or the country/region
    country: str | None = None  # ISO 3166-1 alpha-3 (e.g. USA, FRA); carbon intensity and EWIF from its grid
    region: str | None = None  # sub-national grid where codecarbon has data (US states, Canadian provinces, ...)
    carbon_intensity_g_per_kwh: float | None = Field(None, ge=0)  # gCO2e per kWh; overrides country data
    pue: float | None = Field(None, ge=1.0, le=5.0)  # power usage effectiveness (facility / IT energy)
    wue_l_per_kwh: float | None = Field(None, ge=0)  # on-site water (cooling), litres per kWh of IT energy
    ewif_l_per_kwh: float | None = Field(None, ge=0)  # off-site water, litres per kWh generated; overrides the mix
    # reservoir evaporation in the mix-derived EWIF: exclude (Li et al.'s code) or include (Macknick et al. median)
    hydro_evaporation: HydroEvaporation = "exclude"

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.upper()
        countries = _grid().known_countries()
        if code not in countries:
            close = difflib.get_close_matches(code, sorted(countries), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"unknown country {value!r} (ISO 3166-1 alpha-3 expected){hint}")
        return code

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if "country" not in info.data:  # the country itself failed; that error says enough
            return value
        grid = _grid()
        country = info.data["country"] or grid.preset_values(info.data.get("preset", "world-average")).get("country")
        if country is None:
            raise ValueError("region needs a country (ISO alpha-3), e.g. country: USA")
        regions = grid.known_regions(country)
        if not regions:
            raise ValueError(f"codecarbon has no regional data for {country}; remove region")
        if value.lower() not in regions:
            close = difflib.get_close_matches(value.lower(), sorted(regions), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"unknown region {value!r} for {country}{hint}")
        return value


class BudgetConfig(Config):
    """A ceiling on the whole run's IT energy (all sessions, start-up included): `run` refuses a suite whose
    forecast exceeds it (exit 2) and stops cleanly between cells once the measured total passes it (exit 3)."""

    kwh: float = Field(gt=0)  # kWh of IT energy (before PUE), measured and estimated components summed

    @model_validator(mode="before")
    @classmethod
    def _one_unit(cls, value: Any) -> Any:
        """One clear line for a budget in another unit (`{wh: 50}`), instead of 'kwh missing' + 'wh unknown'."""
        if isinstance(value, dict) and set(value) - {"kwh"}:
            unit = sorted(set(value) - {"kwh"})[0]
            scale = {"wh": 1e-3, "mwh": 1e-6, "j": 1 / 3.6e6, "kj": 1 / 3.6e3, "mj": 1 / 3.6}.get(str(unit).lower())
            amount = value[unit]
            hint = (f", e.g. {{kwh: {amount * scale:.6g}}}" if scale and isinstance(amount, (int, float))
                    and not isinstance(amount, bool) else ", e.g. {kwh: 0.5}")
            raise ValueError(f"unknown budget unit {unit!r}: the budget is given in kwh{hint}")
        return value


class QuietConfig(Config):
    """When a window counts as contended (another program used the machine during it), and what `retry` does."""

    max_other_cpu: float = Field(0.25, ge=0, le=1)  # share of the machine's CPU capacity others may use
    retries: int = Field(3, ge=1, le=20)  # on_contention: retry re-measures a contended pair at most this many times
    backoff_s: float = Field(2.0, ge=0, le=600)  # wait before the first retry; doubled before each next one


class FootprintConfig(Config):
    """Measurement of every phase, and the site factors that turn its energy into carbon and water."""

    idle_seconds: float = Field(5.0, ge=0, le=86_400)  # idle baseline length before the first phase; 0 skips it
    require: Literal["any", "measured"] = "any"  # measured: stop (exit 2) if no component is measured
    gpu: Literal["auto", "counter", "power", "none"] = "auto"  # auto: counter, power samples for short windows
    cpu: Literal["auto", "rapl", "codecarbon-load", "codecarbon-tdp", "none"] = "auto"  # auto: RAPL, else load
    ram: Literal["codecarbon", "none"] = "codecarbon"  # codecarbon's RAM power model, or off
    # CPU estimate: this process tree's share of CPU time (honest on shared machines), or the machine's whole load
    cpu_attribution: Literal["process", "machine"] = "process"
    sample_interval_s: float = Field(0.1, gt=0, le=10)  # GPU power sampling period (background thread)
    min_counter_window_s: float = Field(0.5, ge=0)  # shorter GPU windows use power samples (counter is ~100 ms)
    # eval and inference workloads are measured this many times as pairs beside the seed's dense model (ABBA order)
    repeats: int = 3
    # instead of a fixed repeats: the smallest pruned/dense ratio a run should be able to tell from 1 (e.g. 0.9);
    # it replaces `repeats`: the pairs are computed from the noise floor (measure.paired_repeats), shown by validate
    detect: float | None = Field(None, gt=0, lt=1)
    # each measured workload repeats inside its window until the window lasts this long; None: by the meters'
    # resolution (100x the coarsest; 2 s when a GPU is metered: NVML's counter is ~100 ms, its power a 1 s average)
    min_window_s: float | None = Field(None, ge=0, le=600)
    on_contention: Literal["flag", "retry", "stop"] = "flag"  # a window where others used the machine (see quiet)
    quiet: QuietConfig = QuietConfig()  # what counts as contended
    noise_windows: int = Field(6, ge=2, le=1_000_000)  # identical windows measured at the start of a run: the noise floor (CV)
    site: SiteConfig = SiteConfig()  # grid, PUE and water factors
    budget: BudgetConfig | None = None  # optional energy ceiling for the whole run (not part of the fingerprint)

    @field_validator("repeats", mode="before")
    @classmethod
    def _repeats(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"repeats must be a whole number >= 2, got {value!r}")
        if value < 2:
            raise ValueError(f"repeats must be >= 2 (an interval needs at least two paired windows), got {value}")
        return value
