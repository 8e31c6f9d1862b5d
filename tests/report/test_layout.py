"""Every figure at one and two columns, for smoke, a busy copy of it, and cut-down llm and multimodal runs: no two
pieces of text overlap and none leaves the canvas (boxes from matplotlib's renderer)."""

from __future__ import annotations

import pytest

from ecobench.errors import UserError
from ecobench.report import plots, style
from ecobench.report.runs import load_runs
from ecobench.report.style import plt

from .layout import layout_problems

RUNS = ["smoke_run", "busy_run", pytest.param("llm_cut_run", marks=[pytest.mark.slow, pytest.mark.early]),
        pytest.param("multimodal_cut_run", marks=[pytest.mark.slow, pytest.mark.early])]  # each makes its run


@pytest.mark.parametrize("run", RUNS)
def test_every_figure_lays_out_cleanly(run: str, request: pytest.FixtureRequest) -> None:
    style.apply_style()
    data = plots.prepare(load_runs([str(request.getfixturevalue(run))]).rows)
    drawn = 0
    for width in ("one", "two"):
        for stem, make in plots.FIGURES.items():
            try:
                fig = make(data, width, {})
            except UserError:
                continue  # a figure this run has no data for (layer sparsity of a run without it)
            drawn += 1
            try:
                assert layout_problems(fig) == [], (stem, width)
            finally:
                plots.plt.close(fig)
    assert drawn >= 8


def test_the_checker_sees_overlap_and_clipping() -> None:
    """The check itself can fail: two titles on top of each other, and a label pushed off the canvas."""
    style.apply_style()
    fig, ax = plots.plt.subplots(figsize=(3, 2))
    ax.set_title("a title")
    ax.text(0.5, 1.02, "a title too", transform=ax.transAxes, ha="center")
    fig.text(1.05, 0.5, "outside")
    problems = layout_problems(fig)
    plots.plt.close(fig)
    assert any(p.startswith("overlap") for p in problems) and any(p.startswith("off canvas") for p in problems)


def test_log_axis_tick_labels_never_overprint() -> None:
    """Throughput axes of 6,000-36,000 tokens/s at one column's width: the minor label '9000' overprinted the major
    '10000' (a cut-down multimodal run's figure 5, in CI); long minor labels are now only 2 and 5."""
    import pandas as pd

    from ecobench.report.figure_base import figure
    from ecobench.report.plots_paired import _log_limits

    style.apply_style()
    for lo in (6000, 7000, 8000, 9000):
        for span in (1.5, 2, 3, 4):
            fig, axes = figure("one", 1, 1.5, 1.5)
            axes[0].plot([lo, lo * span], [1, 2])
            _log_limits(axes[0], [pd.Series([lo, lo * span])])
            assert layout_problems(fig) == [], (lo, span)
            plt.close(fig)
