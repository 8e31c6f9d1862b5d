"""Lifecycle accounting (`compare --view lifecycle`, and the report): a pruned model costs score + prune + recover
once, and saves (or not) energy on every token it serves. Break-even tokens = one-time cost / saving per token, with
the interval the paired decode windows give the saving; "never" when the saving is not beyond noise or negative.
The saving is read at the smallest decode batch size measured (batch 1: one user, the common serving case).

One energy basis throughout: the one-time phases and the per-token saving are both gross, or both above idle
(`--energy`); the saving is the run's dense reference on that basis x (1 - ratio) (report/paired.py).
A `≈` saving is "not detectable", with the smallest ratio the run could have shown."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ecobench.report import paired
from ecobench.report.units import fmt, pick_unit
from ecobench.report.values import basis_tag

ONE_TIME = ("score", "prune", "recover")  # the phases a pruned model pays once


@dataclass(frozen=True)
class BreakEven:
    tokens: float | None  # tokens served before the one-time cost is paid back; None: never (or unknown)
    low: float | None
    high: float | None
    text: str


def _tokens(x: float) -> str:
    for unit, f in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= f:
            return f"{x / f:.3g}{unit}"
    return f"{x:.3g}"


def break_even(one_time_kwh: float, dense_per_1k_kwh: float, ratio: float, low: float | None, high: float | None,
               same: bool, detectable: str = "not detectable") -> BreakEven:
    """Tokens to pay back `one_time_kwh` at a per-token saving of dense x (1 - ratio), ratio = pruned / dense."""
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (one_time_kwh, dense_per_1k_kwh, ratio)):
        return BreakEven(None, None, None, "– (unknown energy)")
    if same or low is None or high is None:
        return BreakEven(None, None, None, detectable)
    if ratio >= 1 or low >= 1:
        return BreakEven(None, None, None, "never: costs more per token than dense")
    per_token = dense_per_1k_kwh / 1000

    def at(r: float) -> float:
        return one_time_kwh / (per_token * (1 - r))

    tokens, lo, hi = at(ratio), at(low), at(high)
    return BreakEven(tokens, lo, hi, f"pays back after {_tokens(tokens)} tokens [{_tokens(lo)}–{_tokens(hi)}]")


def decode_label(agg: pd.DataFrame) -> str | None:
    labs = [lab for lab in paired.present(agg) if lab.startswith("decode")]
    return labs[0] if labs else None


def lifecycle_frame(agg: pd.DataFrame, amortise_training: bool = False) -> pd.DataFrame:
    """The non-dense rows with their one-time cost, per-1k-token saving and break-even tokens.

    `amortise_training` adds each row's share of its seed's dense training (train energy / cells sharing it)."""
    lab = decode_label(agg)
    rows = agg[agg["method"] != "dense"].copy()
    parts = [rows[f"{ph}_energy_kwh"] for ph in ONE_TIME if f"{ph}_energy_kwh" in rows.columns]
    one_time = pd.concat(parts, axis=1).sum(axis=1, min_count=1) if parts else pd.Series(math.nan, index=rows.index)
    if amortise_training and "train_energy_kwh" in rows.columns:
        sharing = rows.groupby(["run", "model"])["method"].transform("size")
        one_time = one_time + rows["train_energy_kwh"] / sharing
    rows["one_time_kwh"] = one_time
    rows["decode_label"] = lab
    results = []
    for i, r in rows.iterrows():
        if lab is None:
            results.append(BreakEven(None, None, None, "– (no decode windows)"))
            continue
        results.append(break_even(r["one_time_kwh"], r[f"{lab}_ref_kwh_per_1k_tokens"], r[f"{lab}_ratio"],
                                  r[f"{lab}_ratio_ci_low"], r[f"{lab}_ratio_ci_high"], bool(r[f"{lab}_same"]),
                                  paired.detectable_text(r, lab)))
        dense = r[f"{lab}_ref_kwh_per_1k_tokens"]
        rows.loc[i, "saving_kwh_per_1k_tokens"] = dense * (1 - r[f"{lab}_ratio"])
        lo, hi = r[f"{lab}_ratio_ci_low"], r[f"{lab}_ratio_ci_high"]
        rows.loc[i, "saving_kwh_per_1k_tokens_ci_low"] = dense * (1 - hi) if pd.notna(hi) else math.nan
        rows.loc[i, "saving_kwh_per_1k_tokens_ci_high"] = dense * (1 - lo) if pd.notna(lo) else math.nan
    rows["break_even_tokens"] = [b.tokens for b in results]
    rows["break_even_tokens_low"] = [b.low for b in results]
    rows["break_even_tokens_high"] = [b.high for b in results]
    rows["break_even"] = [b.text for b in results]
    return rows.reset_index(drop=True)


def lifecycle_columns(frame: pd.DataFrame) -> list:
    from ecobench.report.columns import Column

    e_unit, e_f = pick_unit(frame["one_time_kwh"], "energy_kwh")
    s_unit, s_f = pick_unit(frame.get("saving_kwh_per_1k_tokens", pd.Series(dtype=float)).abs(), "energy_kwh")
    lab = frame["decode_label"].iloc[0] if len(frame) else None
    tag = basis_tag(frame)  # one basis for the one-time cost and the saving

    def ident(header: str, key: str) -> Column:
        return Column(header, lambda r: math.nan, lambda r, k=key: str(r[k]), numeric=False)

    def saving(r: pd.Series) -> str:
        v = r.get("saving_kwh_per_1k_tokens")
        if v is None or pd.isna(v):
            return "–"
        lo, hi = r["saving_kwh_per_1k_tokens_ci_low"], r["saving_kwh_per_1k_tokens_ci_high"]
        dense = r[f"{lab}_ref_kwh_per_1k_tokens"]
        # a ratio interval reaching past 11x dense says little more: its saving bound is written '<-10x dense'
        low = f"<{fmt(-10 * dense * s_f)}" if pd.notna(lo) and lo < -10 * dense else fmt(lo * s_f)
        ci = "" if pd.isna(lo) else f" [{low}–{fmt(hi * s_f)}]"
        return ("≈ " if r.get(f"{lab}_same", True) else "") + f"{fmt(v * s_f)}{ci}"

    return [
        ident("method", "method"), ident("structure", "structure"), ident("scope", "scope"), ident("ratio", "target"),
        Column(f"one-time ({e_unit}{tag}: {' + '.join(ONE_TIME)})", lambda r: r["one_time_kwh"] * e_f,
               lambda r: fmt(r["one_time_kwh"] * e_f), group="footprint"),
        Column(f"saving ({s_unit}/1k tok{tag}, {str(lab).replace('_b', ' b')})", lambda r: math.nan, saving,
               group="footprint"),
        Column("break-even", lambda r: math.nan, lambda r: str(r["break_even"]), numeric=False, group="footprint"),
    ]
