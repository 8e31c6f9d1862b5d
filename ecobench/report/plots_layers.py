"""Figure 4: per-layer sparsity of masked cells, and the MLP neurons and heads each layer kept in structured cells."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ecobench.errors import UserError
from ecobench.families import PARTS, part_of
from ecobench.report.figure_base import PlotData, figure, pick_ratio
from ecobench.report.style import mpl_text, plt

_BLOCK = re.compile(r"^(?P<prefix>.*?)\.(?P<idx>\d+)\.(?P<rest>.+?)(?:\.weight)?$")


def _layer_grid(fractions: dict[str, float]) -> tuple[list[str], list[str], np.ndarray]:
    """{tensor name: fraction} -> (row labels = blocks, column labels = tensor kinds, matrix with NaN gaps). An
    image-text model's rows are grouped by part: vision blocks, the projector, language blocks."""
    if any(part_of(n) for n in fractions):
        return _parts_grid(fractions)
    parsed = {n: _BLOCK.match(n) for n in fractions}
    if all(parsed.values()):
        blocks = sorted({int(m["idx"]) for m in parsed.values()})
        kinds = list(dict.fromkeys(m["rest"] for m in parsed.values()))
        grid = np.full((len(blocks), len(kinds)), np.nan)
        for n, m in parsed.items():
            grid[blocks.index(int(m["idx"])), kinds.index(m["rest"])] = fractions[n]
        return [f"block {b}" for b in blocks], kinds, grid
    names = list(fractions)
    return names, ["fraction"], np.array([[fractions[n]] for n in names])


def _parts_grid(fractions: dict[str, float]) -> tuple[list[str], list[str], np.ndarray]:
    rows: dict[tuple[int, int, str], dict[str, float]] = {}  # (part order, block, label) -> kind -> fraction
    for n, v in fractions.items():
        part = part_of(n) or "other"
        order = PARTS.index(part) if part in PARTS else len(PARTS)
        m = _BLOCK.match(n)
        if m:
            rows.setdefault((order, int(m["idx"]), f"{part} block {m['idx']}"), {})[m["rest"]] = v
        else:  # a part without blocks (the projector): one row, its layers as columns
            rows.setdefault((order, -1, part), {})[n.removesuffix(".weight").rsplit(".", 1)[-1]] = v
    keys = sorted(rows)
    kinds = list(dict.fromkeys(k for key in keys for k in rows[key]))
    grid = np.full((len(keys), len(kinds)), np.nan)
    for i, key in enumerate(keys):
        for k, v in rows[key].items():
            grid[i, kinds.index(k)] = v
    return [key[2] for key in keys], kinds, grid


NO_LAYER_SPARSITY = ("these results record no per-layer sparsity (metrics.layer_sparsity in cells.jsonl); "
                     "figure 4 needs a run made by an ecobench that records it")


def has_layer_sparsity(data: PlotData) -> bool:
    col = data.cells.get("layer_sparsity")
    return col is not None and any(isinstance(d, dict) and d for d in col)


def _kept_grid(frames: list[list[dict]]) -> tuple[list[str], np.ndarray, list[list[str]]]:
    """Per-layer kept neurons and heads (mean over seeds) -> (row labels, fraction pruned, 'kept/total' texts)."""
    by_layer: dict[int, list[dict]] = {}
    for kept in frames:
        for k in kept:
            by_layer.setdefault(int(k["layer"]), []).append(k)
    layers = sorted(by_layer)
    grid = np.full((len(layers), 2), np.nan)
    texts = [["", ""] for _ in layers]
    for i, layer in enumerate(layers):
        ks = by_layer[layer]
        for j, part in enumerate(("neurons", "heads")):
            kept = float(np.mean([k[f"{part}_kept"] for k in ks]))
            total = ks[0][f"{part}_total"]
            grid[i, j] = 1 - kept / total if total else np.nan
            texts[i][j] = f"{kept:.0f}/{total}"
    return [f"block {b}" for b in layers], grid, texts


def fig_layer_sparsity(data: PlotData, width: str, method: str | None = None, ratio: float | None = None) -> plt.Figure:
    """Figure 4: fraction pruned per layer (blocks x tensors) for one method and ratio, a panel per structure and
    scope of masked cells; for structured cells, the MLP neurons and heads each layer kept (kept/total)."""
    cells = data.cells
    if not has_layer_sparsity(data):
        raise UserError(NO_LAYER_SPARSITY)
    pruned = cells[(cells["method"] != "dense") & cells["layer_sparsity"].notna()]
    methods = sorted(pruned["method"].unique())
    if method is None:
        method = "trajectory" if "trajectory" in methods else methods[0]
    elif method not in methods:
        raise UserError(f"--method {method!r}: not in these results; methods present: {', '.join(methods)}")
    r = pick_ratio(data.agg, ratio)
    sel = pruned[(pruned["method"] == method) & (pruned["ratio"] - r).abs().lt(1e-9)]
    shrunk = sel[(sel["structure"] == "structured") & sel["layer_kept"].map(lambda v: isinstance(v, list) and v != [])
                 ] if "layer_kept" in sel.columns else sel.iloc[:0]
    masked = sel[sel["structure"] != "structured"]
    panels = sorted(set(zip(masked["structure"], masked["scope"], strict=True)))
    n = len(panels) + (1 if len(shrunk) else 0)
    fig, axes = figure(width, max(n, 1), 1.7, 2.2)
    im = None
    for ax, (structure, scope) in zip(axes, panels, strict=False):
        part = masked[(masked["structure"] == structure) & (masked["scope"] == scope)]
        frames = [d for d in part["layer_sparsity"] if isinstance(d, dict)]
        rows, kinds, grid = _layer_grid(pd.DataFrame(frames).mean().to_dict())
        texts = [[f"{100 * v:.0f}" if not np.isnan(v) else "" for v in row] for row in grid]
        im = _heat(ax, grid, rows, kinds, texts)
        shown = "" if structure == "unstructured" else f"{structure}, "
        ax.set_title(mpl_text(f"{method}, {shown}{scope} scope, ratio {r:g} (n={len(frames)})"), loc="left",
                     fontsize=6)
    if len(shrunk):
        ax = axes[len(panels)]
        rows, grid, texts = _kept_grid(list(shrunk["layer_kept"]))
        im = _heat(ax, grid, rows, ["MLP neurons", "heads"], texts)
        ax.set_title(mpl_text(f"{method}, structured, ratio {r:g}: kept/total (n={len(shrunk)})"), loc="left",
                     fontsize=6)
    if im is not None:
        # below the panels: at the side its label ran off the canvas (one column, and two with many layer kinds)
        fig.colorbar(im, ax=axes, label="weights (or neurons, heads) pruned (%)", shrink=0.9, location="bottom")
    return fig


def _heat(ax: plt.Axes, grid: np.ndarray, rows: list[str], kinds: list[str], texts: list[list[str]]):
    im = ax.imshow(100 * grid, cmap="cividis", vmin=0, vmax=100, aspect="auto")
    upright = len(kinds) > 6  # many kinds (an image-text model's vision and language layers): at 30° they overprint
    ax.set_xticks(range(len(kinds)), [mpl_text(k) for k in kinds], rotation=90 if upright else 30,
                  ha="center" if upright else "right", fontsize=5.5)
    ax.set_yticks(range(len(rows)), [mpl_text(x) for x in rows], fontsize=5.5)
    ax.grid(False)
    for (i, j), v in np.ndenumerate(grid):
        if not np.isnan(v):
            ax.text(j, i, texts[i][j], ha="center", va="center", fontsize=5, color="black" if v > 0.6 else "white")
    return im
