"""Text layout of a figure, checked with matplotlib's own renderer: no two pieces of text overlap, none leaves the
canvas. Boxes are those the renderer draws (window extents after a full draw, constrained layout included)."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

TOLERANCE_PX = 1.0  # anti-aliasing: a box may touch another or the edge by a pixel


def _tick_labels(fig: Figure) -> tuple[set[int], set[int]]:
    """(every tick label, the tick labels an axis draws): ticks outside the view limits exist but are not drawn."""
    every, drawn = set(), set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                every |= {id(tick.label1), id(tick.label2)}
            for tick in axis._update_ticks():  # what Axis.draw draws (matplotlib's own selection)
                drawn |= {id(t) for t in (tick.label1, tick.label2) if t.get_visible()}
    return every, drawn


def _texts(fig: Figure) -> list[Text]:
    out = []
    every, drawn = _tick_labels(fig)
    for t in fig.findobj(Text):
        if id(t) in every and id(t) not in drawn:
            continue
        if not t.get_visible() or not t.get_text().strip() or (t.get_alpha() is not None and t.get_alpha() == 0):
            continue
        ax = t.axes
        if ax is not None and t in ax.texts and t.get_clip_on():
            # text drawn inside an axes and clipped by it (an annotation): only what shows counts
            bb = t.get_window_extent()
            if not bb.overlaps(ax.bbox):
                continue
        out.append(t)
    return out


def _shrunk(bb: Bbox) -> Bbox:
    return Bbox.from_extents(bb.x0 + TOLERANCE_PX, bb.y0 + TOLERANCE_PX, bb.x1 - TOLERANCE_PX, bb.y1 - TOLERANCE_PX)


def layout_problems(fig: Figure) -> list[str]:
    """'overlap: "a" / "b"' and 'off canvas: "c"' for every offending text artist (empty when the layout is clean)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    canvas = fig.bbox
    texts = _texts(fig)
    boxes = [(t, _shrunk(t.get_window_extent(renderer))) for t in texts]
    problems = []
    for t, bb in boxes:
        if bb.x0 < canvas.x0 or bb.y0 < canvas.y0 or bb.x1 > canvas.x1 or bb.y1 > canvas.y1:
            problems.append(f"off canvas: {t.get_text()!r} at {bb.bounds} (canvas {canvas.bounds})")
    for i, (a, ba) in enumerate(boxes):
        for b, bb in boxes[i + 1:]:
            if ba.overlaps(bb):
                problems.append(f"overlap: {a.get_text()!r} / {b.get_text()!r}")
    return problems
