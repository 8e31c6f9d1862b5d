"""What every figure shares: the data they read (pooled aggregate rows, cells, colours), line labels, markers and
panel layout."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ecobench.errors import UserError
from ecobench.report import style
from ecobench.report.style import mpl_text, plt
from ecobench.report.tables import BASIS_LABEL, aggregate, cell_table, water_conventions
from ecobench.report.units import QTY_NAMES as QTY_LABEL
from ecobench.report.units import mpl_unit, pick_unit


@dataclass
class PlotData:
    """What the figures need: pooled aggregate rows, the cells (for per-layer sparsity), and the colours."""

    agg: pd.DataFrame
    cells: pd.DataFrame
    colours: dict[str, str]
    notes: dict[str, str] = field(default_factory=dict)  # figure stem -> why it was skipped
    energy: str = "gross"  # energy basis: gross | above-idle
    water: str = ""  # the EWIF convention(s) of the rows
    metric: str = "loss"  # figure 1's y axis: the suite's eval.metric (loss | mae | accuracy)

    def label(self, qty: str) -> str:
        """'energy (gross)', 'water (above idle; EWIF mix:hydro-excluded)': what a footprint axis shows."""
        extra = f"; EWIF {self.water}" if qty == "water_l" and self.water else ""
        return f"{QTY_LABEL[qty]} ({BASIS_LABEL[self.energy]}{extra})"


def prepare(rows: pd.DataFrame, energy: str = "gross") -> PlotData:
    cells = cell_table(rows, energy)
    if cells.empty:
        raise UserError("no finished cells to plot")
    pooled = cells.assign(run="all")
    agg = aggregate(pooled)
    names = dict(zip(cells["method"], cells["method_name"], strict=True))
    water = ", ".join(water_conventions(rows[rows["status"] == "ok"]))
    named = cells["eval_metric"].dropna() if "eval_metric" in cells.columns else pd.Series(dtype=object)
    metric = str(named.iloc[0]) if len(named) and f"{named.iloc[0]}_mean" in agg.columns else "loss"
    return PlotData(agg, cells, style.method_colours(list(names), names), energy=energy, water=water, metric=metric)


def axis_unit(values: pd.Series, qty: str) -> tuple[str, float]:
    unit, factor = pick_unit(values, qty)
    return mpl_unit(unit), factor


def series(agg: pd.DataFrame) -> list[tuple[str, str, str, pd.DataFrame]]:
    """(method, structure, scope, rows sorted by ratio) for every pruned line, in a stable order."""
    pruned = agg[(agg["method"] != "dense") & agg["ratio"].notna()]
    return [(m, st, s, g.sort_values("ratio"))
            for (m, st, s), g in pruned.groupby(["method", "structure", "scope"], sort=True)]


def line_label(method: str, scope: str, structure: str = "unstructured") -> str:
    """'magnitude 2:4 (layer)'; a row without a scope (dense, the dense+recover control) is its method alone."""
    shown = "" if structure in ("unstructured", "-") else f" {structure}"
    return mpl_text(f"{method}{shown}" + ("" if scope in ("-", "") else f" ({scope})"))


def marker(structure: str, scope: str) -> str:
    """Unstructured points keep their scope's marker; other structures have their own."""
    if structure in ("unstructured", "-"):
        return style.SCOPE_MARKER.get(scope, "o")
    return STRUCTURE_MARKER.get(structure, "X" if ":" in structure else "P")


def linestyle(structure: str, scope: str) -> str:
    return style.SCOPE_STYLE.get(scope, "-") if structure in ("unstructured", "-") else STRUCTURE_STYLE.get(
        structure, "-.")


STRUCTURE_MARKER = {"structured": "^", "2:4": "X", "4:8": "P"}
STRUCTURE_STYLE = {"structured": (0, (5, 1, 1, 1))}  # dash-dot-dot: apart from layer (-) and global (--)


def dense_row(agg: pd.DataFrame) -> pd.Series | None:
    d = agg[agg["method"] == "dense"]
    return d.iloc[0] if not d.empty else None


def figure(width: str, panels: int, height_one: float, height_two: float) -> tuple[plt.Figure, list[plt.Axes]]:
    """Panels side by side at two-column width, stacked at one-column width."""
    w = style.WIDTHS_IN[width]
    if width == "two":
        fig, axes = plt.subplots(1, panels, figsize=(w, height_two), layout="constrained")
    else:
        fig, axes = plt.subplots(panels, 1, figsize=(w, height_one * panels), layout="constrained")
    return fig, list(np.atleast_1d(axes))


def legend_below(fig: plt.Figure, axes: list[plt.Axes], width: str) -> None:
    handles, labels = {}, []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    ncol = min(len(labels), 4 if width == "two" else 2)
    if labels:
        fig.legend([handles[lab] for lab in labels], labels, loc="outside lower center", ncol=ncol)


def default_ratio(agg: pd.DataFrame) -> float:
    """The middle non-zero target ratio present (the interesting regime is rarely at either end)."""
    ratios = sorted(r for r in agg.loc[agg["method"] != "dense", "ratio"].dropna().unique() if r > 0)
    if not ratios:
        raise UserError("no pruned cells with a target ratio to plot")
    return float(ratios[(len(ratios) - 1) // 2 + (1 if len(ratios) % 2 == 0 else 0)])


def pick_ratio(agg: pd.DataFrame, ratio: float | None) -> float:
    if ratio is None:
        return default_ratio(agg)
    have = sorted(agg["ratio"].dropna().unique())
    for r in have:
        if abs(r - ratio) < 1e-9:
            return float(r)
    raise UserError(f"--ratio {ratio:g}: not in these results; ratios present: {', '.join(f'{r:g}' for r in have)}")
