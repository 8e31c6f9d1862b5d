"""Embodied carbon: the hardware's manufacturing footprint, amortised over its lifetime by the machine-time a phase
used. Kept in its own columns (`embodied_co2e_g` with low/high); never added into operational `co2e_g`.

    embodied (g) = server kgCO2e x 1000 x machine-seconds used / lifetime seconds
    machine-seconds: GPU run: wall_s x GPUs measured / the server's GPUs; CPU run: the process's CPU seconds / the
                     server's logical CPUs (what a cloud charges a VM of that many vCPUs)

Numbers: data/embodied.json (Boavizta's archetypes as boaviztapi 2.5.0 computes them, EcoLogits as the cross-check;
the file says why the package itself is not a dependency). Embodied water has no usable source: absent, never 0.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from typing import Any

WATER_SOURCE = ("none: no source has a usable embodied water figure (boaviztapi's is a generic placeholder, "
                "EcoLogits has none)")


@cache
def data() -> dict[str, Any]:
    return json.loads(resources.files("ecobench.footprint").joinpath("data/embodied.json").read_text())


@dataclass(frozen=True)
class Hardware:
    """The server a run is charged against: its embodied kgCO2e (low, central, high) and how much of it one run uses."""

    archetype: str
    kg: float
    kg_low: float
    kg_high: float
    lifetime_s: float
    server_gpus: int  # GPUs in the archetype
    server_threads: int  # logical CPUs in the archetype
    gpus_used: int  # GPUs this run measures (0: a CPU run)
    source: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def columns(self, wall_s: float | None, cpu_process_s: float | None) -> dict[str, Any]:
        """A phase's embodied columns; None when the time it used is unknown."""
        if self.gpus_used:
            machine_s = None if wall_s is None else wall_s * self.gpus_used / self.server_gpus
        else:
            machine_s = None if cpu_process_s is None else cpu_process_s / self.server_threads
        per_s = 1000.0 / self.lifetime_s  # g per kg, per second of the lifetime

        def g(kg: float) -> float | None:
            return None if machine_s is None else kg * per_s * machine_s

        return {
            "embodied_co2e_g": g(self.kg), "embodied_co2e_g_low": g(self.kg_low), "embodied_co2e_g_high": g(self.kg_high),
            "embodied_machine_s": machine_s, "embodied_source": self.source,
            "embodied_water_l": None, "embodied_water_source": WATER_SOURCE,
        }


def resolve_hardware(gpu_names: list[str]) -> Hardware:
    """The archetype for the GPUs a run measures (none: a CPU run), by the rules in data/embodied.json."""
    d = data()
    arch = d["archetypes"]
    life = float(d["lifetime_hours"]) * 3600
    if gpu_names:
        large = all(any(tag.lower() in n.lower() for tag in d["rules"]["large_gpus"]) for n in gpu_names)
        name = "platfom_gpucompute_veryhigh" if large else "platfom_gpucompute_medium"
        a = arch[name]
        high = a["kg_max"] if large else arch["platfom_gpucompute_veryhigh"]["kg_max"]
        return Hardware(name, a["kg"], a["kg_min"], high, life, a["gpus"], a["threads"], len(gpu_names),
                        f"boavizta:{name}" + ("" if large else ":widened"))
    a = arch["platform_compute_medium"]
    return Hardware("platform_compute_medium", a["kg"], arch["platform_compute_low"]["kg_min"],
                    arch["platform_compute_high"]["kg_max"], life, a["gpus"], a["threads"], 0,
                    "boavizta:platform_compute_medium:widened (unknown server)")
