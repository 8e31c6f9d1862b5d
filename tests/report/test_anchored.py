"""Issue 25: on a results folder where half the cells ran under a competing load, the default compare and figures
2, 3 and 5 show identical work with identical (anchored) numbers, and nothing is ranked on a raw window mean."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecobench.report import paired, plots, style
from ecobench.report.formats import build_columns, render
from ecobench.report.plots_paired import anchored_phase
from ecobench.report.runs import load_runs
from ecobench.report.tables import compare_frame


def _agg(run: Path) -> pd.DataFrame:
    runs = load_runs([str(run)])
    return compare_frame(runs.rows, runs.names).set_index(["method", "structure", "scope", "target"])


def test_busy_cells_keep_their_anchored_values_and_raw_means_move(flagged_run: Path, busy_run: Path) -> None:
    quiet, busy = _agg(flagged_run), _agg(busy_run)
    hit = busy.index[paired.contended(busy.reset_index()).to_numpy() > 0]
    assert 0 < len(hit) < len(busy)
    lab = paired.headline(quiet.reset_index())
    for key in hit:
        q, b = quiet.loc[key], busy.loc[key]
        assert b[f"{lab}_kwh_per_1k_tokens_raw"] == pytest.approx(10 * q[f"{lab}_kwh_per_1k_tokens_raw"], rel=1e-6)
        assert b[f"{lab}_ratio"] == pytest.approx(q[f"{lab}_ratio"], rel=1e-9)  # both sides of each pair slowed
        # anchored: the same ratio x the run's dense reference (the median of its quiet dense windows)
        assert b[f"{lab}_kwh_per_1k_tokens"] / q[f"{lab}_kwh_per_1k_tokens"] == pytest.approx(
            b[f"{lab}_ref_kwh_per_1k_tokens"] / q[f"{lab}_ref_kwh_per_1k_tokens"])
        assert 0.7 < b[f"{lab}_kwh_per_1k_tokens"] / q[f"{lab}_kwh_per_1k_tokens"] < 1.4
        assert b[f"{lab}_kwh_per_1k_tokens_ci_low"] <= q[f"{lab}_kwh_per_1k_tokens"] <= b[f"{lab}_kwh_per_1k_tokens_ci_high"]


def test_nothing_is_ranked_on_a_raw_window_mean(flagged_run: Path, busy_run: Path) -> None:
    """Every column that can be bolded reads a value that the busy machine did not move 10x."""
    quiet, busy = _agg(flagged_run), _agg(busy_run)
    for view in ("default", "full", "inference"):
        cols = [c for c in build_columns(busy.reset_index(), view=view) if c.best and c.group == "footprint"]
        for c in cols:
            assert c.interval is not None, (view, c.header)  # a footprint winner needs an interval
            for key in busy.index:
                vq, vb = c.value(quiet.loc[key]), c.value(busy.loc[key])
                if pd.notna(vq) and vq:
                    assert 0.7 < vb / vq < 1.4, (view, c.header, key, vq, vb)
    table = render(busy.reset_index(), "table")
    assert max(len(line) for line in table.splitlines()) <= 160
    assert "contended" in table.splitlines()[0]


def _offsets(fig, panel: int) -> np.ndarray:
    ax = fig.axes[panel]
    pts = [c.get_offsets() for c in ax.collections if hasattr(c, "get_offsets") and len(c.get_offsets())
           and c.get_offsets().shape[1] == 2 and type(c).__name__ == "PathCollection"]
    return np.concatenate(pts) if pts else np.zeros((0, 2))


def test_figures_show_identical_work_at_identical_places(flagged_run: Path, busy_run: Path) -> None:
    style.apply_style()
    dq, db = plots.prepare(load_runs([str(flagged_run)]).rows), plots.prepare(load_runs([str(busy_run)]).rows)
    for stem, panel in (("fig2_loss_vs_footprint", 0), ("fig5_loss_vs_inference", 0)):
        fq, fb = plots.FIGURES[stem](dq, "two", {}), plots.FIGURES[stem](db, "two", {})
        q, b = _offsets(fq, panel), _offsets(fb, panel)
        key = np.lexsort((q[:, 0], q[:, 1]))
        b = b[np.lexsort((b[:, 0], b[:, 1]))]
        assert len(q) == len(b) and np.all(np.abs(np.log(b[:, 0] / q[key][:, 0])) < np.log(1.4)), stem
        hollow = [c for c in fb.axes[panel].collections if type(c).__name__ == "PathCollection"
                  and len(c.get_facecolors()) == 0]
        assert hollow, f"{stem}: contended cells are drawn hollow"
        assert "contention" in fb.texts[0].get_text() if fb.texts else "contention" in fb._suptitle.get_text()
        plots.plt.close(fq)
        plots.plt.close(fb)
    for ph in ("eval", "decode"):
        vq, vb = anchored_phase(dq.agg, ph)[0], anchored_phase(db.agg, ph)[0]
        assert np.all(np.abs(np.log(vb / vq)) < np.log(1.4))
