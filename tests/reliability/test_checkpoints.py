"""Dense checkpoints carry checksums: a missing, truncated or damaged file is found before use, said in one line,
and that seed's dense model is trained again; finished cells keep their rows."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ecobench.dense import MARKER, MODEL_FILE, RECORDED_FILE, checkpoint_problem

from .conftest import cell_lines, copy_folder, outcome, run_inprocess, tiny_args


def _unfinish(out: Path, keep: int) -> None:
    """Drop all but the first `keep` rows, as if the run had stopped there."""
    lines = (out / "cells.jsonl").read_bytes().splitlines(keepends=True)
    (out / "cells.jsonl").write_bytes(b"".join(lines[:keep]))


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _flip(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[len(data) - 9] ^= 0x01  # a tensor byte: the header still parses, the weights are wrong
    p.write_bytes(bytes(data))


DAMAGE = {
    "model truncated": (MODEL_FILE, _truncate),
    "model byte flipped": (MODEL_FILE, _flip),
    "trajectory deleted": (RECORDED_FILE, lambda p: p.unlink()),
    "trajectory truncated": (RECORDED_FILE, _truncate),
    "train.json truncated": (MARKER, _truncate),
    "train.json edited": (MARKER, lambda p: p.write_text(p.read_text().replace('"train_loss": 3', '"train_loss": 4'))),
}


# each case retrains the dense model and runs the tiny suite: one in the fast tier, every one in the slow tier
@pytest.mark.parametrize("what", [pytest.param(w, marks=[] if w == "model byte flipped" else [pytest.mark.slow])
                                  for w in DAMAGE])
def test_a_damaged_checkpoint_is_retrained_and_the_run_completes(tiny_run: Path, tmp_path: Path, capsys, caplog,
                                                                 what: str) -> None:
    """Reproduction 2: a truncated model or a deleted trajectory ended every rerun in a traceback."""
    out = copy_folder(tiny_run, tmp_path / "r")
    _unfinish(out, 3)
    name, damage = DAMAGE[what]
    damage(out / "dense" / "seed-0" / name)
    assert checkpoint_problem(out / "dense" / "seed-0") is not None
    with caplog.at_level(logging.WARNING):
        rc, _, err = run_inprocess(tiny_args(out), capsys)
    assert rc == 0, err
    warned = [r.getMessage() for r in caplog.records if "dense checkpoint of seed 0 not usable" in r.getMessage()]
    assert len(warned) == 1 and "\n" not in warned[0]
    assert checkpoint_problem(out / "dense" / "seed-0") is None
    assert outcome(out) == outcome(tiny_run)  # retrained deterministically: the same numbers as the whole run
    rows = cell_lines(out)
    assert len({r["dense_sha256"] for r in rows}) == 1


def test_an_intact_checkpoint_is_reused(tiny_run: Path, tmp_path: Path, capsys) -> None:
    out = copy_folder(tiny_run, tmp_path / "r")
    _unfinish(out, 3)
    model = out / "dense" / "seed-0" / MODEL_FILE
    before = model.stat().st_mtime_ns
    rc, _, err = run_inprocess(tiny_args(out), capsys)
    assert rc == 0, err
    assert model.stat().st_mtime_ns == before
    info = json.loads((out / "dense" / "seed-0" / MARKER).read_text())
    assert set(info["sha256"]) == {MODEL_FILE, RECORDED_FILE}


def test_new_ignores_damaged_folders_elsewhere(tiny_run: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    """Reproduction 2, with --new and without: a damaged unfinished run under results/ never blocks a fresh one."""
    import ecobench.runner as runner

    results = tmp_path / "results"
    damaged = copy_folder(tiny_run, results / "smoke-20250101T000000Z")
    _unfinish(damaged, 3)
    _truncate(damaged / "dense" / "seed-0" / MODEL_FILE)
    (damaged / "cells.jsonl").write_bytes(b"garbage\n" + (damaged / "cells.jsonl").read_bytes())
    snapshot = {p: p.read_bytes() for p in damaged.rglob("*") if p.is_file()}
    monkeypatch.chdir(tmp_path)
    args = [a for a in tiny_args(Path("unused")) if a not in ("--out", "unused")]
    for extra in (["--new"], []):
        monkeypatch.setattr(runner.time, "strftime", lambda fmt, t=None, e=extra: f"2026010{len(e)}T000000Z")
        rc, _, err = run_inprocess([*args, *extra], capsys)
        assert rc == 0, err
    assert {p: p.read_bytes() for p in damaged.rglob("*") if p.is_file()} == snapshot
    assert len(list(results.iterdir())) == 3
