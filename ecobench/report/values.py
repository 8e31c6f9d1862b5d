"""How one value of an aggregated row is written, shared by every view of the comparison (formats.py's full and
inference views, compact.py's default view, the HTML): units, the energy basis, provenance, seeds, signed deltas."""

from __future__ import annotations

import pandas as pd

from ecobench.report.units import pick_unit


def unit_scale(agg: pd.DataFrame, qty: str, cols: list[str]) -> tuple[str, float]:
    """One unit for these columns together (see report/units.py)."""
    return pick_unit(pd.concat([pd.to_numeric(agg[c], errors="coerce") for c in cols if c in agg.columns]), qty)


def energy_kind(r: pd.Series) -> str:
    """'estimated' if any energy in the row is estimated, 'none' if no component had a meter, else 'measured'."""
    if r["estimated"]:
        return "estimated"
    return "none" if str(r["energy_sources"]).strip() in ("", "none") else "measured"


def basis(agg: pd.DataFrame) -> str:
    """The energy basis of an aggregated frame: 'gross' or 'above-idle'."""
    return str(agg["energy_basis"].iloc[0]) if "energy_basis" in agg.columns and len(agg) else "gross"


def basis_tag(agg: pd.DataFrame) -> str:
    """', above idle' in headers of above-idle tables ('' for gross)."""
    return ", above idle" if basis(agg) == "above-idle" else ""


def has_structures(agg: pd.DataFrame) -> bool:
    """Whether any row is pruned other than unstructured (then the tables show a structure column)."""
    return "structure" in agg.columns and bool((~agg["structure"].isin(["unstructured", "-"])).any())


def default_metrics(agg: pd.DataFrame) -> list[str]:
    """loss, and the answer metrics of image-question runs (accuracy, MAE) where the results hold them."""
    return ["loss"] + [m for m in ("accuracy", "mae") if f"{m}_mean" in agg.columns and agg[f"{m}_mean"].notna().any()]


def seeds_words(agg: pd.DataFrame) -> str:
    """'2 seeds' when every row has the same count, else 'seeds' (the table's seeds column says how many)."""
    n = agg["n_seeds"].dropna().unique() if "n_seeds" in agg.columns else []
    return f"{int(n[0])} seed{'s' if n[0] != 1 else ''}" if len(n) == 1 else "seeds"


def seeds_text(r: pd.Series) -> str:
    """The seeds averaged, and of how many cells when some had no valid loss: '1 of 2'."""
    n, cells = int(r["n_seeds"]), int(r.get("n_cells", r["n_seeds"]))
    return str(n) if n == cells else f"{n} of {cells}"


def _signed(x: float, decimals: int = 4) -> str:
    if x is None or pd.isna(x):
        return "–"
    return f"{x:+.{decimals}f}" if x != 0 else "0"
