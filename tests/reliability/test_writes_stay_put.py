"""Writes land where they are meant to, or nowhere (issue 22, class 2): no command writes into a results folder's
own files, through a symbolic link, over a file with other hard links, or into a FIFO or device; `run` never
repairs or appends to a rows file that is a link or another file's second name. Each case exits 0 or 2 with one
line, changes no file of the results folder or outside it, and ends within a bound."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import copy_folder, one_line_error, run_inprocess, tiny_args


def _state(root: Path) -> dict[str, str]:
    """Every entry under `root`: a regular file's sha256, a link's target, or its kind; never opens a FIFO."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = os.lstat(p)
        if stat.S_ISREG(st.st_mode):
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            out[str(p.relative_to(root))] = f"-> {os.readlink(p)}"
        elif not stat.S_ISDIR(st.st_mode):
            out[str(p.relative_to(root))] = f"mode {stat.S_IFMT(st.st_mode):o}"
    return out


def _symlink(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


def _hardlink(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.link(target, link)


def _torn_copy(r: Path, elsewhere: Path) -> Path:
    """A copy of the run's rows elsewhere, with a torn last line for `run` to 'repair'."""
    victim = elsewhere / "cells.jsonl"
    victim.write_bytes((r / "cells.jsonl").read_bytes() + b'{"key": "torn')
    return victim


def _relink(name: Path, target: Path, how: Callable) -> None:
    name.unlink()
    how(name, target)


# (setup(R, out-dir, elsewhere) -> None, args(R, out-dir) -> argv); R: a copy of a finished run, `elsewhere`: a
# folder of files that no case may change, `out-dir`: where outputs are asked for
CASES: dict[str, tuple[Callable, Callable]] = {
    "statement over the rows": (lambda r, o, e: None, lambda r, o: ["statement", str(r), "-o", str(r / "cells.jsonl")]),
    "statement over the manifest": (lambda r, o, e: None,
                                    lambda r, o: ["statement", str(r), "-o", str(r / "manifest.json")]),
    "statement beside the results": (lambda r, o, e: None, lambda r, o: ["statement", str(r), "-o", str(r / "s.txt")]),
    "statement through a link": (lambda r, o, e: _symlink(o / "s.txt", e / "victim.txt"),
                                 lambda r, o: ["statement", str(r), "-o", str(o / "s.txt")]),
    "statement through a link into the results": (lambda r, o, e: _symlink(o / "s.txt", r / "cells.jsonl"),
                                                  lambda r, o: ["statement", str(r), "-o", str(o / "s.txt")]),
    "statement onto a hard link of the rows": (lambda r, o, e: _hardlink(o / "s.txt", r / "cells.jsonl"),
                                               lambda r, o: ["statement", str(r), "-o", str(o / "s.txt")]),
    "statement into a FIFO": (lambda r, o, e: os.mkfifo(o / "s.txt"),
                              lambda r, o: ["statement", str(r), "-o", str(o / "s.txt")]),
    "statement into /dev/zero": (lambda r, o, e: None, lambda r, o: ["statement", str(r), "-o", "/dev/zero"]),
    "compare onto a hard link of the rows": (lambda r, o, e: _hardlink(o / "t.md", r / "cells.jsonl"),
                                             lambda r, o: ["compare", str(r), "--format", "markdown", "-o",
                                                           str(o / "t.md")]),
    "compare onto a hard link elsewhere": (lambda r, o, e: _hardlink(o / "t.md", e / "victim.txt"),
                                           lambda r, o: ["compare", str(r), "-o", str(o / "t.md")]),
    "compare through a link": (lambda r, o, e: _symlink(o / "t.csv", e / "victim.txt"),
                               lambda r, o: ["compare", str(r), "--format", "csv", "-o", str(o / "t.csv")]),
    "plot through a per-file link into the results": (
        lambda r, o, e: _symlink(o / "figs" / "fig1_loss_vs_ratio.svg", r / "cells.jsonl"),
        lambda r, o: ["plot", str(r), "--out", str(o / "figs"), "--format", "svg"]),
    "plot onto a per-file hard link": (
        lambda r, o, e: _hardlink(o / "figs" / "fig2_loss_vs_footprint.svg", e / "victim.txt"),
        lambda r, o: ["plot", str(r), "--out", str(o / "figs"), "--format", "svg"]),
    "plot into a per-file FIFO": (
        lambda r, o, e: ((o / "figs").mkdir(), os.mkfifo(o / "figs" / "fig3_footprint_by_phase.svg")),
        lambda r, o: ["plot", str(r), "--out", str(o / "figs"), "--format", "svg"]),
    "report through a link": (lambda r, o, e: _symlink(o / "r.html", e / "victim.txt"),
                              lambda r, o: ["report", str(r), "--out", str(o / "r.html")]),
    "report onto a hard link of the manifest": (lambda r, o, e: _hardlink(o / "r.html", r / "manifest.json"),
                                                lambda r, o: ["report", str(r), "--out", str(o / "r.html")]),
    "run with rows linked elsewhere (torn last line)": (
        lambda r, o, e: _relink(r / "cells.jsonl", _torn_copy(r, e), _symlink),
        lambda r, o: tiny_args(r)),
    "run with rows hard-linked elsewhere (torn last line)": (
        lambda r, o, e: _relink(r / "cells.jsonl", _torn_copy(r, e), _hardlink),
        lambda r, o: tiny_args(r)),
    "run with a dangling rows link": (
        lambda r, o, e: ((r / "cells.jsonl").unlink(), _symlink(r / "cells.jsonl", e / "new.jsonl")),
        lambda r, o: tiny_args(r)),
    "run with the manifest linked elsewhere": (
        lambda r, o, e: ((e / "manifest.json").write_bytes((r / "manifest.json").read_bytes()),
                         (r / "manifest.json").unlink(), _symlink(r / "manifest.json", e / "manifest.json")),
        lambda r, o: tiny_args(r)),
    "run with the checkpoint's tokenizer linked elsewhere": (
        lambda r, o, e: ((r / "dense/seed-0/tokenizer.json").unlink(),
                         _symlink(r / "dense/seed-0/tokenizer.json", e / "victim.txt")),
        lambda r, o: tiny_args(r)),
    "run with the dense folder linked elsewhere": (
        lambda r, o, e: ((e / "dense").mkdir(), _symlink(r / "dense" / "seed-1", e / "dense")),
        lambda r, o: tiny_args(r)),
    "run with a lock file linked elsewhere": (lambda r, o, e: _symlink(r / "lock.json", e / "victim.txt"),
                                              lambda r, o: tiny_args(r)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_writes_stay_put(case: str, tiny_run: Path, tmp_path: Path, capsys) -> None:
    import signal

    r = copy_folder(tiny_run, tmp_path / "R")
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "victim.txt").write_text("someone else's file\n")
    setup, args = CASES[case]
    setup(r, out, elsewhere)
    before = {"R": _state(r), "out": _state(out), "elsewhere": _state(elsewhere)}

    def hung(*_):
        raise AssertionError("the command hung")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(120)
    try:
        rc, _, err = run_inprocess(args(r, out), capsys)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert rc == 2, err
    line = one_line_error(err)
    assert any(w in line for w in ("results folder", "regular file", "link", "not a file")), line
    assert {"R": _state(r), "out": _state(out), "elsewhere": _state(elsewhere)} == before


def test_an_output_over_a_plain_file_is_replaced_atomically(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """The good path stays: an existing output file of one name is replaced whole (a new inode, by rename)."""
    r = copy_folder(tiny_run, tmp_path / "R")
    t = tmp_path / "t.md"
    t.write_text("old\n")
    inode = t.stat().st_ino
    rc, _, err = run_inprocess(["statement", str(r), "-o", str(t)], capsys)
    assert rc == 0, err
    assert t.read_text() != "old\n" and t.stat().st_ino != inode
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left behind


def test_the_atomic_writer_refuses_links_and_fifos(tmp_path: Path) -> None:
    from ecobench.atomic import save_with, write_bytes
    from ecobench.errors import UnsafePathError

    victim = tmp_path / "victim"
    victim.write_text("x")
    (tmp_path / "link").symlink_to(victim)
    os.mkfifo(tmp_path / "fifo")
    for name in ("link", "fifo"):
        with pytest.raises(UnsafePathError, match=f"{name}: is a (symbolic link|FIFO), not a regular file"):
            write_bytes(tmp_path / name, b"new")
        with pytest.raises(UnsafePathError):
            save_with(lambda p: Path(p).write_bytes(b"new"), tmp_path / name)
    assert victim.read_text() == "x"
    os.link(victim, tmp_path / "second")
    write_bytes(tmp_path / "second", b"new")  # a rename replaces the name: the other name keeps its bytes
    assert victim.read_text() == "x" and (tmp_path / "second").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "link", "second", "victim"]


def test_append_refuses_links_fifos_and_hard_links(tmp_path: Path) -> None:
    from ecobench import safefile
    from ecobench.errors import UnsafePathError

    victim = tmp_path / "victim"
    victim.write_text("x")
    (tmp_path / "link").symlink_to(victim)
    (tmp_path / "zero").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "fifo")
    os.link(victim, tmp_path / "second")
    for name, why in (("link", "symbolic link"), ("zero", "symbolic link"), ("fifo", "FIFO"), ("second", "hard links")):
        with pytest.raises(UnsafePathError, match=why):
            safefile.open_append(tmp_path / name)
    assert victim.read_text() == "x"
