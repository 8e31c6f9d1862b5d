"""The four figures a reviewer expects, from the aggregated comparison (and per-layer sparsity of the cells).

Each figure is written as PDF (TrueType fonts), SVG and 300-dpi PNG at one- or two-column width. Several runs
of the same suite are pooled (their seeds are more samples of the same experiment); deltas were already taken
against the dense model of the same run and seed.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pandas as pd

from ecobench.atomic import save_with
from ecobench.errors import UserError
from ecobench.report import style
from ecobench.report.figure_base import (
    PlotData,
    dense_row,
    figure,
    legend_below,
    line_label,
    linestyle,
    marker,
    prepare,
    series,
)
from ecobench.report.plots_layers import NO_LAYER_SPARSITY, fig_layer_sparsity, has_layer_sparsity
from ecobench.report.plots_paired import (
    NO_INFERENCE,
    fig_footprint_by_phase,
    fig_loss_vs_footprint,
    fig_loss_vs_inference,
    has_inference,
)
from ecobench.report.style import plt

log = logging.getLogger(__name__)

FIG_FORMATS = ("pdf", "svg", "png")


# two lines where one would run past a one-column panel's height
METRIC_AXIS = {"loss": "validation loss (nats/token)", "mae": "validation MAE\n(numeric answers)",
               "accuracy": "validation accuracy\n(exact match)"}


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
