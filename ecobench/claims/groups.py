"""Which cells a side of a claim takes: the rows of a cell table (one row per cell, planned by the sweep) that match
a group. The same selection serves `validate` (a group with no cells is refused) and the verdicts."""

from __future__ import annotations

import math

import pandas as pd

from ecobench.config.claims import REFERENCES, GroupConfig, RatioRange

TOL = 1e-9  # ratios are compared as the sweep wrote them; floats from YAML and JSON round-trip exactly


def _listed(v: str | list[str]) -> list[str]:
    return v if isinstance(v, list) else [v]


def _ratio_match(ratios: pd.Series, sel: float | list[float] | RatioRange) -> pd.Series:
    r = pd.to_numeric(ratios, errors="coerce")
    if isinstance(sel, RatioRange):
        return (r >= sel.min - TOL) & (r <= sel.max + TOL)
    wanted = sel if isinstance(sel, list) else [sel]
    return r.apply(lambda x: not math.isnan(x) and any(abs(x - w) <= TOL for w in wanted))


def select(group: str | GroupConfig, cells: pd.DataFrame) -> pd.Series:
    """Boolean mask of the cells (columns method, structure, scope, ratio, recovered) a group takes."""
    if isinstance(group, str):
        return cells["method"] == group
    mask = ~cells["method"].isin(REFERENCES)  # a mapping selects pruned cells; the references are named as such
    if group.method is not None:
        mask &= cells["method"].isin(_listed(group.method))
    if group.structure is not None:
        mask &= cells["structure"].isin(_listed(group.structure))
    if group.scope is not None:
        mask &= cells["scope"].isin(_listed(group.scope))
    if group.ratio is not None:
        mask &= _ratio_match(cells["ratio"], group.ratio)
    if group.recovered is not None:
        mask &= cells["recovered"] == group.recovered
    return mask
