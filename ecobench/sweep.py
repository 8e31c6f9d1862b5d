"""Suite -> cells: the points of the sweep, in run order. A method's options decide its own cut points; a structure
other than unstructured decides them itself (N:M: one cell at its fixed sparsity; structured: each ratio, per layer)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ecobench.config.methods import MethodOptions
from ecobench.config.schema import Suite
from ecobench.errors import SuiteError

DENSE = "dense"  # a cell's method for the unpruned reference
CONTROL = "dense+recover"  # the dense model trained the recovery steps too, no mask: the fair reference for recovery
UNSTRUCTURED = "unstructured"
STRUCTURED = "structured"


def nm_sparsity(structure: str) -> float:
    """'2:4' -> 0.5: the sparsity an N:M pattern fixes (1 - N/M)."""
    n, m = (int(x) for x in structure.split(":"))
    return 1 - n / m


@dataclass(frozen=True)
class Cell:
    """One (seed, method, structure, scope, ratio or multiplier) point of the sweep; method 'dense' is the reference."""

    seed: int
    method: str  # the method's label
    scope: str  # 'layer' | 'global' | '-' for the dense reference
    ratio: float | None  # target sparsity (N:M: 1 - N/M; structured: fraction of neurons/heads); None for std cells
    multiplier: float | None = None  # the paper's r for threshold=std cells
    structure: str = UNSTRUCTURED  # 'unstructured' | 'N:M' ('2:4') | 'structured'

    @property
    def key(self) -> str:
        """Unstructured keys are those of runs made before structures existed, so their folders resume."""
        target = f"r{self.ratio:g}" if self.ratio is not None else f"std{self.multiplier:g}"
        if self.structure == UNSTRUCTURED:
            return f"seed{self.seed}/{self.method}/{self.scope}/{target}"
        return f"seed{self.seed}/{self.method}/{self.structure}/{self.scope}/{target}"

    @property
    def is_dense(self) -> bool:
        return self.method == DENSE

    @property
    def is_control(self) -> bool:
        return self.method == CONTROL

    @property
    def is_nm(self) -> bool:
        return ":" in self.structure


def _points(m: MethodOptions, structure: str, ratios: list[float], scopes: list[str]):
    """(scope, ratio, multiplier) of one method under one structure."""
    if structure == UNSTRUCTURED:
        return m.cut_points(ratios, scopes)
    if structure == STRUCTURED:  # one width per layer in a config: per-layer only (schema checks scope has layer)
        return [("layer", r, None) for r in ratios if r > 0]
    return [("layer", nm_sparsity(structure), None)]  # N:M: ratio and scope do not apply


def expand(suite: Suite) -> list[Cell]:
    """The sweep in run order: per seed, the dense reference, its dense+recover control when pruned cells recover,
    then every method's cut points per structure."""
    cells: list[Cell] = []
    ratios = sorted(suite.prune.ratios)
    for seed in suite.seeds:
        cells.append(Cell(seed, DENSE, "-", 0.0))
        if suite.prune.recover_steps:
            cells.append(Cell(seed, CONTROL, "-", 0.0))
        for m in suite.prune.methods:
            for st in suite.prune.structures:
                cells += [Cell(seed, m.display, scope, r, mult, st)
                          for scope, r, mult in _points(m, st, ratios, suite.prune.scopes)]
    keys = Counter(c.key for c in cells)
    if len(keys) != len(cells):  # the schema refuses what would collide; this keeps keys unique by construction
        raise SuiteError(f"prune: cells share a key ({', '.join(k for k, n in keys.items() if n > 1)}); a row would "
                         "hide another")
    return cells


def method_by_label(suite: Suite, label: str) -> MethodOptions:
    for m in suite.prune.methods:
        if m.display == label:
            return m
    raise KeyError(label)
