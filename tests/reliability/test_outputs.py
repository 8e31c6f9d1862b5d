"""compare, plot and report write only outside results folders, never over one, and say any output problem in one
line before doing any work."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from .conftest import copy_folder, one_line_error, run_inprocess


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def run_copy(tiny_run: Path, tmp_path: Path) -> Path:
    return copy_folder(tiny_run, tmp_path / "R")


def _cases(r: Path, tmp: Path) -> dict[str, list[str]]:
    long = "x" * 300
    return {
        "report over the results": ["report", str(r), "--out", str(r / "cells.jsonl")],
        "compare over the manifest": ["compare", str(r), "--format", "csv", "-o", str(r / "manifest.json")],
        "report beside the results": ["report", str(r), "--out", str(r / "report.html")],
        "report over the folder": ["report", str(r), "--out", str(r)],
        "plot into the results": ["plot", str(r), "--out", str(r / "figs")],
        "plot onto the dense folder": ["plot", str(r), "--out", str(r / "dense")],
        "plot onto a file": ["plot", str(r), "--out", str(tmp / "a-file")],
        "report onto a folder": ["report", str(r), "--out", str(tmp / "a-dir")],
        "report under a file": ["report", str(r), "--out", str(tmp / "a-file" / "r.html")],
        "report name too long": ["report", str(r), "--out", str(tmp / f"{long}.html")],
        "compare name too long": ["compare", str(r), "-o", str(tmp / long / "t.csv")],
        "plot into /proc": ["plot", str(r), "--out", "/proc/ecobench-figures"],
        "report into /proc": ["report", str(r), "--out", "/proc/ecobench-report.html"],
        "plot with a bad ratio": ["plot", str(r), "--out", str(tmp / "figs"), "--ratio", "0.7"],
        "plot with a ratio out of range": ["plot", str(r), "--out", str(tmp / "figs"), "--ratio", "nan"],
        "plot with a bad method": ["plot", str(r), "--out", str(tmp / "figs"), "--method", "nope"],
    }


CASES = list(_cases(Path("R"), Path("/nonexistent")))


@pytest.mark.parametrize("case", CASES)
def test_output_problems_are_one_line_and_touch_nothing(run_copy: Path, tmp_path: Path, capsys, case: str) -> None:
    """Reproductions 4 and 7: outputs overwrote results with HTML or the manifest with CSV, a file or folder in the
    way or a read-only place ended in a traceback, and a bad --ratio wrote two figures before failing."""
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-dir").mkdir()
    args = _cases(run_copy, tmp_path)[case]
    before = _digest(run_copy)
    listing = sorted(p.name for p in tmp_path.iterdir())
    rc, stdout, err = run_inprocess(args, capsys)
    assert rc == 2, err
    one_line_error(err)
    assert stdout == ""
    assert _digest(run_copy) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # nothing written (no figs/ folder either)


def test_read_only_folder_is_refused_before_any_work(run_copy: Path, tmp_path: Path, capsys) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK) and os.geteuid() == 0:
            pytest.skip("root writes into read-only folders; /proc covers this case")
        rc, _, err = run_inprocess(["report", str(run_copy), "--out", str(ro / "r.html")], capsys)
        assert rc == 2 and "cannot write" in one_line_error(err)
    finally:
        ro.chmod(0o755)


@pytest.mark.slow  # every output of a real run: figures, report, statement (~2.3 s)
def test_good_outputs_are_written(run_copy: Path, tmp_path: Path, capsys) -> None:
    before = _digest(run_copy)
    rc, _, err = run_inprocess(["plot", str(run_copy), "--out", str(tmp_path / "figs"), "--ratio", "0.5",
                                "--format", "svg"], capsys)
    assert rc == 0, err
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [
        "fig1_loss_vs_ratio.svg", "fig2_loss_vs_footprint.svg", "fig3_footprint_by_phase.svg",
        "fig4_layer_sparsity.svg"]
    rc, _, err = run_inprocess(["compare", str(run_copy), "-o", str(tmp_path / "t.csv"), "--format", "csv"], capsys)
    assert rc == 0 and (tmp_path / "t.csv").read_text().startswith("run,")
    assert _digest(run_copy) == before
