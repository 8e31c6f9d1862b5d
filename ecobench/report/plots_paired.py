"""Figures 2, 3 and 5, drawn from paired ratios and anchored values, never from a busy moment.

A raw window mean moves with whatever else the machine did while it was measured; a ratio to the dense model
measured beside it does not, and an anchored value (the run's dense reference x the ratio, report/paired.py) gives
identical work identical numbers. Ratios are drawn on log axes with their family-adjusted intervals (never below
zero); an interval that runs past the panel is cut at its edge. Cells with windows measured under contention are
drawn hollow, and a note says how many.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ecobench.errors import UserError
from ecobench.report import paired, style
from ecobench.report.figure_base import (
    PlotData,
    axis_unit,
    figure,
    legend_below,
    line_label,
    marker,
    pick_ratio,
)
from ecobench.report.style import mpl_text, plt
from ecobench.report.tables import BASIS_LABEL
from ecobench.report.units import QTY_NAMES as QTY_LABEL

ONE_TIME = ("score", "prune", "recover")  # the phases a pruned model pays once (not paired: shown as measured)
NOTE_CHARS = {"one": 75, "two": 160}  # characters per line of a 5.5 pt note at one and two columns
WORKLOAD_PHASES = ("eval", "prefill", "decode")  # phases measured in paired windows: anchored in figure 3
NO_PAIRED = ("these results have no paired measurement windows (written before ecobench paired them, or "
             "eval.inference_tokens: 0): the figure is drawn from ratios to dense")


def _scatter(ax: plt.Axes, data: PlotData, rows: pd.DataFrame, x: pd.Series, lo: pd.Series | None = None,
             hi: pd.Series | None = None) -> None:
    """One marker per row (colour: method; shape: structure and scope; hollow: contended windows), with x interval
    bars where `lo`/`hi` are given."""
    busy = paired.contended(rows) > 0
    for (method, structure, scope), g in rows.groupby(["method", "structure", "scope"], sort=True):
        c, mk = data.colours[method], marker(structure, scope)
        for hollow in (False, True):
            sel = g[busy.loc[g.index] == hollow]
            if sel.empty:
                continue
            ax.scatter(x.loc[sel.index], sel["loss_mean"], marker=mk, s=14, zorder=3, linewidths=0.8,
                       facecolors="none" if hollow else c, edgecolors=c,
                       label=line_label(method, scope, structure) if not hollow else None)
    if lo is not None and hi is not None:
        ok = lo.notna() & hi.notna()
        xv = x[ok].to_numpy(float)
        # past 1000x the bar is cut at the panel's edge anyway; clipping first keeps the log transform finite
        lov, hiv = np.maximum(lo[ok].to_numpy(float), xv / 1e3), np.minimum(hi[ok].to_numpy(float), xv * 1e3)
        ax.errorbar(xv, rows.loc[ok, "loss_mean"].to_numpy(float), xerr=[xv - lov, hiv - xv], fmt="none",
                    ecolor="#999999", elinewidth=0.5, capsize=1, zorder=2)


def _log_limits(ax: plt.Axes, values: list[pd.Series]) -> None:
    """Log x limits that show every point and the informative part of every interval (bounds within 100x of the
    points); a vacuous interval (two seeds across a large family) is cut at the panel's edge."""
    pts = pd.concat(values[:1]).dropna()
    pts = pts[pts > 0]
    if pts.empty:
        return
    lo_p, hi_p = float(pts.min()), float(pts.max())
    bounds = pd.concat(values[1:]).dropna() if len(values) > 1 else pd.Series(dtype=float)
    bounds = bounds[(bounds > lo_p / 100) & (bounds < hi_p * 100)]
    lo = min([lo_p, *bounds.tolist()]) / 1.3
    hi = max([hi_p, *bounds.tolist()]) * 1.3
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    plain = FuncFormatter(lambda v, _: f"{v:g}")  # '0.5', '2', '4000': not '5 x 10^-1'
    ax.xaxis.set_major_formatter(plain)
    def minor(v: float, _: object) -> str:
        # every digit on a narrow axis, but only 2 and 5 where the decade is wide or the labels are long: '9000'
        # beside '10000' overprinted at one column's width
        text = f"{v:g}"
        digits = "25" if hi / lo > 6 or len(text) > 3 else "23456789"
        return text if hi / lo < 30 and f"{v:.0e}"[0] in digits else ""

    ax.xaxis.set_minor_formatter(FuncFormatter(minor))
    ax.tick_params(axis="x", which="minor", labelsize=5)


def _note(fig: plt.Figure, rows: pd.DataFrame, width: str, extra: str = "") -> None:
    """A figure's reading note as its suptitle (constrained layout keeps it on the canvas), wrapped to the width."""
    n_busy = int((paired.contended(rows) > 0).sum())
    parts = [extra] if extra else []
    if n_busy:
        parts.append(f"hollow: {n_busy} row(s) with windows measured under contention")
    if parts:
        fig.suptitle(textwrap.fill("; ".join(parts), NOTE_CHARS[width]), fontsize=5.5)


def _need(data: PlotData) -> str:
    lab = paired.headline(data.agg)
    if lab is None:
        raise UserError(NO_PAIRED)
    return lab


def pareto(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both x and y (both minimised), by increasing x."""
    order = np.lexsort((y, x))
    best, keep = np.inf, []
    for i in order:
        if y[i] < best:
            keep.append(i)
            best = y[i]
    return np.array(keep, dtype=int)


def separated_pareto(x: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The Pareto frontier (both minimised) through points separated beyond noise on x: a point whose x interval
    [lo, hi] overlaps the previous frontier point's is a tie on x, and only the lower loss of the two stays."""
    keep: list[int] = []
    for i in pareto(x, y):
        if keep and not (lo[i] > hi[keep[-1]]):
            keep[-1] = i if y[i] < y[keep[-1]] else keep[-1]
        else:
            keep.append(i)
    return np.array(keep, dtype=int)


def fig_loss_vs_footprint(data: PlotData, width: str) -> plt.Figure:
    """Figure 2: loss against the headline workload's energy per 1k tokens x dense (log), against the one-time cost
    (score + prune + recover), and against anchored carbon and water per 1k tokens."""
    lab = _need(data)
    agg = data.agg[data.agg[f"{lab}_ratio"].notna()]
    fig, axes = _grid(width)
    name = lab.replace("_b", " b")
    ax = axes[0]
    r, lo, hi = agg[f"{lab}_ratio"], agg[f"{lab}_ratio_ci_low"], agg[f"{lab}_ratio_ci_high"]
    ax.axvline(1.0, color=style.DENSE, lw=0.8, ls=":")
    _scatter(ax, data, agg, r, lo, hi)
    xs, ys = r.to_numpy(float), agg["loss_mean"].to_numpy(float)
    front = separated_pareto(xs, ys, lo.fillna(0).to_numpy(float), hi.fillna(np.inf).to_numpy(float))
    if len(front) > 1:
        ax.step(xs[front], ys[front], where="post", color="#555555", lw=0.8, zorder=2, label="frontier (separated)")
    _log_limits(ax, [r, lo, hi])
    ax.set_xlabel(f"{name} energy per 1k tokens, ×dense (log)")
    ax.set_title("(a) loss vs inference energy ×dense", loc="left")
    one = _one_time(agg)
    ax = axes[1]
    shown = agg[one > 0]
    if shown.empty:
        ax.text(0.5, 0.5, "no one-time cost\n(no pruned cell scored,\npruned or recovered)", ha="center",
                va="center", fontsize=6, transform=ax.transAxes)
    else:
        unit, f = axis_unit(one[one > 0], "energy_kwh")
        _scatter(ax, data, shown, one[one > 0] * f)
        _log_limits(ax, [one[one > 0] * f])
        ax.set_xlabel(mpl_text(f"one-time {data.label('energy_kwh')}") + f" ({unit}, log)")
    ax.set_title("(b) loss vs one-time cost", loc="left")
    for ax, qty, letter in ((axes[2], "co2e_g", "c"), (axes[3], "water_l", "d")):
        k = f"{lab}_{qty}_per_1k_tokens"
        if k not in agg.columns or agg[k].isna().all():
            ax.text(0.5, 0.5, f"{QTY_LABEL[qty]} unknown", ha="center", va="center", fontsize=6,
                    transform=ax.transAxes)
        else:
            unit, f = axis_unit(agg[k], qty)
            v, vlo, vhi = agg[k] * f, agg[f"{k}_ci_low"] * f, agg[f"{k}_ci_high"] * f
            _scatter(ax, data, agg, v, vlo, vhi)
            _log_limits(ax, [v, vlo, vhi])
            ax.set_xlabel(mpl_text(f"{QTY_LABEL[qty]} per 1k tokens, anchored") + f" ({unit}, log)")
        ax.set_title(f"({letter}) loss vs {QTY_LABEL[qty]} per 1k tokens", loc="left")
    for ax in axes:
        ax.set_ylabel("loss (nats/token)")
    legend_below(fig, axes, width)
    _note(fig, agg, width, f"{BASIS_LABEL[data.energy]} energy; bars: family-adjusted 95% intervals of paired ratios, "
          "cut at the panel's edge where they run past it; one-time cost as measured (not paired)")
    return fig


def _grid(width: str) -> tuple[plt.Figure, list[plt.Axes]]:
    """Four panels: 2 x 2 at two-column width, stacked at one-column width."""
    w = style.WIDTHS_IN[width]
    if width == "two":
        fig, axes = plt.subplots(2, 2, figsize=(w, 4.6), layout="constrained")
    else:
        fig, axes = plt.subplots(4, 1, figsize=(w, 7.4), layout="constrained")
    return fig, list(np.ravel(axes))


def _one_time(rows: pd.DataFrame, qty: str = "energy_kwh") -> pd.Series:
    parts = [rows[f"{ph}_{qty}"] for ph in ONE_TIME if f"{ph}_{qty}" in rows.columns]
    if not parts:
        return pd.Series(0.0, index=rows.index)
    return pd.concat(parts, axis=1).sum(axis=1, min_count=1).fillna(0.0)


def anchored_phase(rows: pd.DataFrame, phase: str, qty: str = "energy_kwh") -> tuple[pd.Series, pd.Series, pd.Series]:
    """A measured phase's energy (or carbon, water) per window, anchored: the sum over that phase's workloads of the
    run's dense reference window x the row's ratio; low and high from the ratios' intervals."""
    labs = [lab for lab in paired.present(rows) if lab.split("_b")[0] == phase]
    zero = pd.Series(0.0, index=rows.index)
    v, lo, hi = zero.copy(), zero.copy(), zero.copy()
    factor = 1.0 if qty == "energy_kwh" else rows[f"{qty}_per_kwh"]
    for lab in labs:
        ref = rows[f"{lab}_ref_energy_kwh"] * factor
        v = v + ref * rows[f"{lab}_ratio"]
        lo = lo + ref * rows[f"{lab}_ratio_ci_low"].fillna(rows[f"{lab}_ratio"])
        hi = hi + ref * rows[f"{lab}_ratio_ci_high"].fillna(rows[f"{lab}_ratio"])
    return v, lo, hi


def fig_footprint_by_phase(data: PlotData, width: str, ratio: float | None = None) -> plt.Figure:
    """Figure 3: each cell's footprint at one ratio, by phase, as horizontal bars (the cell names read level): the
    one-time phases as measured, the measured workloads anchored, with the interval of their ratios as a bar;
    dense training is stated apart."""
    _need(data)
    agg = data.agg
    r = pick_ratio(agg, ratio)
    rows = pd.concat([agg[agg["method"] == "dense"],
                      agg[(agg["method"] != "dense") & (agg["ratio"] - r).abs().lt(1e-9)]])
    names = [line_label(m, s, st) for m, st, s in zip(rows["method"], rows["structure"], rows["scope"], strict=True)]
    y = np.arange(len(rows))[::-1]  # the first row on top
    w = style.WIDTHS_IN[width]
    per_panel = 0.45 + 0.13 * len(rows)
    if width == "two":
        fig, axes = plt.subplots(1, 3, figsize=(w, per_panel + 1.1), layout="constrained", sharey=True)
    else:
        fig, axes = plt.subplots(3, 1, figsize=(w, 3 * per_panel + 1.2), layout="constrained", sharey=True)
    axes = list(np.ravel(axes))
    busy = (paired.contended(rows) > 0).to_numpy()
    for ax, qty in zip(axes, QTY_LABEL, strict=True):
        segs: dict[str, np.ndarray] = {}
        for ph in ONE_TIME:
            col = f"{ph}_{qty}"
            if col in rows.columns:
                segs[ph] = np.nan_to_num(rows[col].to_numpy(float), nan=0.0)
        lo_sum, hi_sum = np.zeros(len(rows)), np.zeros(len(rows))
        for ph in WORKLOAD_PHASES:
            v, lo, hi = anchored_phase(rows, ph, qty)
            segs[ph] = np.nan_to_num(v.to_numpy(float), nan=0.0)
            lo_sum += np.nan_to_num((v - lo).to_numpy(float))
            hi_sum += np.nan_to_num((hi - v).to_numpy(float))
        lo_c, hi_c = f"cell_{qty}_low", f"cell_{qty}_high"
        if lo_c in rows.columns and pd.to_numeric(rows[lo_c], errors="coerce").notna().any():
            # carbon and water: widen by the relative range their cell totals carry (the site factors' ranges)
            tot = sum(segs.values())
            cell = rows[f"cell_{qty}"].to_numpy(float)
            rel_lo = np.nan_to_num(1 - rows[lo_c].to_numpy(float) / cell, nan=0.0)
            rel_hi = np.nan_to_num(rows[hi_c].to_numpy(float) / cell - 1, nan=0.0)
            lo_sum, hi_sum = lo_sum + tot * np.clip(rel_lo, 0, 1), hi_sum + tot * np.clip(rel_hi, 0, None)
        unit, f = axis_unit(pd.Series(sum(segs.values())), qty)
        left = np.zeros(len(rows))
        for ph, vals in segs.items():
            if not vals.any():
                continue
            ax.barh(y, vals * f, left=left, color=style.PHASE_COLOURS[ph], height=0.7, label=ph,
                    edgecolor="white", lw=0.3)
            left += vals * f
        ax.errorbar(left, y, xerr=[lo_sum * f, hi_sum * f], fmt="none", ecolor="#333333", elinewidth=0.5,
                    capsize=1.5)
        ax.set_xlim(0, np.nanmax(left) * 1.3 if np.nanmax(left) > 0 else 1.0)  # a longer interval is cut there
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, prune="upper"))  # no tick label overhanging the canvas edge
        for i in np.flatnonzero(busy):
            ax.barh(y[i], left[i], height=0.7, fill=False, hatch="////", edgecolor="#444444", lw=0)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(mpl_text(f"{QTY_LABEL[qty]} per cell") + f" ({unit})")
        ax.set_title(f"({'abc'[list(QTY_LABEL).index(qty)]}) {QTY_LABEL[qty]}", loc="left", fontsize=6.5)
    axes[0].set_yticks(y, names)  # shared: every panel reads the same rows
    for ax in axes:
        shown = ax is axes[0] or width == "one"
        ax.tick_params(axis="y", labelleft=shown, labelsize=5.5)
        if shown:
            for tick, m in zip(ax.get_yticklabels(), rows["method"], strict=True):
                tick.set_color(data.colours[m])
    train = rows["train_energy_kwh"].dropna()
    shared = ""
    if not train.empty:
        t_unit, t_f = axis_unit(train, "energy_kwh")
        shared = f"; dense training (shared, not drawn): {train.mean() * t_f:.3g} {t_unit}"
    legend_below(fig, axes[:1], width)
    note = (f"ratio {r:g}; {BASIS_LABEL[data.energy]} energy; eval/prefill/decode anchored (dense reference x ratio), "
            f"bars: their family-adjusted interval (carbon and water: with the site factors' ranges too){shared}; "
            f"water EWIF {mpl_text(data.water)}")
    if busy.any():
        note += f"; hatched: {int(busy.sum())} row(s) with contended windows (score/prune/recover as measured)"
    fig.suptitle(textwrap.fill(note, NOTE_CHARS[width]), fontsize=5.5)
    return fig


NO_INFERENCE = ("these results have no measured inference (eval.inference_tokens: 0, or no inference energy): "
                "figure 5 needs it")


def has_inference(data: PlotData) -> bool:
    lab = paired.headline(data.agg)
    return lab is not None and lab != "eval" and data.agg[f"{lab}_ratio"].notna().any()


def fig_loss_vs_inference(data: PlotData, width: str) -> plt.Figure:
    """Figure 5: loss against anchored inference energy per 1k tokens and tokens/s (the headline decode workload),
    a marker per structure: where pruning saves at serving time (a smaller dense model), and where it does not."""
    if not has_inference(data):
        raise UserError(NO_INFERENCE)
    lab = paired.headline(data.agg)
    agg = data.agg[data.agg[f"{lab}_ratio"].notna()]
    fig, (ax_e, ax_t) = figure(width, 2, 2.0, 2.5)
    k = f"{lab}_kwh_per_1k_tokens"
    unit, f = axis_unit(agg[k], "energy_kwh")
    v, lo, hi = agg[k] * f, agg[f"{k}_ci_low"] * f, agg[f"{k}_ci_high"] * f
    ref = agg[f"{lab}_ref_kwh_per_1k_tokens"].dropna()
    if not ref.empty:
        ax_e.axvline(float(ref.iloc[0]) * f, color=style.DENSE, lw=0.8, ls=":")
    _scatter(ax_e, data, agg, v, lo, hi)
    _log_limits(ax_e, [v, lo, hi])
    name = lab.replace("_b", " b")
    ax_e.set_xlabel(mpl_text(f"{name} {QTY_LABEL['energy_kwh']} per 1k tokens, anchored") + f" ({unit}, log)")
    ax_e.set_title("(a) loss vs energy per 1k tokens", loc="left")
    ref_t = agg[f"{lab}_ref_tokens_per_s"]
    tps = ref_t * agg[f"{lab}_tokens_per_s_ratio"]
    if tps.notna().any():
        t_lo, t_hi = ref_t * agg[f"{lab}_tokens_per_s_ratio_ci_low"], ref_t * agg[f"{lab}_tokens_per_s_ratio_ci_high"]
        _scatter(ax_t, data, agg, tps, t_lo, t_hi)
        _log_limits(ax_t, [tps, t_lo, t_hi])
        ax_t.set_xlabel(f"{name} tokens/s, anchored (log; right is faster)")
    ax_t.set_title("(b) loss vs throughput", loc="left")
    for ax in (ax_e, ax_t):
        ax.set_ylabel("loss (nats/token)")
    legend_below(fig, [ax_e, ax_t], width)
    _note(fig, agg, width, f"{BASIS_LABEL[data.energy]} energy; dotted: the run's dense reference; bars: family-adjusted "
          "95% intervals, cut at the panel's edge where they run past it")
    return fig

