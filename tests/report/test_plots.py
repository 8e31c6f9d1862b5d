"""Figures: every format written, sizes, TrueType fonts, byte-identical reruns, and a clear message without data."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pytest

from ecobench.errors import UserError
from ecobench.report.plots import FIGURES, render_all
from ecobench.report.plots_paired import pareto
from ecobench.results import load


@pytest.fixture(scope="module")
def rows(smoke_run):
    return load(smoke_run)


@pytest.mark.slow  # every figure in three formats, then twice more (~9 s); the fast tier renders them as PNG below
def test_all_figures_all_formats_deterministic(rows, tmp_path) -> None:
    a, skipped = render_all(rows, tmp_path / "a", width="two")
    assert skipped == {}
    assert sorted(p.name for p in a) == sorted(f"{s}.{e}" for s in FIGURES for e in ("pdf", "svg", "png"))
    b, _ = render_all(rows, tmp_path / "b", width="two", formats=("pdf", "svg"))
    for p in b:
        assert p.read_bytes() == (tmp_path / "a" / p.name).read_bytes(), f"{p.name} differs between runs"
    pdf = (tmp_path / "a" / "fig1_loss_vs_ratio.pdf").read_bytes()
    assert b"/FontFile2" in pdf and b"/Subtype /Type3" not in pdf  # TrueType embedded, no Type 3
    assert b"CreationDate" not in pdf
    png = mpimg.imread(tmp_path / "a" / "fig1_loss_vs_ratio.png")
    assert png.shape[1] == 7 * 300  # two columns at 300 dpi


def test_one_column_width(rows, tmp_path) -> None:
    written, _ = render_all(rows, tmp_path, width="one", formats=("png",))
    for p in written:
        assert mpimg.imread(p).shape[1] == int(3.5 * 300)


def test_missing_layer_sparsity_is_explained(rows, tmp_path) -> None:
    written, skipped = render_all(rows.drop(columns=["layer_sparsity"]), tmp_path, formats=("png",))
    assert "fig4_layer_sparsity" in skipped and "layer_sparsity" in skipped["fig4_layer_sparsity"]
    assert len(written) == 4


def test_unknown_ratio_is_a_user_error(rows, tmp_path) -> None:
    with pytest.raises(UserError, match="ratios present"):
        render_all(rows, tmp_path, formats=("png",), ratio=0.33)


def test_pareto() -> None:
    x, y = np.array([1.0, 2.0, 3.0, 4.0]), np.array([3.0, 1.0, 2.0, 0.5])
    assert pareto(x, y).tolist() == [0, 1, 3]
