"""Named measurement windows: `with monitor.window("train") as w: ...` then `w.result`.

`Monitor(config)` is cheap. `start()` probes the meters once (NVML, RAPL, codecarbon's CPU and RAM
models), fails with SensorError if the suite requires a measurement this machine cannot make,
starts the sampler thread and measures the idle baseline. Each window reads every channel at its
two edges (after `torch.cuda.synchronize()` when CUDA is in use) and returns a `Measurement`;
`columns()` turns it into the row's energy, carbon and water columns with the site factors used.

Above idle, per component: gross - idle_W x wall_s, floored at 0. A negative difference is meter
noise around an idle phase; flooring keeps per-token and per-phase figures non-negative, at the
cost of a small upward bias on near-idle phases (the gross value is always reported beside it).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ecobench.errors import SensorError
from ecobench.footprint.config import FootprintConfig
from ecobench.footprint.meters import estimate, nvml, rapl
from ecobench.footprint.meters.base import NONE, NVML_COUNTER, NVML_POWER, Channel, Clock
from ecobench.footprint.sampler import Sampler
from ecobench.footprint.site import Site, resolve_site

log = logging.getLogger(__name__)

COMPONENTS = ("gpu", "cpu", "ram")
J_PER_KWH = 3.6e6


@dataclass
class Measurement:
    """What one window measured. Units are in the field names; `*_source` says how each was obtained."""

    name: str
    wall_s: float
    cpu_process_s: float  # user + system CPU time of this process (all threads)
    gpu_energy_j: float = 0.0  # all visible GPUs
    cpu_energy_j: float = 0.0  # CPU packages (RAPL) or codecarbon's estimate for the machine
    ram_energy_j: float = 0.0
    gpu_source: str = NONE
    cpu_source: str = NONE
    ram_source: str = NONE
    gpu_idle_w: float | None = None  # idle baseline power; None when no baseline was measured
    cpu_idle_w: float | None = None
    ram_idle_w: float | None = None
    gpu_device_energy_j: dict[str, float] = field(default_factory=dict)  # per device, as used above

    @property
    def energy_j(self) -> float:
        """IT energy: GPU + CPU + RAM."""
        return self.gpu_energy_j + self.cpu_energy_j + self.ram_energy_j

    def component_energy_j(self, component: str) -> float:
        return float(getattr(self, f"{component}_energy_j"))

    def above_idle_j(self, component: str) -> float | None:
        """Gross minus idle power x wall time, floored at 0; None without a baseline."""
        idle_w = getattr(self, f"{component}_idle_w")
        if idle_w is None:
            return None
        return max(0.0, self.component_energy_j(component) - idle_w * self.wall_s)


@dataclass
class Window:
    name: str
    result: Measurement | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Meters:
    """What start() found, per component."""

    gpu_counter: dict[str, Channel] = field(default_factory=dict)  # device -> counter channel
    gpu_power: dict[str, Channel] = field(default_factory=dict)  # device -> power channel
    cpu: list[Channel] = field(default_factory=list)
    ram: list[Channel] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)  # component -> why it is estimated or absent

    @property
    def all(self) -> list[Channel]:
        return [*self.gpu_counter.values(), *self.gpu_power.values(), *self.cpu, *self.ram]


class Monitor:
    """Probes meters once, measures idle once, then measures any number of named windows."""

    def __init__(
        self,
        config: FootprintConfig | None = None,
        *,
        powercap_root: Path | str = rapl.DEFAULT_POWERCAP_ROOT,
        clock: Clock = time.perf_counter,
    ):
        self.config = config or FootprintConfig()
        self.site: Site = resolve_site(self.config.site)
        self.powercap_root = Path(powercap_root)
        self.clock = clock
        self._meters = _Meters()
        self._nvml: nvml.NvmlProbe | None = None
        self._rapl: rapl.RaplProbe | None = None
        self._cpu_info: estimate.CpuModel | None = None
        self._sampler: Sampler | None = None
        self._idle: dict[str, float] | None = None  # component -> W
        self._idle_devices: dict[str, float] = {}
        self._started = False
        self._torch_cuda: Any = None

    # -- setup ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Probe meters, enforce `require`, start sampling, measure the idle baseline."""
        if self._started:
            return
        try:
            self._probe_gpu()
            self._probe_cpu()
            self._probe_ram()
        except SensorError:
            self.close()
            raise
        if self.config.require == "measured" and not self.measured_components():
            self.close()
            raise SensorError(
                "footprint.require is 'measured' but nothing on this machine is measured: "
                + "; ".join(f"{c.upper()}: {self._meters.notes.get(c, 'off')}" for c in ("gpu", "cpu"))
                + ". Run `ecobench doctor`, or set footprint.require: any",
                "footprint.require",
            )
        for channel in self._meters.all:
            channel.start()
        self._sampler = Sampler(self._meters.all)
        self._sampler.start()
        self._started = True
        if self.config.idle_seconds > 0:
            self._measure_idle(self.config.idle_seconds)
        log.info("%s", self.summary_line())

    def _probe_gpu(self) -> None:
        cfg = self.config
        if cfg.gpu == "none":
            self._meters.notes["gpu"] = "off (footprint.gpu: none)"
            return
        self._nvml = probe = nvml.probe()
        if probe.problem:
            self._meters.notes["gpu"] = probe.problem
            if cfg.gpu != "auto":
                raise SensorError(f"footprint.gpu is {cfg.gpu!r} but {probe.problem}; run `ecobench doctor`", "footprint.gpu")
            return
        for device in probe.devices:
            if device.counter_supported and cfg.gpu in ("auto", "counter"):
                counter = nvml.NvmlCounterChannel(device, self.clock)
                self._meters.gpu_counter[counter.device] = counter
            elif cfg.gpu == "counter":
                raise SensorError(
                    f"footprint.gpu is 'counter' but GPU {device.visible_index} ({device.name}) has no "
                    "NVML energy counter (Volta or newer needed); use gpu: auto or power",
                    "footprint.gpu",
                )
            if device.power_supported and cfg.gpu in ("auto", "power"):
                power = nvml.NvmlPowerChannel(device, cfg.sample_interval_s, self.clock)
                self._meters.gpu_power[power.device] = power
            elif cfg.gpu == "power":
                raise SensorError(f"footprint.gpu is 'power' but GPU {device.visible_index} reports no power", "footprint.gpu")
            if not (device.counter_supported or device.power_supported):
                log.warning("GPU %d (%s): %s", device.visible_index, device.name, device.problem)

    def _probe_cpu(self) -> None:
        cfg = self.config
        if cfg.cpu == "none":
            self._meters.notes["cpu"] = "off (footprint.cpu: none)"
            return
        if cfg.cpu in ("auto", "rapl"):
            self._rapl = probe = rapl.probe(self.powercap_root)
            if probe.usable:
                self._meters.cpu = [rapl.RaplChannel(d, self.clock) for d in probe.usable]
                return
            if cfg.cpu == "rapl":
                raise SensorError(f"footprint.cpu is 'rapl' but RAPL is not readable: {probe.problem}", "footprint.cpu")
        self._cpu_info = info = estimate.cpu_model()
        mode = "constant" if cfg.cpu == "codecarbon-tdp" or not _psutil_ok() else "cpu_load"
        channel = estimate.CodecarbonCpuChannel(info, mode, self.clock)
        self._meters.cpu = [channel]
        rapl_note = f"no RAPL: {self._rapl.problem}" if self._rapl else "RAPL not tried"
        tdp_note = (
            f"{info.model} matched '{info.matched}' in its TDP table"
            if info.matched
            else f"{info.model} not in its TDP table, so its default {info.tdp_w or 0:g} W for {info.threads} threads"
        )
        self._meters.notes["cpu"] = f"{tdp_note}, max {channel.max_power_w:g} W; {rapl_note}"

    def _probe_ram(self) -> None:
        if self.config.ram == "none":
            self._meters.notes["ram"] = "off (footprint.ram: none)"
            return
        channel = estimate.CodecarbonRamChannel(self.clock)
        self._meters.ram = [channel]
        self._meters.notes["ram"] = f"{channel.power_w:g} W for {channel.memory_gb:.0f} GB"

    def _measure_idle(self, seconds: float) -> None:
        with self.window("idle-baseline") as w:
            time.sleep(seconds)
        m = w.result
        if m is None or m.wall_s <= 0:
            log.warning("idle baseline window measured no time; above-idle energy will be unknown")
            return
        self._idle = {c: m.component_energy_j(c) / m.wall_s for c in COMPONENTS}
        self._idle_devices = {d: e / m.wall_s for d, e in m.gpu_device_energy_j.items()}

    # -- windows -------------------------------------------------------------------------------

    @contextmanager
    def window(self, name: str) -> Iterator[Window]:
        """Measure the enclosed code. The result is set even when the code raises."""
        if not self._started:
            raise RuntimeError("Monitor.start() must be called once before the first window")
        w = Window(name)
        begin = self._read_all()
        t0, c0 = self.clock(), time.process_time()
        try:
            yield w
        finally:
            end = self._read_all()
            wall_s, cpu_s = self.clock() - t0, time.process_time() - c0
            w.result = self._measurement(name, wall_s, cpu_s, begin, end)

    def _read_all(self) -> dict[int, float]:
        self._cuda_sync()
        return {id(c): c.update() for c in self._meters.all}

    def _cuda_sync(self) -> None:
        """Wait for queued GPU work so the energy read at the edge belongs to this window.

        Only when this process has initialised CUDA (a process drives one GPU, DESIGN.md §7);
        synchronising devices it never touched would create a CUDA context on each.
        """
        if not self._meters.gpu_power and not self._meters.gpu_counter:
            return
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()

    def _measurement(
        self, name: str, wall_s: float, cpu_s: float, begin: dict[int, float], end: dict[int, float]
    ) -> Measurement:
        def used(channel: Channel) -> float:
            return end[id(channel)] - begin[id(channel)]

        m = Measurement(name=name, wall_s=wall_s, cpu_process_s=cpu_s)
        meters = self._meters
        # GPU: per device, the counter for long enough windows, else power samples
        sources = set()
        for device in sorted(set(meters.gpu_counter) | set(meters.gpu_power)):
            counter, power = meters.gpu_counter.get(device), meters.gpu_power.get(device)
            use_counter = counter is not None and counter.failed is None and (
                wall_s >= self.config.min_counter_window_s or power is None or power.failed is not None
            )
            chosen = counter if use_counter else power
            if chosen is None or chosen.failed is not None:
                continue
            m.gpu_device_energy_j[device] = used(chosen)
            sources.add(chosen.source)
        if m.gpu_device_energy_j:
            m.gpu_energy_j = sum(m.gpu_device_energy_j.values())
            # mixed devices report the weaker of the two methods
            m.gpu_source = NVML_POWER if NVML_POWER in sources else NVML_COUNTER
        for component in ("cpu", "ram"):
            channels = [c for c in getattr(meters, component) if c.failed is None]
            if channels:
                setattr(m, f"{component}_energy_j", sum(used(c) for c in channels))
                setattr(m, f"{component}_source", channels[0].source)
        if self._idle is not None:
            for component in COMPONENTS:
                if getattr(m, f"{component}_source") != NONE:
                    setattr(m, f"{component}_idle_w", self._idle[component])
        return m

    # -- reporting -----------------------------------------------------------------------------

    def measured_components(self) -> list[str]:
        meters = self._meters
        found = []
        if meters.gpu_counter or meters.gpu_power:
            found.append("gpu")
        if any(c.source.startswith("measured:") for c in meters.cpu):
            found.append("cpu")
        return found

    def _component_source(self, component: str) -> str:
        meters = self._meters
        if component == "gpu":
            if meters.gpu_counter:
                return NVML_COUNTER
            return NVML_POWER if meters.gpu_power else NONE
        channels = getattr(meters, component)
        return channels[0].source if channels else NONE

    def summary_line(self) -> str:
        """One line: what is measured and what is estimated on this machine, and the site."""
        meters = self._meters
        parts = []
        if meters.gpu_counter or meters.gpu_power:
            devices = sorted(set(meters.gpu_counter) | set(meters.gpu_power))
            how = "NVML energy counter" if meters.gpu_counter else "NVML power sampling"
            if meters.gpu_counter and len(meters.gpu_counter) < len(devices):
                how = "NVML energy counter where supported, else power sampling"
            parts.append(f"GPU measured ({how}, {len(devices)} device(s))")
        else:
            parts.append(f"GPU none ({meters.notes.get('gpu', 'not probed')})")
        cpu = self._component_source("cpu")
        if cpu == NONE:
            parts.append(f"CPU none ({meters.notes.get('cpu', 'not probed')})")
        elif cpu.startswith("measured:"):
            parts.append(f"CPU measured (RAPL, {len(meters.cpu)} package(s))")
        else:
            model = "load model" if cpu.endswith("cpu-load") else "TDP x 50 %"
            parts.append(f"CPU ESTIMATED (codecarbon {model}: {meters.notes['cpu']})")
        ram = self._component_source("ram")
        parts.append(
            f"RAM ESTIMATED (codecarbon model, {meters.notes['ram']})" if ram != NONE else "RAM none"
        )
        idle = (
            f"idle baseline {self.config.idle_seconds:g} s"
            if self.config.idle_seconds > 0
            else "no idle baseline (idle_seconds: 0)"
        )
        s = self.site
        site = (
            f"site {s.name}: PUE {s.pue:g}, {s.carbon_intensity_g_per_kwh:.0f} gCO2e/kWh, "
            f"WUE {s.wue_l_per_kwh:g} + EWIF {s.ewif_l_per_kwh:.2f} L/kWh"
        )
        return "footprint: " + "; ".join(parts) + f"; {idle}; {site}"

    def columns(self, m: Measurement) -> dict[str, Any]:
        """The flat row columns of one phase: energy, carbon, water, provenance and site factors."""
        s = self.site
        energy_kwh = m.energy_j / J_PER_KWH
        above = {c: m.above_idle_j(c) for c in COMPONENTS}
        above_total = None if any(v is None for v in above.values()) else sum(above.values())  # type: ignore[arg-type]
        sources = [m.gpu_source, m.cpu_source, m.ram_source]
        kinds = {src.split(":")[0] for src in sources if src != NONE}
        facility_kwh = energy_kwh * s.pue
        row: dict[str, Any] = {
            "wall_s": m.wall_s,
            "cpu_process_s": m.cpu_process_s,
            "energy_kwh": energy_kwh,
            "energy_gpu_kwh": m.gpu_energy_j / J_PER_KWH,
            "energy_cpu_kwh": m.cpu_energy_j / J_PER_KWH,
            "energy_ram_kwh": m.ram_energy_j / J_PER_KWH,
            "energy_above_idle_kwh": None if above_total is None else above_total / J_PER_KWH,
            "energy_gpu_above_idle_kwh": _kwh(above["gpu"]),
            "energy_cpu_above_idle_kwh": _kwh(above["cpu"]),
            "energy_ram_above_idle_kwh": _kwh(above["ram"]),
            "energy_facility_kwh": facility_kwh,
            "co2e_g": facility_kwh * s.carbon_intensity_g_per_kwh,
            "water_onsite_l": energy_kwh * s.wue_l_per_kwh,
            "water_offsite_l": energy_kwh * s.pue * s.ewif_l_per_kwh,
            "water_l": energy_kwh * (s.wue_l_per_kwh + s.pue * s.ewif_l_per_kwh),
            "source_gpu": m.gpu_source,
            "source_cpu": m.cpu_source,
            "source_ram": m.ram_source,
            "energy_provenance": "mixed" if len(kinds) > 1 else (kinds.pop() if kinds else NONE),
            "site_name": s.name,
            "site_country": s.country,
            "site_region": s.region,
            "pue": s.pue,
            "carbon_intensity_g_per_kwh": s.carbon_intensity_g_per_kwh,
            "carbon_intensity_source": s.carbon_intensity_source,
            "wue_l_per_kwh": s.wue_l_per_kwh,
            "ewif_l_per_kwh": s.ewif_l_per_kwh,
            "ewif_source": s.ewif_source,
        }
        return row

    def manifest(self) -> dict[str, Any]:
        """Meters and their provenance, devices, idle baseline per component (W), site factors."""
        import codecarbon

        meters = self._meters
        idle: dict[str, Any] | None = None
        if self._idle is not None:
            idle = {
                "seconds": self.config.idle_seconds,
                **{f"{c}_w": (self._idle[c] if self._component_source(c) != NONE else None) for c in COMPONENTS},
                "gpu_device_w": dict(self._idle_devices),
            }
        return {
            "summary": self.summary_line() if self._started else None,
            "sources": {c: self._component_source(c) for c in COMPONENTS},
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
                }
                for d in (self._nvml.devices if self._nvml else [])
            ],
            "nvml_driver": self._nvml.driver if self._nvml else None,
            "rapl": (
                {"root": str(self._rapl.root), "problem": self._rapl.problem,
                 "domains": [{"path": str(d.path), "name": d.name, "readable": d.readable,
                              "problem": d.problem} for d in self._rapl.domains]}
                if self._rapl else None
            ),
            "cpu_model": asdict(self._cpu_info) if self._cpu_info else None,
            "idle_baseline": idle,
            "above_idle_rule": "gross - idle_W x wall_s per component, floored at 0",
            "gpu_window_rule": (
                f"energy counter when the window lasts >= {self.config.min_counter_window_s:g} s, "
                f"else power samples every {self.config.sample_interval_s:g} s"
            ),
            "site": self.site.as_dict(),
            "config": self.config.model_dump(),
            "codecarbon_version": codecarbon.__version__,
        }

    def close(self) -> None:
        """Stop sampling and release NVML. Safe to call twice."""
        if self._sampler is not None:
            self._sampler.stop()
            self._sampler = None
        for channel in self._meters.all:
            channel.close()
        if self._nvml is not None:
            nvml.shutdown(self._nvml)

    def __enter__(self) -> Monitor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _kwh(joules: float | None) -> float | None:
    return None if joules is None else joules / J_PER_KWH


def _psutil_ok() -> bool:
    from codecarbon.core.cpu import is_psutil_available

    return bool(is_psutil_available())
