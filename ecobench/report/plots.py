"""The four figures a reviewer expects, from the aggregated comparison (and per-layer sparsity of the cells).

Each figure is written as PDF (TrueType fonts), SVG and 300-dpi PNG at one- or two-column width. Several runs
of the same suite are pooled (their seeds are more samples of the same experiment); deltas were already taken
against the dense model of the same run and seed.
"""

from __future__ import annotations

import logging
import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from ecobench.atomic import save_with
from ecobench.errors import UserError
from ecobench.report import style
from ecobench.report.figure_base import (
    PlotData,
    axis_unit,
    dense_row,
    figure,
    legend_below,
    line_label,
    linestyle,
    marker,
    pick_ratio,
    prepare,
    series,
)
from ecobench.report.plots_layers import NO_LAYER_SPARSITY, fig_layer_sparsity, has_layer_sparsity
from ecobench.report.style import mpl_text, plt
from ecobench.report.tables import BASIS_LABEL, CELL_PHASES
from ecobench.report.units import QTY_NAMES as QTY_LABEL

log = logging.getLogger(__name__)

FIG_FORMATS = ("pdf", "svg", "png")


METRIC_AXIS = {"loss": "validation loss (nats/token)", "mae": "validation MAE (numeric answers)",
               "accuracy": "validation accuracy (exact match)"}


def fig_loss_vs_ratio(data: PlotData, width: str) -> plt.Figure:
    """Figure 1: the suite's metric (eval.metric: loss, or MAE / accuracy of answers) against target ratio and
    against sparsity reached, mean ± std over seeds, dense (and, for answers, chance) as references."""
    agg, m = data.agg, data.metric
    fig, (ax_r, ax_s) = figure(width, 2, 1.9, 2.4)
    dense = dense_row(agg)
    chance_col = f"{m}_chance"
    chance = pd.to_numeric(data.cells[chance_col], errors="coerce").mean() if chance_col in data.cells else math.nan
    for ax in (ax_r, ax_s):
        if dense is not None:
            ax.axhline(dense[f"{m}_mean"], color=style.DENSE, lw=0.8, ls=":", label="dense (ratio 0)")
        if not math.isnan(chance):
            ax.axhline(chance, color=style.DENSE, lw=0.8, ls="--", label="chance (most frequent answer)")
    for method, structure, scope, g in series(agg):
        c, ls, mk = data.colours[method], linestyle(structure, scope), marker(structure, scope)
        if dense is not None:  # every line starts from the dense model it was pruned from (ratio 0)
            g = pd.concat([dense.to_frame().T, g])
        # the band is the spread over seeds of the change against the dense model of the same seed: seeds move the
        # dense value itself, and that shared offset says nothing about the method
        y, sd = g[f"{m}_mean"].to_numpy(float), g[f"{m}_delta_std"].astype(float).fillna(0).to_numpy(float)
        for ax, x in ((ax_r, 100 * g["ratio"].to_numpy(float)), (ax_s, 100 * g["sparsity_mean"].to_numpy(float))):
            ax.plot(x, y, color=c, ls=ls, marker=mk, label=line_label(method, scope, structure))
            if sd.any():
                ax.fill_between(x, y - sd, y + sd, color=c, alpha=0.18, lw=0)
    std_cells = agg[(agg["method"] != "dense") & agg["ratio"].isna()]
    for (method, scope), g in std_cells.groupby(["method", "scope"], sort=True):
        ax_s.errorbar(100 * g["sparsity_mean"], g[f"{m}_mean"], yerr=g[f"{m}_std"].fillna(0), fmt="^",
                      color=data.colours[method], label=line_label(method, f"{scope}, std threshold"))
    ax_r.set_xlabel("target pruning ratio (% of targeted weights)")
    ax_s.set_xlabel("sparsity reached (% of targeted weights)")
    for ax in (ax_r, ax_s):
        ax.set_ylabel(METRIC_AXIS[m])
    short = {"loss": "loss", "mae": "MAE", "accuracy": "accuracy"}[m]
    ax_r.set_title(f"(a) {short} vs target ratio", loc="left")
    ax_s.set_title(f"(b) {short} vs sparsity reached", loc="left")
    legend_below(fig, [ax_r, ax_s], width)
    return fig


def pareto(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both x and y (both minimised), by increasing x."""
    order = np.lexsort((y, x))
    best, keep = math.inf, []
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


def relative_noise(agg: pd.DataFrame) -> np.ndarray:
    """Per row, the widest relative half-interval of its measured workloads' energy (0 when none is known): how far
    a cell's footprint can move by noise alone."""
    rel = np.zeros(len(agg))
    for c in [c for c in agg.columns if c.endswith("_kwh_per_1k_tokens_ci_high")]:
        mean = agg[c.removesuffix("_ci_high")].to_numpy(float)
        half = (agg[c].to_numpy(float) - agg[c.replace("_high", "_low")].to_numpy(float)) / 2
        rel = np.fmax(rel, np.nan_to_num(half / mean, nan=0.0))
    return rel


def fig_loss_vs_footprint(data: PlotData, width: str) -> plt.Figure:
    """Figure 2: loss against each cell's own energy, carbon and water, with the Pareto frontier."""
    fig, axes = figure(width, 3, 1.8, 2.3)
    for ax, qty in zip(axes, QTY_LABEL, strict=True):
        key = f"cell_{qty}"
        agg = data.agg[data.agg[key].notna()]  # a cell whose footprint is unknown has no place on this axis
        unit, f = axis_unit(agg[key], qty)
        for (method, structure, scope), g in agg.groupby(["method", "structure", "scope"], sort=True):
            ax.scatter(g[key] * f, g["loss_mean"], color=data.colours[method],
                       marker=marker(structure, scope), s=12, zorder=3,
                       label="dense" if method == "dense" else line_label(method, scope, structure))
        x, y = (agg[key] * f).to_numpy(float), agg["loss_mean"].to_numpy(float)
        rel = relative_noise(agg)
        if rel.any():
            ax.errorbar(x, y, xerr=x * rel, fmt="none", ecolor="#999999", elinewidth=0.5, capsize=1, zorder=2)
        front = separated_pareto(x, y, x * (1 - rel), x * (1 + rel))
        if len(front):
            ax.step(x[front], y[front], where="post", color="#555555", lw=0.8, zorder=2, label="Pareto frontier")
            for i in front:
                ax.annotate(agg["target"].iloc[i], (x[i], y[i]), textcoords="offset points", xytext=(3, 3), fontsize=5)
        ax.set_xlabel(mpl_text(f"cell {data.label(qty)}") + f" ({unit})")
        ax.set_ylabel("validation loss (nats/token)")
        unknown = len(data.agg) - len(agg)
        ax.set_title(f"({'abc'[list(QTY_LABEL).index(qty)]}) loss vs {QTY_LABEL[qty]}"
                     + (f" ({unknown} unknown, not shown)" if unknown else ""), loc="left")
    note = (f"cell footprint = score + prune + recover + eval + inference (shared dense training excluded), "
            f"{BASIS_LABEL[data.energy]} energy; bars: 95% interval of the paired windows; frontier only through points "
            f"separated beyond noise, labelled with their target ratio")
    fig.suptitle(textwrap.fill(note, 70 if width == "one" else 200), fontsize=5.5)
    legend_below(fig, axes, width)
    return fig


def fig_footprint_by_phase(data: PlotData, width: str, ratio: float | None = None) -> plt.Figure:
    """Figure 3: each cell's footprint stacked by phase, per method at one ratio; dense training stated apart."""
    agg = data.agg
    r = pick_ratio(agg, ratio)
    rows = pd.concat([agg[agg["method"] == "dense"],
                      agg[(agg["method"] != "dense") & (agg["ratio"] - r).abs().lt(1e-9)]])
    fig, axes = figure(width, 3, 1.9, 2.4)
    names = ["dense" if m == "dense" else line_label(m, s, st)
             for m, st, s in zip(rows["method"], rows["structure"], rows["scope"], strict=True)]
    x = np.arange(len(rows))
    for ax, qty in zip(axes, QTY_LABEL, strict=True):
        unit, f = axis_unit(rows[f"cell_{qty}"], qty)
        # a phase not run has no segment; a cell with an unknown phase gets no bar at all, and a '–' instead
        known = rows[f"cell_{qty}"].notna().to_numpy()
        bottom = np.zeros(len(rows))
        for ph in CELL_PHASES:
            vals = np.where(known, (rows[f"{ph}_{qty}"] * f).to_numpy(float), 0.0)
            vals = np.nan_to_num(vals, nan=0.0)  # phases this cell did not run
            if not vals.any():
                continue
            ax.bar(x, vals, bottom=bottom, color=style.PHASE_COLOURS[ph], width=0.7, label=ph, edgecolor="white", lw=0.3)
            bottom += vals
        for i in np.flatnonzero(~known):
            ax.annotate("–", (x[i], 0), ha="center", va="bottom", fontsize=7)
        lo_c, hi_c = f"cell_{qty}_low", f"cell_{qty}_high"
        if lo_c in rows.columns and pd.to_numeric(rows[lo_c], errors="coerce").notna().any():  # carbon, water
            tot = (rows[f"cell_{qty}"] * f).to_numpy(float)
            err = np.vstack([tot - rows[lo_c].to_numpy(float) * f, rows[hi_c].to_numpy(float) * f - tot])
            ax.errorbar(x, tot, yerr=np.nan_to_num(err, nan=0.0), fmt="none", ecolor="#333333", elinewidth=0.6,
                        capsize=1.5, zorder=4)
        ax.set_xticks(x, names, fontsize=5.5, rotation=35, ha="right", rotation_mode="anchor")
        for tick, m in zip(ax.get_xticklabels(), rows["method"], strict=True):
            tick.set_color(data.colours[m])
        ax.grid(axis="x", visible=False)
        ax.set_ylabel(mpl_text(f"{data.label(qty)} per cell") + f" ({unit})")
        train = rows[f"train_{qty}"].dropna()
        shared = ""
        if not train.empty:
            t_unit, t_f = axis_unit(train, qty)
            shared = f"; dense training, shared: {train.mean() * t_f:.3g} {t_unit}"
        ax.set_title(f"({'abc'[list(QTY_LABEL).index(qty)]}) {QTY_LABEL[qty]}{shared}", loc="left", fontsize=6)
    title = (f"footprint by phase at target ratio {r:g} (mean over seeds; {BASIS_LABEL[data.energy]} energy; "
             f"water EWIF {mpl_text(data.water)}; whiskers: carbon and water 95% interval over the energy's error and "
             "the site factors)")
    fig.suptitle(textwrap.fill(title, 60 if width == "one" else 100), fontsize=7)
    legend_below(fig, axes[:1], width)
    return fig


NO_INFERENCE = ("these results have no measured inference (eval.inference_tokens: 0, or no inference energy): "
                "figure 5 needs it")


def has_inference(data: PlotData) -> bool:
    cols = [c for c in ("inference_kwh_per_1k_tokens", "inference_tokens_per_s") if c in data.agg.columns]
    return any(pd.to_numeric(data.agg[c], errors="coerce").notna().any() for c in cols)


def fig_loss_vs_inference(data: PlotData, width: str) -> plt.Figure:
    """Figure 5: loss against measured inference energy per 1k tokens and against tokens/s, a marker per structure:
    where the pruning saves at serving time (a smaller dense model), and where it does not (zeros in dense kernels)."""
    agg = data.agg
    fig, (ax_e, ax_t) = figure(width, 2, 1.9, 2.4)
    drawn = False
    for ax, key in ((ax_e, "inference_kwh_per_1k_tokens"), (ax_t, "inference_tokens_per_s")):
        rows = agg[pd.to_numeric(agg[key], errors="coerce").notna()] if key in agg.columns else agg.iloc[:0]
        if rows.empty:
            continue
        drawn = True
        unit, f = axis_unit(rows[key], "energy_kwh") if key.endswith("tokens") else ("tokens/s", 1.0)
        for (method, structure, scope), g in rows.groupby(["method", "structure", "scope"], sort=True):
            ax.scatter(g[key].astype(float) * f, g["loss_mean"], color=data.colours[method],
                       marker=marker(structure, scope), s=14, zorder=3,
                       label="dense" if method == "dense" else line_label(method, scope, structure))
        ax.set_ylabel("validation loss (nats/token)")
        if key.endswith("tokens"):
            ax.set_xlabel(mpl_text(f"inference {data.label('energy_kwh')} per 1k tokens") + f" ({unit})")
            ax.set_title("(a) loss vs inference energy per 1k tokens", loc="left")
        else:
            ax.set_xlabel("inference throughput (tokens/s)")
            ax.set_title("(b) loss vs tokens/s (right is faster)", loc="left")
    if not drawn:
        plt.close(fig)
        raise UserError(NO_INFERENCE)
    legend_below(fig, [ax_e, ax_t], width)
    return fig


FIGURES = {
    "fig1_loss_vs_ratio": lambda d, w, o: fig_loss_vs_ratio(d, w),
    "fig2_loss_vs_footprint": lambda d, w, o: fig_loss_vs_footprint(d, w),
    "fig3_footprint_by_phase": lambda d, w, o: fig_footprint_by_phase(d, w, o.get("ratio")),
    "fig4_layer_sparsity": lambda d, w, o: fig_layer_sparsity(d, w, o.get("method"), o.get("ratio")),
    "fig5_loss_vs_inference": lambda d, w, o: fig_loss_vs_inference(d, w),
}


def save(fig: plt.Figure, out: Path, stem: str, formats: tuple[str, ...] = FIG_FORMATS) -> list[Path]:
    """Write one figure in each format with fixed metadata, so the same input gives the same bytes."""
    paths = []
    for fmt in formats:
        p = out / f"{stem}.{fmt}"
        save_with(lambda tmp, fmt=fmt: fig.savefig(tmp, format=fmt, metadata=style.METADATA[fmt],
                                                   dpi=300 if fmt == "png" else None), p)  # never through a link
        paths.append(p)
    return paths


def render_all(rows: pd.DataFrame, out: Path, width: str = "two", formats: tuple[str, ...] = FIG_FORMATS,
               ratio: float | None = None, method: str | None = None,
               energy: str = "gross") -> tuple[list[Path], dict[str, str]]:
    """Every figure into `out`; returns (files written, {figure: why it was skipped}). Every figure is drawn before
    any is written, so a bad --ratio or --method leaves no file behind."""
    style.apply_style()
    data = prepare(rows, energy)
    figs: dict[str, plt.Figure] = {}
    skipped: dict[str, str] = {}
    try:
        for stem, make in FIGURES.items():
            missing = {"fig4_layer_sparsity": None if has_layer_sparsity(data) else NO_LAYER_SPARSITY,
                       "fig5_loss_vs_inference": None if has_inference(data) else NO_INFERENCE}.get(stem)
            if missing:
                skipped[stem] = missing
                log.warning("%s skipped: %s", stem, missing)
                continue
            try:
                figs[stem] = make(data, width, {"ratio": ratio, "method": method})
            except UserError as err:
                if ratio is not None or method is not None:
                    raise
                skipped[stem] = str(err)
                log.warning("%s skipped: %s", stem, err)
        written: list[Path] = []
        try:
            out.mkdir(parents=True, exist_ok=True)
            for stem, fig in figs.items():
                written += save(fig, out, stem, formats)
        except OSError as err:
            raise UserError(f"{out}: cannot write the figures: {err.strerror or err}") from None
    finally:
        for fig in figs.values():
            plt.close(fig)
    return written, skipped
