"""What one window measured: per component (gpu, cpu, ram) an energy or None, with its provenance.

Absence is not zero: a component without a meter, or whose meter failed during the window, has
`energy_j = None` and a `reason`; totals are sums over the components that are present.

Above idle, per component: gross - idle_W x wall_s, floored at 0. A negative difference is meter
noise around an idle phase; flooring keeps per-token and per-phase figures non-negative, at the
cost of a small upward bias on near-idle phases (the gross value is always reported beside it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ecobench.footprint.meters.base import NONE

COMPONENTS = ("gpu", "cpu", "ram")
J_PER_KWH = 3.6e6
ABOVE_IDLE_RULE = "gross - idle_W x wall_s per component, floored at 0"


@dataclass(frozen=True)
class ComponentEnergy:
    """One component's energy in one window. `energy_j` is None exactly when `source` is 'none'."""

    energy_j: float | None
    source: str = NONE  # provenance: measured:..., estimated:..., or none
    idle_w: float | None = None  # idle baseline power; None when no baseline was measured
    reason: str | None = None  # why energy_j is None (no meter, switched off, failed mid-run)
    attribution: str | None = None  # cpu only: "machine" or "process" (whose load the energy is)

    @property
    def present(self) -> bool:
        return self.energy_j is not None

    def above_idle_j(self, wall_s: float) -> float | None:
        """Gross minus idle power x wall time, floored at 0; None without energy or without a baseline."""
        if self.energy_j is None or self.idle_w is None:
            return None
        return max(0.0, self.energy_j - self.idle_w * wall_s)


def absent(reason: str) -> ComponentEnergy:
    return ComponentEnergy(None, NONE, reason=reason)


@dataclass
class Measurement:
    """What one window measured. Units are in the field names; each component says how it was obtained."""

    name: str
    wall_s: float
    cpu_process_s: float  # user + system CPU time of this process (all threads)
    components: dict[str, ComponentEnergy] = field(
        default_factory=lambda: {c: absent("not measured") for c in COMPONENTS}
    )
    gpu_device_energy_j: dict[str, float] = field(default_factory=dict)  # per device, as used for the GPU total
    # what other programs used during the window (footprint/contention.py); None: unknown
    other_cpu_s: float | None = None  # CPU seconds of the machine's others
    other_cpu_share: float | None = None  # of the machine's CPU capacity, 0..1
    other_cpu_span_s: float | None = None  # the interval that share was read over (>= wall_s: /proc/stat ticks)
    other_gpu_processes: int | None = None  # compute processes outside this tree on the metered GPUs
    contended: bool = False  # others above footprint.quiet.max_other_cpu, or another process on the GPU

    def present(self) -> list[str]:
        return [c for c in COMPONENTS if self.components[c].present]

    @property
    def energy_j(self) -> float | None:
        """IT energy: the sum over the components that have a value; None when none has."""
        values = [self.components[c].energy_j for c in self.present()]
        return sum(values) if values else None  # type: ignore[arg-type]

    def above_idle_j(self, component: str | None = None) -> float | None:
        """Above idle for one component, or (None) the sum over present components.

        The total is None when no component is present, or when a present one has no baseline: a sum that
        silently left out a measured component would not be the IT energy above idle."""
        if component is not None:
            return self.components[component].above_idle_j(self.wall_s)
        values = [self.components[c].above_idle_j(self.wall_s) for c in self.present()]
        if not values or any(v is None for v in values):
            return None
        return sum(values)  # type: ignore[arg-type]

    @property
    def provenance(self) -> str:
        """measured | estimated | mixed | none, over the present components."""
        kinds = {self.components[c].source.split(":")[0] for c in self.present()}
        return "mixed" if len(kinds) > 1 else (kinds.pop() if kinds else NONE)


@dataclass
class Window:
    name: str
    result: Measurement | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def kwh(joules: float | None) -> float | None:
    return None if joules is None else joules / J_PER_KWH
