"""Named measurement windows: `with monitor.window("train") as w: ...` then `w.result`.

`Monitor(config)` is cheap. `start()` probes the meters once (footprint/probe.py), fails with SensorError if the
suite requires a measurement this machine cannot make, starts the sampler thread and measures the idle baseline.
Each window reads every channel at its two edges and returns a `Measurement` (footprint/measurement.py); `columns()`
turns it into the row's columns. The edges hug the work: the start reads the meters (the GPU last) and then the
clock; the end synchronizes CUDA (when in use), takes the clock, then reads the meters (the GPU first), so the
meters' own reading time (a process-tree walk: ~1 ms) is never inside the window's wall time.

A window shorter than one of its meters resolves (`Meters.min_window_s`: 100x the meter's resolution, 2 s for
NVML) keeps its value but its source becomes `unreliable:short-window`, never `measured`. Every window also records
how much of the machine other programs used (footprint/contention.py) and whether that makes it contended
(`footprint.quiet.max_other_cpu`; on a GPU, another process on the device).

A channel that failed (a RAPL file that vanished, a driver error) stops counting; every window it does not
cover in full gives its component None with the failure as the reason, never 0 and never a partial sum.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ecobench.config.footprint import FootprintConfig
from ecobench.errors import SensorError
from ecobench.footprint.columns import row_columns
from ecobench.footprint.contention import ContentionTracker
from ecobench.footprint.embodied import Hardware, resolve_hardware
from ecobench.footprint.manifest import footprint_manifest
from ecobench.footprint.measurement import COMPONENTS, ComponentEnergy, Measurement, Window, absent
from ecobench.footprint.meters import cputime, nvml, rapl
from ecobench.footprint.meters.base import NVML_POWER, SHORT_WINDOW, Channel, Clock
from ecobench.footprint.probe import Meters, probe_meters
from ecobench.footprint.sampler import Sampler
from ecobench.footprint.site import Site, resolve_site
from ecobench.footprint.summary import summary_line
from ecobench.footprint.uncertainty import row_intervals

log = logging.getLogger(__name__)

__all__ = ["ComponentEnergy", "Measurement", "Monitor", "Window"]


class Monitor:
    """Probes meters once, measures idle once, then measures any number of named windows."""

    def __init__(
        self,
        config: FootprintConfig | None = None,
        *,
        powercap_root: Path | str = rapl.DEFAULT_POWERCAP_ROOT,
        clock: Clock = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
        device: str | None = None,
        contention: ContentionTracker | None = None,
    ):
        self.config = config or FootprintConfig()
        # where the work runs ('cpu', 'cuda:N'): the only GPU metered, none for 'cpu'; None: every visible GPU
        self.device = device
        self.site: Site = resolve_site(self.config.site)
        self.hardware: Hardware = resolve_hardware([])  # what embodied carbon is charged against; set by start()
        self.powercap_root = Path(powercap_root)
        self.clock = clock
        self.sleep = sleep  # the idle baseline waits with it; tests pass their fake clock's advance
        self._meters = Meters()
        self._sampler: Sampler | None = None
        self._idle: dict[str, float | None] | None = None  # component -> W
        self._idle_devices: dict[str, float] = {}
        self._started = False
        self.contention = contention or ContentionTracker()

    # -- setup ---------------------------------------------------------------------------------

    def start(self, measure_idle: bool = True) -> None:
        """Probe meters, enforce `require`, start sampling, measure the idle baseline (unless told not to: a
        caller that opens an enclosing window first measures it afterwards with `measure_idle()`)."""
        if self._started:
            return
        self._meters = probe_meters(self.config, self.powercap_root, self.clock, self.device)
        if self.config.require == "measured" and not self._meters.measured():
            self.close()
            raise SensorError(
                "footprint.require is 'measured' but nothing on this machine is measured: "
                + "; ".join(f"{c.upper()}: {self._meters.notes.get(c, 'off')}" for c in ("gpu", "cpu"))
                + ". Run `ecobench doctor`, or set footprint.require: any",
                "footprint.require",
            )
        for channel in self._meters.all:
            channel.start()
        gpus = {**self._meters.gpu_power, **self._meters.gpu_counter}
        self.hardware = resolve_hardware([getattr(getattr(c, "gpu", None), "name", "unknown") for c in gpus.values()])
        self._sampler = Sampler(self._meters.all)
        self._sampler.start()
        self._started = True
        if measure_idle:
            self.measure_idle()
        log.info("%s", self.summary_line())

    def measure_idle(self) -> None:
        """The idle baseline, `footprint.idle_seconds` long (nothing when 0)."""
        if self.config.idle_seconds > 0:
            self._measure_idle(self.config.idle_seconds)

    def _measure_idle(self, seconds: float) -> None:
        with self.window("idle-baseline") as w:
            self.sleep(seconds)
        m = w.result
        if m is None or m.wall_s <= 0:
            log.warning("idle baseline window measured no time; above-idle energy will be unknown")
            return
        self._idle = {
            c: (e.energy_j / m.wall_s if e.energy_j is not None else None) for c, e in m.components.items()
        }
        self._idle_devices = {d: e / m.wall_s for d, e in m.gpu_device_energy_j.items()}

    # -- windows -------------------------------------------------------------------------------

    @contextmanager
    def window(self, name: str) -> Iterator[Window]:
        """Measure the enclosed code. The result is set even when the code raises."""
        w = Window(name)
        running = self.begin(name)
        try:
            yield w
        finally:
            w.result = running.end()

    def begin(self, name: str) -> RunningWindow:
        """Open a window that spans more than one block of code (the whole run); `peek()` reads it so far."""
        if not self._started:
            raise RuntimeError("Monitor.start() must be called once before the first window")
        return RunningWindow(self, name)

    def _read_all(self, gpu_first: bool = True) -> dict[int, tuple[float, bool]]:
        """Each channel's running total, and whether it was still counting when read. The GPU is read nearest the
        work: first at a window's end, last at its start."""
        out = {}
        channels = self._meters.all  # GPU channels first
        for c in channels if gpu_first else channels[::-1]:
            total = c.update()
            out[id(c)] = (total, c.failed is None)
        return out

    @property
    def min_window_s(self) -> float:
        """How long a measured window must last for this machine's meters (`footprint.min_window_s` overrides)."""
        return self._meters.min_window_s(self.config.min_window_s)[0]

    def _needed_s(self, component: str) -> float:
        """How long a window must last for this component's meter."""
        if self.config.min_window_s is not None:
            return self.config.min_window_s
        if component == "gpu":
            return self._meters.min_window_s(None)[0] if self._meters.gpu_devices else 0.0
        channels = self._meters.cpu if component == "cpu" else self._meters.ram
        return max((c.resolution_s for c in channels), default=0.0) / 0.01

    def _other_gpu_processes(self) -> int | None:
        """Compute processes outside this process tree on the metered GPUs (None: unknown, or no GPU metered)."""
        nv = self._meters.nvml
        if nv is None or not self._meters.gpu_devices:
            return None
        own = cputime.tree_pids()
        counts = [nvml.other_processes(d, own) for d in nv.devices]
        return None if not counts or None in counts else sum(counts)  # type: ignore[arg-type]

    def _cuda_sync(self) -> None:
        """Wait for queued GPU work so the energy read at the edge belongs to this window.

        Only when this process has initialised CUDA, and only the work's device (the current one when unnamed);
        synchronising devices it never touched would create a CUDA context on each.
        """
        if not self._meters.gpu_devices:
            return
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize(self.device)

    def _measurement(self, name: str, wall_s: float, cpu_s: float, begin: dict, end: dict) -> Measurement:
        def ok(channel: Channel | None) -> bool:  # counting at both edges: covers the whole window
            return channel is not None and begin[id(channel)][1] and end[id(channel)][1]

        def used(channel: Channel) -> float:
            return end[id(channel)][0] - begin[id(channel)][0]

        meters = self._meters
        m = Measurement(name=name, wall_s=wall_s, cpu_process_s=cpu_s)
        # GPU: per device, the counter for long enough windows, else power samples; a device with neither
        # makes the GPU total unknown (a sum over the other devices would be partial)
        if meters.gpu_devices:
            sources, missing = set(), []
            for device in meters.gpu_devices:
                counter, power = meters.gpu_counter.get(device), meters.gpu_power.get(device)
                use_counter = ok(counter) and (wall_s >= self.config.min_counter_window_s or not ok(power))
                chosen = counter if use_counter else power if ok(power) else None
                if chosen is None:
                    missing.append(f"{device}: {_failure(counter, power)}")
                    continue
                m.gpu_device_energy_j[device] = used(chosen)
                sources.add(chosen.source)
            if missing:
                m.components["gpu"] = absent("meter failed: " + "; ".join(missing))
                m.gpu_device_energy_j = {}
            else:
                source = NVML_POWER if NVML_POWER in sources else sources.pop()  # mixed: the weaker method
                m.components["gpu"] = ComponentEnergy(sum(m.gpu_device_energy_j.values()), source)
        else:
            m.components["gpu"] = absent(meters.notes.get("gpu", "no GPU meter"))
        for component in ("cpu", "ram"):
            channels = meters.cpu if component == "cpu" else meters.ram
            if not channels:
                m.components[component] = absent(meters.notes.get(component, f"no {component.upper()} meter"))
            elif not all(ok(c) for c in channels):
                failed = "; ".join(f"{c.device}: {c.failed}" for c in channels if c.failed)
                m.components[component] = absent(f"meter failed: {failed}")
            else:
                attribution = meters.cpu_attribution() if component == "cpu" else meters.ram_attribution()
                m.components[component] = ComponentEnergy(
                    sum(used(c) for c in channels), channels[0].source, attribution=attribution
                )
        if self._idle is not None:
            for c in COMPONENTS:
                e = m.components[c]
                if e.present and self._idle.get(c) is not None:
                    m.components[c] = ComponentEnergy(e.energy_j, e.source, self._idle[c], e.reason, e.attribution)
        for c in COMPONENTS:  # too short for its meter: kept, but never called measured (nor estimated)
            e, need = m.components[c], self._needed_s(c)
            if e.present and wall_s < need:
                m.components[c] = ComponentEnergy(e.energy_j, SHORT_WINDOW, e.idle_w, f"window {wall_s:.3g} s < the "
                                                  f"{need:.3g} s its meter ({e.source}) needs", e.attribution)
        return m

    def _contended(self, m: Measurement) -> bool:
        """Others used more than `quiet.max_other_cpu` of the machine, or another process used the metered GPU
        (False when neither is known: `other_cpu_share` None says so)."""
        if m.other_gpu_processes:
            return True
        return m.other_cpu_share is not None and m.other_cpu_share > self.config.quiet.max_other_cpu

    # -- reporting -----------------------------------------------------------------------------

    def measured_components(self) -> list[str]:
        return self._meters.measured()

    def summary_line(self) -> str:
        """One line: what is measured and what is estimated on this machine, and the site."""
        return summary_line(self._meters, self.config, self.site)

    def columns(self, m: Measurement) -> dict[str, Any]:
        """The flat row columns of one phase: energy, carbon, water, provenance and site factors."""
        return row_columns(m, self.site)

    def finish_row(self, row: dict[str, Any]) -> dict[str, Any]:
        """A phase row as stored: with its carbon and water intervals and its embodied carbon, computed once here."""
        return {**row, **row_intervals(row, self.site.factor_ranges),
                **self.hardware.columns(row.get("wall_s"), row.get("cpu_process_s"))}

    def manifest(self) -> dict[str, Any]:
        """Meters and their provenance, devices, idle baseline per component (W), site factors."""
        summary = self.summary_line() if self._started else None
        out = footprint_manifest(self._meters, self.config, self.site, self._idle, self._idle_devices, summary)
        return {**out, "work_device": self.device, "embodied": self.hardware.as_dict()}

    def close(self) -> None:
        """Stop sampling and release NVML. Safe to call twice."""
        if self._sampler is not None:
            self._sampler.stop()
            self._sampler = None
        for channel in self._meters.all:
            channel.close()
        if self._meters.nvml is not None:
            nvml.shutdown(self._meters.nvml)

    def __enter__(self) -> Monitor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RunningWindow:
    """An open window: its start edge is read; `peek()` measures up to now, `end()` closes it. Windows nest:
    each keeps its own edges, so one inside another is counted once in each, never subtracted."""

    def __init__(self, monitor: Monitor, name: str):
        self.monitor, self.name = monitor, name
        monitor._cuda_sync()  # queued work from before is not this window's
        self._load0 = monitor.contention.snapshot(monitor.clock())  # the slowest read (a process-tree walk): first
        self._begin = monitor._read_all(gpu_first=False)
        self._t0, self._c0 = monitor.clock(), time.process_time()
        self.result: Measurement | None = None

    def peek(self) -> Measurement:
        """What the window has measured so far (the window stays open)."""
        m = self.monitor
        m._cuda_sync()
        t1, c1 = m.clock(), time.process_time()  # the edge: right after the synchronize, before any meter
        end = m._read_all(gpu_first=True)
        load = m.contention.snapshot(t1)
        result = m._measurement(self.name, t1 - self._t0, c1 - self._c0, self._begin, end)
        other = m.contention.other(self._load0, load)
        result.other_cpu_s, result.other_cpu_share, result.other_cpu_span_s = other.cpu_s, other.share, other.span_s
        result.other_gpu_processes = m._other_gpu_processes()
        result.contended = m._contended(result)
        return result

    def end(self) -> Measurement:
        if self.result is None:
            self.result = self.peek()
        return self.result


def _failure(*channels: Channel | None) -> str:
    return "; ".join(c.failed for c in channels if c is not None and c.failed) or "no usable meter"
