"""Shared pieces of the reliability tests: a tiny suite derived from suites/smoke.yaml, and ecobench run in-process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from ecobench.cli import main
from tests.conftest import SUITES, shared_run

SMOKE = SUITES / "smoke.yaml"

# smoke.yaml shrunk to a few seconds: 1 seed, 8 cells (dense + its dense+recover control + 3 methods x 2 ratios), one
# thread so that runs are deterministic and polite to the other processes on a 2-core machine; windows as short as
# the meters allow (these runs test what is written and resumed, not what a saving is)
TINY_SETS = [
    "data.max_chars=30000", "data.context=32", "model.n_embd=32", "train.steps=40", "train.batch_size=8",
    "train.threads=1", "prune.ratios=[0, 0.5, 0.8]", "prune.scope=layer", "prune.recover_steps=3",
    "eval.batches=2", "eval.batch_size=16", "eval.inference_tokens=0", "footprint.min_window_s=0",
]
TINY_CELLS = 8


def set_args(sets: list[str]) -> list[str]:
    return [a for s in sets for a in ("--set", s)]


def tiny_args(out: Path, *extra_sets: str) -> list[str]:
    """`ecobench run` arguments for the tiny suite into `out`."""
    return ["run", str(SMOKE), "--out", str(out), "-q", *set_args([*TINY_SETS, *extra_sets])]


def ecobench(args: list[str]) -> int:
    """`ecobench ARGS` in this process (imports already paid for), leaving torch's thread count as it was."""
    threads = torch.get_num_threads()
    try:
        return main(args)
    finally:
        torch.set_num_threads(threads)


def run_inprocess(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `ecobench ARGS` run in this process."""
    capsys.readouterr()
    rc = ecobench(args)
    out, err = capsys.readouterr()
    return rc, out, err


def cell_lines(folder: Path) -> list[dict]:
    """cells.jsonl parsed strictly: every line whole JSON ending in a newline (no torn line, no blank line)."""
    raw = (folder / "cells.jsonl").read_bytes()
    assert raw.endswith(b"\n"), "torn last line"
    return [json.loads(line) for line in raw.decode().split("\n")[:-1]]


def line_count(folder: Path) -> int:
    """Lines in cells.jsonl so far (0 before it exists): how far a sweep running in another process has got."""
    try:
        return (folder / "cells.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def kill_when(proc: subprocess.Popen, ready: Callable[[], bool], log: Path, timeout: float = 180) -> None:
    """SIGKILL the run (its whole process group) as soon as `ready()` holds."""
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            assert proc.poll() is None, f"the run ended before the kill point:\n{log.read_text()}"
            assert time.monotonic() < deadline, "kill point never reached"
            time.sleep(0.005)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def outcome(folder: Path) -> dict[str, tuple]:
    """What a finished sweep computed, cell by cell, at the precision the summary prints (loss: 4 decimals)."""
    res = {}
    for rec in cell_lines(folder):
        m = rec["metrics"]
        res[rec["key"]] = (rec["status"], round(m["loss"], 4), m["sparsity"], m["params_nonzero"], m["dense_train_loss"])
    return res


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models on a shared 2-core machine: one thread is ~40x faster than two fighting other processes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny suite run once, uninterrupted, in-process (`shared_run`): the reference the crash and Ray tests
    compare with."""
    def make(out: Path) -> None:
        assert ecobench(tiny_args(out)) == 0

    return shared_run(tmp_path_factory, "ref", make)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_reference(tmp_path_factory)


def copy_folder(src: Path, dst: Path) -> Path:
    """A copy of a results folder (without a lock) to damage."""
    import shutil

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("lock.json"))
    return dst


def one_line_error(err: str) -> str:
    """The single `error:` line of a refused command (warnings may precede it); fails on a traceback."""
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    return errors[0]


@pytest.fixture(scope="session")
def other_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another suite (another name, fewer training steps) run once: its rows are not the tiny suite's."""
    def make(out: Path) -> None:
        assert ecobench(tiny_args(out, "name=other", "train.steps=30")) == 0

    return shared_run(tmp_path_factory, "other", make)


def write_manifest(folder: Path, m: dict) -> None:
    """An edited manifest, sealed again as ecobench seals it (tests that need a consistent edit)."""
    from ecobench.integrity import seal_manifest

    (folder / "manifest.json").write_text(json.dumps(seal_manifest(m)))


def write_rows(folder: Path, rows: list) -> None:
    """Edited rows, each sealed again as ecobench seals it (a row that is not a dict is written as it is)."""
    from ecobench.record import seal_row

    (folder / "cells.jsonl").write_text("".join(json.dumps(seal_row(r) if isinstance(r, dict) else r) + "\n"
                                                for r in rows))
