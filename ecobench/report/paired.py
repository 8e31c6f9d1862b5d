"""The paired windows of each cell (eval, prefill and decode at each batch size) -> intervals for compare, plot and
report. Each measured phase row holds every repeat of the cell and of its seed's dense model (measure.py); here the
per-pair log ratios of all seeds of a table row are pooled into one ratio with its 95% interval, and the p-values of
a run's rows are Holm-adjusted together (footprint/stats.py says why). A ratio is `≈` (no difference beyond noise)
when its adjusted p is >= 0.05 or it has no interval.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ecobench.footprint import stats

PER_1K = "energy_kwh_per_1k_tokens"


def label_of(phase: str, batch_size: Any) -> str:
    """'eval', 'decode_b1', 'prefill_b16': one measured workload."""
    if batch_size is None or (isinstance(batch_size, float) and math.isnan(batch_size)):
        return phase
    return f"{phase}_b{int(batch_size)}"


def _list(v: Any) -> list | None:
    return list(v) if isinstance(v, (list, tuple)) else None


def cell_pairs(g: pd.DataFrame) -> dict[str, dict[str, list]]:
    """label -> the repeats of one cell's measured rows (pruned and dense side), for pooling over seeds."""
    out: dict[str, dict[str, list]] = {}
    if f"{PER_1K}_repeats" not in g.columns:
        return out
    for _, r in g.iterrows():
        a, b = _list(r.get(f"{PER_1K}_repeats")), _list(r.get(f"dense_{PER_1K}_repeats"))
        if a is None or b is None:
            continue
        out[label_of(r["phase"], r.get("batch_size"))] = {
            "a": a, "b": b,
            "tps_a": _list(r.get("tokens_per_s_repeats")) or [], "tps_b": _list(r.get("dense_tokens_per_s_repeats")) or [],
        }
    return out


def _order(found: set[str]) -> list[str]:
    def key(lab: str) -> tuple:
        ph, _, b = lab.partition("_b")
        return (ph != "eval", int(b) if b.isdigit() else 0, ph != "prefill")

    return sorted(found, key=key)


def labels(cells: pd.DataFrame) -> list[str]:
    """The measured workloads of a cell table, in run order: eval, then prefill/decode by batch size."""
    return _order({lab for p in cells.get("paired", pd.Series(dtype=object)) if isinstance(p, dict) for lab in p})


def present(agg: pd.DataFrame) -> list[str]:
    """The measured workloads of an aggregated frame that have a ratio for some row."""
    return _order({c.removesuffix("_ratio_p_holm") for c in agg.columns if c.endswith("_ratio_p_holm")
                   and agg[c.replace("_p_holm", "")].notna().any()})


def pooled(group: pd.DataFrame, label: str) -> dict[str, Any]:
    """One table row's statistics for one workload: all seeds' pairs pooled."""
    a, b, ta, tb, logs, tlogs = [], [], [], [], [], []
    for p in group.get("paired", []):
        d = p.get(label) if isinstance(p, dict) else None
        if d is None:
            return {}  # a seed without this workload: no pooled value (never a pool over fewer seeds)
        lr = stats.log_ratios(d["a"], d["b"])
        if lr is None:
            return {}
        a += d["a"]
        b += d["b"]
        logs += lr
        ta += d["tps_a"]
        tb += d["tps_b"]
        tlogs += stats.log_ratios(d["tps_a"], d["tps_b"]) or []
    if not logs:
        return {}
    iv, dense_iv, r = stats.mean_interval(a), stats.mean_interval(b), stats.ratio_from_logs(logs)
    tr = stats.ratio_from_logs(tlogs)
    return {
        f"{label}_kwh_per_1k_tokens": iv.mean, f"{label}_kwh_per_1k_tokens_ci_low": iv.low,
        f"{label}_kwh_per_1k_tokens_ci_high": iv.high, f"{label}_dense_kwh_per_1k_tokens": dense_iv.mean,
        f"{label}_ratio": r.ratio, f"{label}_ratio_ci_low": r.low, f"{label}_ratio_ci_high": r.high,
        f"{label}_ratio_p": r.p, f"{label}_ratio_n": r.n,
        f"{label}_tokens_per_s": sum(ta) / len(ta) if ta else math.nan,
        f"{label}_tokens_per_s_ratio": tr.ratio if tr else math.nan,
    }


def adjust(agg: pd.DataFrame, labels_: list[str]) -> pd.DataFrame:
    """Holm across each run's rows (the dense self-comparison is a check, not a claim, and is left out), then
    `<label>_same`: True where the ratio is not a difference beyond noise."""
    for lab in labels_:
        p_col = f"{lab}_ratio_p"
        if p_col not in agg.columns:
            continue
        adj = pd.Series(math.nan, index=agg.index, dtype=float)
        for _, g in agg.groupby("run", sort=False):
            claims = g[g["method"] != "dense"]
            ps = [None if pd.isna(p) else float(p) for p in claims[p_col]]
            for i, q in zip(claims.index, stats.holm(ps), strict=True):
                adj[i] = math.nan if q is None else q
            dense = g[g["method"] == "dense"].index
            adj[dense] = agg.loc[dense, p_col]
        agg[f"{lab}_ratio_p_holm"] = adj
        agg[f"{lab}_same"] = ~(adj < stats.ALPHA)  # NaN (no interval) -> same: never a claim without one
    return agg


def ratio_text(r: pd.Series, label: str) -> str:
    """'0.62 [0.60–0.64]' for a difference beyond noise, '≈ 1.01 [0.97–1.05]' otherwise, '–' when unknown."""
    v = r.get(f"{label}_ratio")
    if v is None or pd.isna(v):
        return "–"
    lo, hi = r.get(f"{label}_ratio_ci_low"), r.get(f"{label}_ratio_ci_high")
    ci = "" if lo is None or pd.isna(lo) else f" [{lo:.2f}–{hi:.2f}]"
    return ("≈ " if r.get(f"{label}_same", True) else "") + f"{v:.2f}{ci}"
