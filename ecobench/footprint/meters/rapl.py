"""CPU package energy from Linux powercap (RAPL): /sys/class/powercap/intel-rapl:N/energy_uj.

The counter wraps at `max_energy_range_uj` (about 262 kJ on many parts: minutes at full load), so
the sampler reads it every second and adds wrapped deltas. Since Linux 5.10 `energy_uj` is root-only
(CVE-2020-8694); `probe()` says why a domain is unusable so `ecobench doctor` can print the fix.
AMD parts expose the same tree (as intel-rapl) on recent kernels.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from ecobench.footprint.meters.base import RAPL, Channel, Clock

log = logging.getLogger(__name__)

DEFAULT_POWERCAP_ROOT = Path("/sys/class/powercap")
RAPL_FIX = (
    "energy_uj is readable by root only (Linux >= 5.10); to let this user read it until reboot: "
    "sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj "
    "(or a udev rule / run as root; in a container, also mount /sys/class/powercap)"
)


@dataclass
class RaplDomain:
    """One top-level package domain and whether we can read it."""

    path: Path
    name: str
    max_energy_range_uj: int | None = None
    readable: bool = False
    problem: str | None = None


@dataclass
class RaplProbe:
    root: Path
    domains: list[RaplDomain] = field(default_factory=list)
    problem: str | None = None  # why nothing is usable, when nothing is

    @property
    def usable(self) -> list[RaplDomain]:
        return [d for d in self.domains if d.readable]


def probe(root: Path = DEFAULT_POWERCAP_ROOT) -> RaplProbe:
    """Find package domains (`intel-rapl:N` named package-*), skipping sub-domains and psys."""
    result = RaplProbe(root=root)
    if not root.is_dir():
        result.problem = f"{root} does not exist (no powercap driver, or not mounted in this container)"
        return result
    tops = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)
    for path in tops:
        try:
            name = (path / "name").read_text().strip()
        except OSError as err:
            name = f"? ({err.strerror})"
        if not name.startswith("package"):
            continue  # psys would double-count the packages; sub-domains are inside them
        domain = RaplDomain(path=path, name=name)
        try:
            int((path / "energy_uj").read_text())
            domain.max_energy_range_uj = int((path / "max_energy_range_uj").read_text())
            domain.readable = True
        except PermissionError:
            domain.problem = f"{path / 'energy_uj'}: permission denied; {RAPL_FIX}"
        except (OSError, ValueError) as err:
            domain.problem = f"{path / 'energy_uj'}: unreadable ({err})"
        result.domains.append(domain)
    if not result.domains:
        result.problem = f"no intel-rapl package domain under {root}"
    elif not result.usable:
        result.problem = "; ".join(d.problem or "" for d in result.domains)
    return result


class RaplChannel(Channel):
    """One package's energy counter, with wrap-around handled."""

    component = "cpu"
    source = RAPL
    poll_period_s = 1.0  # far below the shortest wrap time (minutes)
    resolution_s = 1e-3  # the energy_uj counters update about every millisecond

    def __init__(self, domain: RaplDomain, clock: Clock = time.perf_counter):
        super().__init__(clock)
        self.domain = domain
        self.device = domain.name
        self._energy_file = domain.path / "energy_uj"
        self._max_uj = domain.max_energy_range_uj or 0
        self._last_uj = 0

    def _read_uj(self) -> int:
        return int(self._energy_file.read_text())

    def _first_reading(self) -> None:
        self._last_uj = self._read_uj()

    def _energy_since_last_j(self) -> float:
        now = self._read_uj()
        delta = now - self._last_uj
        if delta < 0:  # wrapped once since the last read (we read far more often than it wraps)
            delta += self._max_uj
            if delta < 0:
                log.warning("RAPL %s went backwards without a known range; dropping %d uJ", self.device, delta)
                delta = 0
        self._last_uj = now
        return delta / 1e6

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "path": str(self.domain.path), "max_energy_range_uj": self._max_uj}
