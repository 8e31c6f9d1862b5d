"""The default `compare` table: what a paper prints, in 160 columns.

Quality (mean ± std over seeds), its change against dense and against the compute-matched control, sparsity and
structure, the headline ×dense ratios with their family-adjusted intervals, and the anchored energy per 1k tokens
of the headline workload. Per-phase window sums, every workload and raw window means are in `--view full`,
`--view inference` and the CSV. Nothing here is ranked on a raw absolute value: the energy column is anchored
(the run's dense reference x the row's ratio) and bold only when its interval excludes the runner-up's.
"""

from __future__ import annotations

import math

import pandas as pd

from ecobench.report import paired
from ecobench.report.columns import Column
from ecobench.report.tables import HIGHER_IS_BETTER
from ecobench.report.units import fmt
from ecobench.report.values import (
    _signed,
    basis_tag,
    default_metrics,
    energy_kind,
    has_structures,
    seeds_text,
    unit_scale,
)

WIDTH = 160  # characters: the default table fits a wide terminal and a landscape page
SHORT_METRIC = {"loss": "loss", "accuracy": "acc", "mae": "MAE"}


def headline_ratios(agg: pd.DataFrame) -> list[str]:
    """The ×dense ratios the default table shows: decode at the smallest and at the largest batch size (one user;
    the batched server), else eval."""
    labs = paired.present(agg)
    dec = [lab for lab in labs if lab.startswith("decode")]
    if dec:
        return list(dict.fromkeys([dec[0], dec[-1]]))
    return labs[:1]


def identity_columns(agg: pd.DataFrame) -> list[Column]:
    """What names a row, in every view: run and model where they vary, method, structure where any, scope, ratio."""
    cols: list[Column] = []

    def ident(header: str, key: str) -> None:
        cols.append(Column(header, lambda r: math.nan, lambda r, k=key: str(r[k]), numeric=False))

    if agg["run"].nunique() > 1:
        ident("run", "run")
    if agg["model"].nunique() > 1:
        ident("model", "model")
    ident("method", "method")
    if has_structures(agg):
        ident("structure", "structure")
    ident("scope", "scope")
    ident("ratio", "target")
    return cols


def compact_columns(agg: pd.DataFrame, metrics: list[str] | None = None) -> list[Column]:
    cols = identity_columns(agg)
    if agg["n_seeds"].nunique() > 1 or (agg["n_seeds"] != agg.get("n_cells", agg["n_seeds"])).any():
        cols.append(Column("seeds", lambda r: r["n_seeds"], seeds_text))  # else the notes say how many
    for m in metrics or default_metrics(agg):
        d = 2 if m == "ppl" else 4
        best = "max" if m in HIGHER_IS_BETTER else "min"
        short = SHORT_METRIC.get(m, m)

        def mean_std(r: pd.Series, m: str = m, d: int = d) -> str:
            s = r[f"{m}_std"]
            return f"{r[f'{m}_mean']:.{d}f}" + ("" if pd.isna(s) else f" ± {s:.{d}f}")

        cols.append(Column(short, lambda r, m=m: r[f"{m}_mean"], mean_std, best, group="quality"))
        cols.append(Column(f"Δ{short}", lambda r, m=m: r[f"{m}_delta_mean"],
                           lambda r, m=m, d=d: _signed(r[f"{m}_delta_mean"], d), best, group="quality"))
        key = f"{m}_delta_control_mean"
        if key in agg.columns and agg[key].notna().any():
            cols.append(Column(f"Δ{short} ctl", lambda r, k=key: r[k], lambda r, k=key, d=d: _signed(r[k], d), best,
                               group="quality"))
    cols.append(Column("sparsity", lambda r: 100 * r["sparsity_mean"], lambda r: f"{100 * r['sparsity_mean']:.1f}",
                       group="quality"))
    for lab in headline_ratios(agg):
        cols.append(Column(f"{lab.replace('_b', ' b')} ×dense", lambda r, lab=lab: r[f"{lab}_ratio"],
                           lambda r, lab=lab: paired.ratio_text(r, lab), group="footprint"))
    lab = paired.headline(agg)
    if lab is not None:
        k = f"{lab}_kwh_per_1k_tokens"
        unit, f = unit_scale(agg, "energy_kwh", [k])
        cols.append(Column(f"{lab.replace('_b', ' b')} {unit}/1k tok{basis_tag(agg)}", lambda r, k=k, f=f: r[k] * f,
                           lambda r, k=k, f=f: fmt(r[k] * f), "min", group="footprint",
                           interval=lambda r, k=k, f=f: (r[f"{k}_ci_low"] * f, r[f"{k}_ci_high"] * f)))
    if int(paired.contended(agg).sum()):
        cols.append(Column("contended", lambda r: math.nan, _contended_text, group="flag"))
    cols.append(Column("energy", lambda r: math.nan, energy_kind, numeric=False, group="flag"))
    if agg["n_failed"].sum():
        cols.append(Column("failed", lambda r: r["n_failed"], lambda r: str(r["n_failed"]), group="flag"))
    ratios = [c for c in cols if c.header.endswith("×dense")]
    while len(ratios) > 1 and width(agg, cols) > WIDTH:  # keep the headline (largest batch) ratio, drop the rest
        cols.remove(ratios.pop(0))
    return cols


def width(agg: pd.DataFrame, cols: list[Column]) -> int:
    """Characters of the plain table these columns make (two spaces between columns; '*' marks a best value)."""
    return sum(max(len(c.header), *(len(c.text(r)) + 1 for _, r in agg.iterrows())) for c in cols) + 2 * (len(cols) - 1)


def _contended_text(r: pd.Series) -> str:
    n = r.get("contended_windows", 0)
    return str(int(n)) if pd.notna(n) and n else ""
