"""Suite -> cells: the points of the sweep, in run order. A method's options decide its own cut points."""

from __future__ import annotations

from dataclasses import dataclass

from ecobench.config.schema import Suite
from ecobench.prune.methods import MethodOptions

DENSE = "dense"  # a cell's method for the unpruned reference


@dataclass(frozen=True)
class Cell:
    """One (seed, method, scope, ratio or multiplier) point of the sweep. `ratio` 0 with method 'dense' is the reference."""

    seed: int
    method: str  # the method's label
    scope: str  # 'layer' | 'global' | '-' for the dense reference
    ratio: float | None  # target sparsity; None for threshold=std cells
    multiplier: float | None = None  # the paper's r for threshold=std cells

    @property
    def key(self) -> str:
        target = f"r{self.ratio:g}" if self.ratio is not None else f"std{self.multiplier:g}"
        return f"seed{self.seed}/{self.method}/{self.scope}/{target}"

    @property
    def is_dense(self) -> bool:
        return self.method == DENSE


def expand(suite: Suite) -> list[Cell]:
    """The sweep in run order: per seed, the dense reference then every method's cut points (scope x ratio)."""
    cells: list[Cell] = []
    ratios = sorted(suite.prune.ratios)
    for seed in suite.seeds:
        cells.append(Cell(seed, DENSE, "-", 0.0))
        for m in suite.prune.methods:
            cells += [Cell(seed, m.display, scope, r, mult) for scope, r, mult in m.cut_points(ratios, suite.prune.scopes)]
    return cells


def method_by_label(suite: Suite, label: str) -> MethodOptions:
    for m in suite.prune.methods:
        if m.display == label:
            return m
    raise KeyError(label)
