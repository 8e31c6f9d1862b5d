"""One row per cell for judging claims: the cells the sweep plans (so a failed or missing cell is seen, never
silently averaged over), filled with each cell's metrics and, per measured workload, the mean of its paired log
ratios against the seed's dense model (`log:<label>`). Results are read through ecobench/results.py only."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

import ecobench.suites  # noqa: F401 (registers the methods and grid data a stored suite is validated against)
from ecobench.config.schema import Suite
from ecobench.errors import ResultsError
from ecobench.footprint import stats
from ecobench.results import load, load_manifest
from ecobench.sweep import expand

PER_1K = "energy_kwh_per_1k_tokens"  # the paired ratio a `<workload>_ratio` claim reads (energy per 1k tokens)
KEY_COLUMNS = ["key", "seed", "method", "structure", "scope", "ratio", "recovered"]


def planned(suite: Suite) -> pd.DataFrame:
    """The sweep's cells: key, seed, method (label), structure ('-' for the references), scope, ratio, recovered."""
    recover = suite.prune.recover_steps > 0
    rows = [{"key": c.key, "seed": c.seed, "method": c.method, "structure": "-" if c.is_dense or c.is_control
             else c.structure, "scope": c.scope, "ratio": c.ratio, "recovered": recover and not c.is_dense}
            for c in expand(suite)]
    return pd.DataFrame(rows, columns=KEY_COLUMNS)


def label_of(phase: Any, batch_size: Any) -> str:
    """'eval', 'decode_b1', 'prefill_b16' (as report/paired.py names the workloads)."""
    if batch_size is None or (isinstance(batch_size, float) and math.isnan(batch_size)):
        return str(phase)
    return f"{phase}_b{int(batch_size)}"


def cell_log_ratio(a: Any, b: Any) -> float:
    """Mean of one cell's per-pair log ratios ln(a_i / b_i) (its windows beside dense); NaN when not computable.
    One number per cell, so seeds (not windows) are what the claims' tests count."""
    if not isinstance(a, (list, tuple)) or not isinstance(b, (list, tuple)):
        return math.nan
    d = stats.log_ratios(a, b)
    return sum(d) / len(d) if d else math.nan


def _log_ratios(rows: pd.DataFrame) -> pd.DataFrame:
    """key -> `log:<label>` columns from the phase rows that carry paired repeats."""
    a_col, b_col = f"{PER_1K}_repeats", f"dense_{PER_1K}_repeats"
    if a_col not in rows.columns or b_col not in rows.columns:
        return pd.DataFrame(columns=["key"])
    out: dict[str, dict[str, float]] = {}
    for _, r in rows.iterrows():
        if not isinstance(r[a_col], (list, tuple)):
            continue
        out.setdefault(r["key"], {})[f"log:{label_of(r['phase'], r.get('batch_size'))}"] = cell_log_ratio(
            r[a_col], r[b_col])
    return pd.DataFrame([{"key": k, **v} for k, v in out.items()])


def suite_of(manifest: dict, where: str) -> Suite:
    """The results folder's suite, as its manifest stores it."""
    try:
        return Suite.model_validate(manifest.get("suite") or {})
    except ValueError as err:
        raise ResultsError(f"{where}: the manifest's suite cannot be read by this ecobench ({err.__class__.__name__}); "
                           "judge it with the suite file: --suite FILE") from None


def cell_table(suite: Suite, rows: pd.DataFrame) -> pd.DataFrame:
    """Planned cells left-joined with their results: status (NaN where the cell has no row), metrics, log ratios."""
    cells = planned(suite)
    if rows.empty:
        return cells.assign(status=None)
    first = rows.drop_duplicates("key").drop(columns=[c for c in KEY_COLUMNS[1:] if c in rows.columns])
    quality = [c for c in first.columns if c.partition("@")[0] in ("loss", "bpc", "ppl", "accuracy", "mae")]
    merged = cells.merge(first[["key", "status", *quality]], on="key", how="left")
    logs = _log_ratios(rows)
    return merged.merge(logs, on="key", how="left") if len(logs.columns) > 1 else merged


def load_table(path: str | Path, force: bool = False) -> tuple[Suite, pd.DataFrame]:
    """A results folder -> (its suite, its cell table)."""
    path = Path(path)
    suite = suite_of(load_manifest(path), str(path))
    return suite, cell_table(suite, load(path, force=force))
