"""Loading one or more results folders for a report, and refusing to mix suites that measure different things."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ecobench.errors import ResultsError
from ecobench.report.formats import one_line
from ecobench.report.tables import water_conventions
from ecobench.results import load, load_manifest

# Suites may differ in these and still be compared: they pick which points of the same experiment were run.
COMPARABLE_FIELDS = ("name", "seeds", "prune.ratios")


@dataclass
class Runs:
    """The phase rows of every run (a `run` column tells them apart) and each run's manifest, by run name."""

    rows: pd.DataFrame
    manifests: dict[str, dict]
    paths: dict[str, Path]

    @property
    def names(self) -> list[str]:
        return list(self.manifests)


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: d}


def suite_differences(a: dict, b: dict) -> list[str]:
    """Dotted suite fields that differ between two resolved suites, ignoring name, seeds and ratios: 'field: a's
    value != b's value'."""
    fa, fb = _flatten(a), _flatten(b)
    out = []
    for key in sorted(set(fa) | set(fb)):
        if key in COMPARABLE_FIELDS or fa.get(key, "<absent>") == fb.get(key, "<absent>"):
            continue
        out.append(f"{key}: {fa.get(key, '<absent>')!r} != {fb.get(key, '<absent>')!r}")
    return out


def _unique_names(paths: list[Path]) -> list[str]:
    """Run names are folder names; folders of the same name are named by the shortest path suffix that tells them
    apart (`x/res/run`, `y/res/run` -> `x/res/run`, `y/res/run`), so no two runs share a label and get pooled."""
    parts = [p.resolve().parts for p in paths]
    names = []
    for i, me in enumerate(parts):
        others = [q for j, q in enumerate(parts) if j != i]
        k = 1
        while k < len(me) and any(q[-k:] == me[-k:] for q in others):
            k += 1
        names.append(one_line("/".join(me[-k:]).lstrip("/") or str(paths[i])))
    return names


def _refuse_mixed_water(names: list[str], frames: list[pd.DataFrame]) -> None:
    """Water from different EWIF conventions (hydro evaporation in or out, a given value) is not comparable."""
    by_run = {n: water_conventions(df) for n, df in zip(names, frames, strict=True)}
    if len({c for cs in by_run.values() for c in cs}) > 1:
        seen = "; ".join(f"{n}: {', '.join(cs)}" for n, cs in by_run.items())
        raise ResultsError(f"these runs use different water (EWIF) conventions ({seen}); their water figures are not "
                           "comparable; pass --force to put them in one table anyway")


def load_runs(paths: list[str | Path], force: bool = False) -> Runs:
    """Load each folder; refuse (unless `force`) runs whose suites differ in more than name, seeds or ratios."""
    if not paths:
        raise ResultsError("no results folder given")
    resolved = [Path(p) for p in paths]
    if len({p.resolve() for p in resolved}) != len(resolved):
        raise ResultsError("the same results folder is given twice")
    names = _unique_names(resolved)
    manifests = {n: load_manifest(p) for n, p in zip(names, resolved, strict=True)}
    frames = []
    for n, p in zip(names, resolved, strict=True):
        df = load(p, force=force)
        df["run"] = n
        frames.append(df)
    if not force:
        _refuse_mixed_water(names, frames)
    if not force:
        first = names[0]
        problems = []
        for n in names[1:]:
            diffs = suite_differences(manifests[n].get("suite", {}), manifests[first].get("suite", {}))
            problems += [f"{n} vs {first}: {d}" for d in diffs]
        if problems:
            head = (f"these runs come from suites that differ in more than name, seeds or ratios "
                    f"({len(problems)} field(s)); pass --force to compare them anyway")
            raise ResultsError(head, [head, *problems])
    rows = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if rows.empty or "loss" not in rows.columns:
        raise ResultsError(f"{', '.join(map(str, resolved))}: no finished cells to report on")
    return Runs(rows=rows, manifests=manifests, paths=dict(zip(names, resolved, strict=True)))
