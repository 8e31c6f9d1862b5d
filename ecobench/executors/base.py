"""What every executor is given (a SweepJob) and gives back (rows through `emit`, and how the sweep ended)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ecobench.config.schema import Suite
from ecobench.errors import UserError
from ecobench.footprint import FootprintConfig, Monitor
from ecobench.record import CellRecord
from ecobench.store import RunStore
from ecobench.sweep import Cell


@dataclass(frozen=True)
class ExecutorOptions:
    """The command line's say in where work runs (`ecobench run --executor ... --address ... --shared-dir ...`)."""

    address: str | None = None  # ray: a running cluster ('auto', HOST:PORT); None starts one on this machine
    shared_dir: Path | None = None  # ray: dense checkpoints through this path (seen by every node), not the object store


@dataclass
class SweepJob:
    """One session's remaining work and the driver's hooks. The store is read here (dense folders, finished rows);
    only `emit` writes to it."""

    suite: Suite
    todo: list[Cell]
    store: RunStore
    monitor: Monitor  # the driver's meters: the local executor measures every window with them
    emit: Callable[[CellRecord], None]  # append one finished row (the driver's store) and count it
    over_budget: Callable[[float], bool]  # True once the run's energy, plus `kWh` measured elsewhere, passes the budget
    status: Callable[[str], None] = lambda _: None  # what is running now, for the progress bar
    progress: bool = True
    notes: dict[str, Any] = field(default_factory=dict)  # what the executor learnt while running, for the manifest
    repeats: int | None = None  # pairs per measured workload (measure.paired_repeats); None: footprint.repeats


class Executor(Protocol):
    name: str

    def open(self, suite: Suite) -> dict[str, Any]:
        """Connect to whatever runs the work (before the meters' set-up); return what the manifest records."""

    def run(self, job: SweepJob) -> str:
        """Run the job's cells, emitting each record; 'complete', 'budget' when `over_budget` stopped it, or
        'contention' when a busy machine did (footprint.on_contention: stop)."""

    def account(self, session: dict[str, Any]) -> dict[str, Any]:
        """The session's footprint (the driver's run window) with what ran elsewhere added."""

    def close(self) -> None:
        """Release what `open` took; safe after a failed open and twice."""


REGISTRY: dict[str, Callable[[ExecutorOptions], Executor]] = {}


def register(name: str, factory: Callable[[ExecutorOptions], Executor]) -> None:
    REGISTRY[name] = factory


def make_executor(name: str, options: ExecutorOptions | None = None) -> Executor:
    """The executor called `name` (a UserError naming the choices when there is none)."""
    if name not in REGISTRY:
        raise UserError(f"--executor: unknown executor {name!r}; one of {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name](options or ExecutorOptions())


def driver_footprint(config: FootprintConfig, executor: str) -> FootprintConfig:
    """The driver's meter settings: a remote executor's driver does no GPU work and meters its CPU only (its tasks
    meter their GPUs, and enforce footprint.require on their own nodes)."""
    if executor == "local":
        return config
    return config.model_copy(update={"gpu": "none", "require": "any"})


def say_kept(done: dict[str, CellRecord], seed: int, dense_sha: str | None) -> None:
    """Finished cells keep their rows when their seed's dense model is trained again (after a damaged checkpoint):
    each row names the checkpoint it started from, so say when they differ."""
    other = [r for r in done.values() if r.cell.seed == seed and r.dense_sha256 not in (None, dense_sha)]
    if other:
        print(f"seed {seed}: {len(other)} finished cell(s) keep their rows, computed from an earlier dense checkpoint "
              f"(their dense_sha256 differs from the current one)", file=sys.stderr)
