"""Crash safety: a sweep killed with SIGKILL at any point, then re-run with the same command, ends with exactly one
row per cell, no torn line, a complete (or recomputed) dense checkpoint, and the results of an uninterrupted run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ecobench.store import LOCK
from tests.conftest import ROOT
from tests.reliability.conftest import kill_when, line_count

from .conftest import TINY_CELLS, cell_lines, outcome, run_inprocess, tiny_args


def _start(out: Path, log: Path) -> subprocess.Popen:
    """`ecobench run` of the tiny suite in its own process group (so that a kill reaches any child it spawned)."""
    with open(log, "wb") as f:
        return subprocess.Popen([sys.executable, "-m", "ecobench", *tiny_args(out)], cwd=ROOT, stdout=f,
                                stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.slow
def test_sigkill_during_training_and_between_cells_then_resume(tiny_run: Path, tmp_path: Path, capsys, caplog) -> None:
    out = tmp_path / "run"
    dense = out / "dense" / "seed-0"

    # 1. killed while the dense model trains: nothing marks it complete, no row is written
    kill_when(_start(out, tmp_path / "log1"), dense.is_dir, tmp_path / "log1")
    assert not (dense / "train.json").exists()
    assert line_count(out) == 0
    assert (out / LOCK).exists()  # left behind by the dead process: the next run must take it over

    # 2. killed between cells (or while a row is written): some rows, never a partial cell
    kill_when(_start(out, tmp_path / "log2"), lambda: line_count(out) >= 2, tmp_path / "log2")
    done = line_count(out)
    assert 2 <= done < TINY_CELLS, "the run finished before it could be killed"
    assert (dense / "train.json").is_file()

    # 3. the same command again finishes the rest
    rc, _, err = run_inprocess(tiny_args(out), capsys)
    assert rc == 0, err
    assert "taking over a stale lock" in caplog.text
    assert f"{TINY_CELLS} cells, {done} already finished, {TINY_CELLS - done} to run" in err
    rows = cell_lines(out)
    assert len(rows) == TINY_CELLS == len({r["key"] for r in rows})
    assert outcome(out) == outcome(tiny_run)
    assert not (out / LOCK).exists()


def _copy_of(run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(run, out)
    return out


def test_torn_row_is_cut_and_its_cell_rerun(tiny_run: Path, tmp_path: Path, capsys, caplog) -> None:
    """A kill while a row is being written leaves half a line: it is cut, and that cell alone runs again."""
    out = _copy_of(tiny_run, tmp_path)
    raw = (out / "cells.jsonl").read_bytes()
    lines = raw.split(b"\n")[:-1]
    last = lines[-1]
    (out / "cells.jsonl").write_bytes(b"\n".join(lines[:-1]) + b"\n" + last[: len(last) // 2])

    rc, _, err = run_inprocess(tiny_args(out), capsys)
    assert rc == 0, err
    assert "removed a torn last line" in caplog.text
    assert f"{TINY_CELLS} cells, {TINY_CELLS - 1} already finished, 1 to run" in err
    assert len(cell_lines(out)) == TINY_CELLS
    assert outcome(out) == outcome(tiny_run)


def test_incomplete_dense_checkpoint_is_recomputed(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """A kill while the dense checkpoint is saved: no train.json marker, a half-written weights file and a
    leftover temporary. The dense model is trained again (same seed, same weights) and the cells match."""
    out = _copy_of(tiny_run, tmp_path)
    dense = out / "dense" / "seed-0"
    (dense / "train.json").unlink()
    weights = (dense / "model.safetensors").read_bytes()
    (dense / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    (dense / ".model.safetensors.tmp").write_bytes(weights[:100])
    lines = (out / "cells.jsonl").read_bytes().split(b"\n")[:-1]
    (out / "cells.jsonl").write_bytes(b"\n".join(lines[:3]) + b"\n")  # three cells finished before the crash

    rc, _, err = run_inprocess(tiny_args(out), capsys)
    assert rc == 0, err
    assert (dense / "train.json").is_file()
    assert (dense / "model.safetensors").read_bytes() == weights  # same seed: bit-identical dense model
    assert outcome(out) == outcome(tiny_run)


def test_same_seed_same_losses(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """Determinism, the base of every resume: a second uninterrupted run gives the same numbers."""
    out = tmp_path / "again"
    rc, _, err = run_inprocess(tiny_args(out, "prune.ratios=[0, 0.8]"), capsys)
    assert rc == 0, err
    again = outcome(out)
    ref = outcome(tiny_run)
    assert again and all(again[k] == ref[k] for k in again)


def test_a_corrupt_row_inside_the_file_stops_the_resume(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """Only a torn *last* line is a crash's doing; damage elsewhere is reported (file and line), never skipped."""
    out = _copy_of(tiny_run, tmp_path)
    lines = (out / "cells.jsonl").read_bytes().split(b"\n")[:-1]
    lines[2] = b"42"
    (out / "cells.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    rc, _, err = run_inprocess(tiny_args(out), capsys)
    assert rc == 2 and f"error: {out / 'cells.jsonl'}:3: corrupt results line" in err
    assert not (out / LOCK).exists()
