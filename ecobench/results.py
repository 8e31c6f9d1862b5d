"""Reading results folders: the one door compare, plot and report go through.

Reading checks what a folder claims (see `ecobench.integrity`): the manifest is whole, every row is of its suite
(else refused, or kept with a warning under --force), and a value no measurement can take (a negative or non-finite
energy or loss) is shown as missing with a warning, so it is never averaged, ranked or marked best."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pandas as pd

from ecobench.integrity import CELLS, check_rows, read_manifest
from ecobench.record import CellRecord, is_measure, valid_number
from ecobench.store import read_rows

log = logging.getLogger(__name__)

CELL_COLUMNS = ["suite", "run", "model", "seed", "method", "method_name", "scope", "ratio", "multiplier", "status"]
QUALITY = ("loss", "bpc", "ppl", "accuracy", "mae")


def load_manifest(path: str | Path) -> dict:
    return read_manifest(path)


def _clean(v: Any) -> Any:
    """A value no measurement can take -> NaN (missing)."""
    return math.nan if v is not None and not valid_number(v) else v


def _cell_columns(rec: CellRecord, run: str) -> dict:
    metrics = {k: _clean(v) if k.partition("@")[0] in QUALITY else v for k, v in rec.metrics.items()}  # @: domains
    invalid = rec.invalid_values()
    return {**rec.cell.model_dump(), "run": run, "status": rec.status, "reason": rec.reason, **metrics,
            "invalid": "; ".join(invalid) if invalid else None}


def records_to_frame(records: list[CellRecord], run: str) -> pd.DataFrame:
    """One row per (cell, phase): the cell's key and outcome repeated on each of its phase rows."""
    rows = []
    for rec in records:
        base = _cell_columns(rec, run)
        phases = [{k: _clean(v) if is_measure(k) else v for k, v in p.model_dump().items()} for p in rec.phases]
        for ph in phases or [{"phase": None}]:
            rows.append({**base, **ph})
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=[*CELL_COLUMNS, "phase"])
    return df


def _read(path: Path, force: bool) -> list[CellRecord]:
    manifest = read_manifest(path)
    rows = read_rows(path / CELLS)
    check_rows(rows, manifest, force)
    for where, rec in rows:
        bad = rec.invalid_values()
        if bad:
            log.warning("%s: invalid value(s) shown as missing, never averaged or ranked: %s", where, ", ".join(bad))
    return [rec for _, rec in rows]


def load(path: str | Path, force: bool = False) -> pd.DataFrame:
    """A results folder -> DataFrame, one row per (cell, phase). Unfinished cells are absent; failed ones have
    status 'failed' and a reason. `force` keeps rows of another suite (with a warning) instead of refusing."""
    path = Path(path)
    return records_to_frame(_read(path, force), run=path.name)


def load_cells(path: str | Path, force: bool = False) -> pd.DataFrame:
    """One row per cell (no phase columns): for counting cells and for tables of outcomes."""
    path = Path(path)
    rows = [_cell_columns(r, path.name) for r in _read(path, force)]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=CELL_COLUMNS)
