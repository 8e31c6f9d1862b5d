"""The whole reading surface under random damage: truncation, byte flips, deleted files and files swapped in from
another run, of every file of a small finished run; and files that are not the folder's own: a symbolic link to a
file elsewhere, a second name (hard link) of a file elsewhere, a FIFO, a link to /dev/zero. Then run / compare /
plot / report, in-process: each ends with correct output or a one-line error and exit 2, within a bound; never a
traceback, never wrong numbers without a warning; a reader never changes a results file, and no command changes a
file outside the folder.

Examples per command are few in CI (readers are fast, `run` resumes are not); ECOBENCH_CORRUPTION_EXAMPLES=N
multiplies them by N and draws new examples instead of the fixed ones."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import logging
import os
import shutil
import signal
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from .conftest import one_line_error, outcome, run_inprocess, tiny_args

pytestmark = pytest.mark.slow  # end to end: every example damages a whole run folder and runs a command on it

SCALE = int(os.environ.get("ECOBENCH_CORRUPTION_EXAMPLES", "1"))
FILES = ["manifest.json", "cells.jsonl", "dense/seed-0/train.json", "dense/seed-0/model.safetensors",
         "dense/seed-0/trajectory.safetensors", "dense/seed-0/tokenizer.json"]
READER_FILES = FILES[:2]  # what compare, plot and report read

KINDS = ["truncate", "flip", "delete", "swap", "symlink", "hardlink", "fifo", "devzero"]
damage = st.tuples(st.sampled_from(KINDS), st.floats(0, 1), st.integers(1, 255))


def _settings(n: int):
    return settings(max_examples=n * SCALE, deadline=None, database=None, derandomize=SCALE == 1,
                    phases=[Phase.explicit, Phase.generate],  # no shrinking: every example is a whole run folder
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _apply(folder: Path, other: Path, name: str, how: str, where: float, xor: int) -> None:
    p = folder / name
    outside = folder.parent / "outside" / name.replace("/", "_")  # files no command may change
    if not p.is_file() or p.is_symlink() or outside.exists():
        return  # damaged already into a file that is not the folder's own
    data = p.read_bytes()
    if how == "truncate":
        p.write_bytes(data[: int(where * len(data))])
    elif how == "flip" and data:
        i = min(int(where * len(data)), len(data) - 1)
        p.write_bytes(data[:i] + bytes([data[i] ^ xor]) + data[i + 1:])
    elif how == "delete":
        p.unlink()
    elif how == "swap":
        shutil.copyfile(other / name, p)
    elif how in ("symlink", "hardlink"):  # the same bytes, but another file's
        p.rename(outside)
        (p.symlink_to if how == "symlink" else p.hardlink_to)(outside)
    elif how == "fifo":
        p.unlink()
        os.mkfifo(p)
    elif how == "devzero":
        p.unlink()
        p.symlink_to("/dev/zero")


def _digest(folder: Path) -> dict[str, str]:
    """Every entry: a regular file's sha256, a link's target, another kind's mode (a FIFO is never opened)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        st = os.lstat(p)
        if stat.S_ISREG(st.st_mode):
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            out[str(p.relative_to(folder))] = f"-> {os.readlink(p)}"
        elif not stat.S_ISDIR(st.st_mode):
            out[str(p.relative_to(folder))] = f"mode {stat.S_IFMT(st.st_mode):o}"
    return out


@contextlib.contextmanager
def _bounded(seconds: float = 120):
    """Fail, rather than hang, a command that blocks (on a FIFO, on /dev/zero) for more than `seconds`."""
    def hung(*_):
        raise AssertionError("the command hung")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(int(seconds))
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _table(csv_text: str) -> dict[tuple, dict[str, str]]:
    return {(r["method"], r["scope"], r["target"]): r for r in csv.DictReader(io.StringIO(csv_text))}


def _of_the_family(col: str) -> bool:
    """Columns that depend, by design, on which cells are present: the run's family of tests (its size sets every
    interval) and the run's dense reference (the median of every cell's dense windows) that anchored values use."""
    if col.endswith("_raw") or "_raw_" in col:
        return False
    return col.endswith(("_p_adj", "_same", "_tests", "_detectable", "_ci_low", "_ci_high", "_per_1k_tokens",
                         "_tokens_per_s")) or "_ref_" in col


def _consistent(got: str, ref: str) -> bool:
    """Every value shown is the reference's, or missing ('' : a cell that is not there is not a wrong number)."""
    want = _table(ref)
    for key, row in _table(got).items():
        if key not in want:
            return False
        for col, v in row.items():
            if v not in ("", want[key][col]) and col not in ("run", "n_seeds", "n_cells", "seeds", "n_invalid") \
                    and not _of_the_family(col):
                return False
    return True


@pytest.fixture(scope="module")
def reference(tiny_run: Path, other_run: Path) -> list[str]:
    """compare's CSV of each undamaged run: a folder whose manifest and rows are both swapped in is the other run,
    whole, and must read as that run."""
    import contextlib

    from ecobench.cli import main

    out = []
    for run in (tiny_run, other_run):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main(["compare", str(run), "--format", "csv"]) == 0
        out.append(buf.getvalue())
    return out


def _damaged(tiny_run: Path, other_run: Path, damages: list, files: list[str], tmp: Path) -> Path:
    folder = tmp / "run"
    shutil.copytree(tiny_run, folder)
    (tmp / "outside").mkdir()
    for (how, where, xor), name in zip(damages, files, strict=True):
        _apply(folder, other_run, name, how, where, xor)
    return folder


def _reader(args: list[str], folder: Path, capsys, caplog) -> tuple[int, str, bool]:
    before, outside = _digest(folder), _digest(folder.parent / "outside")
    caplog.clear()
    with caplog.at_level(logging.WARNING), _bounded():
        rc, out, err = run_inprocess(args, capsys)
    assert _digest(folder) == before, "a reader changed the results folder"
    assert _digest(folder.parent / "outside") == outside, "a reader changed a file outside the folder"
    assert rc in (0, 2), err
    if rc == 2:
        one_line_error(err)
    assert "Traceback" not in err
    return rc, out, bool(caplog.records)


@pytest.mark.early  # the module: ~21 s
@_settings(300)
@given(damages=st.lists(damage, min_size=1, max_size=2), data=st.data())
def test_compare_under_damage(tiny_run, other_run, reference, capsys, caplog, damages, data) -> None:
    files = [data.draw(st.sampled_from(READER_FILES)) for _ in damages]
    with tempfile.TemporaryDirectory() as tmp:
        folder = _damaged(tiny_run, other_run, damages, files, Path(tmp))
        rc, out, warned = _reader(["compare", str(folder), "--format", "csv"], folder, capsys, caplog)
        event(f"compare exit {rc}{', warned' if warned else ''}")
        if rc == 0:
            assert warned or any(_consistent(out, ref) for ref in reference), out


@_settings(8)
@given(damages=st.lists(damage, min_size=1, max_size=2), data=st.data(), command=st.sampled_from(["plot", "report"]))
def test_plot_and_report_under_damage(tiny_run, other_run, capsys, caplog, damages, data, command) -> None:
    files = [data.draw(st.sampled_from(FILES)) for _ in damages]  # damage they do not read must not stop them
    with tempfile.TemporaryDirectory() as tmp:
        folder = _damaged(tiny_run, other_run, damages, files, Path(tmp))
        out = Path(tmp) / ("figs" if command == "plot" else "r.html")
        extra = ["--format", "svg"] if command == "plot" else []
        rc, _, _ = _reader([command, str(folder), "--out", str(out), *extra], folder, capsys, caplog)
        event(f"{command} exit {rc}")
        assert out.exists() == (rc == 0)


@_settings(12)
@given(damages=st.lists(damage, min_size=1, max_size=2), data=st.data())
def test_run_resumes_or_refuses_under_damage(tiny_run, other_run, capsys, damages, data) -> None:
    files = [data.draw(st.sampled_from(FILES)) for _ in damages]
    with tempfile.TemporaryDirectory() as tmp:
        folder = _damaged(tiny_run, other_run, damages, files, Path(tmp))
        outside = _digest(Path(tmp) / "outside")
        with _bounded():
            rc, _, err = run_inprocess(tiny_args(folder), capsys)
        event(f"run exit {rc}")
        assert _digest(Path(tmp) / "outside") == outside, "run changed a file outside its folder"
        assert "Traceback" not in err
        if rc == 2:
            one_line_error(err)
        else:
            assert rc == 0, err
            assert outcome(folder) == outcome(tiny_run)  # the same numbers as the undamaged run
