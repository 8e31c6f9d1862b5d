"""Reading results folders: the one door compare, plot and report go through."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ecobench.errors import ResultsError
from ecobench.record import CellRecord
from ecobench.store import CELLS, MANIFEST, read_cells

CELL_COLUMNS = ["suite", "run", "model", "seed", "method", "method_name", "scope", "ratio", "multiplier", "status"]


def load_manifest(path: str | Path) -> dict:
    p = Path(path) / MANIFEST
    if not p.is_file():
        raise ResultsError(f"{path}: not an ecobench results folder (no {MANIFEST})")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ResultsError(f"{p}: unreadable manifest: {err}") from err


def _cell_columns(rec: CellRecord, run: str) -> dict:
    return {**rec.cell.model_dump(), "run": run, "status": rec.status, "reason": rec.reason, **rec.metrics}


def records_to_frame(records: list[CellRecord], run: str) -> pd.DataFrame:
    """One row per (cell, phase): the cell's key and outcome repeated on each of its phase rows."""
    rows = []
    for rec in records:
        base = _cell_columns(rec, run)
        phases = [p.model_dump() for p in rec.phases] or [{"phase": None}]
        for ph in phases:
            rows.append({**base, **ph})
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=[*CELL_COLUMNS, "phase"])
    return df


def load(path: str | Path) -> pd.DataFrame:
    """A results folder -> DataFrame, one row per (cell, phase). Unfinished cells are absent; failed ones have
    status 'failed' and a reason."""
    path = Path(path)
    load_manifest(path)
    return records_to_frame(read_cells(path / CELLS), run=path.name)


def load_cells(path: str | Path) -> pd.DataFrame:
    """One row per cell (no phase columns): for counting cells and for tables of outcomes."""
    path = Path(path)
    load_manifest(path)
    rows = [_cell_columns(r, path.name) for r in read_cells(path / CELLS)]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=CELL_COLUMNS)
