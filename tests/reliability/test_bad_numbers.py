"""Bad numbers: a loss that becomes NaN or infinite marks its cell `failed` with the phase, the reason and the step;
the sweep goes on with the other cells and ends with exit code 1 and a summary of the failed cells."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

import ecobench.prune.apply as prune_apply
from ecobench.prune.methods import REGISTRY
from ecobench.results import load, load_cells

from .conftest import TINY_CELLS, cell_lines, run_inprocess, tiny_args

SHORT = ("train.steps=12", "train.warmup_steps=2")  # enough to train; the failures come in the first steps


def test_nan_in_dense_training_fails_every_cell_of_the_seed(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    rc, stdout, err = run_inprocess(tiny_args(out, *SHORT, "train.lr=1.0e30"), capsys)
    assert rc == 1
    rows = cell_lines(out)
    assert len(rows) == TINY_CELLS
    assert {r["status"] for r in rows} == {"failed"}
    reason = rows[0]["reason"]
    assert reason.startswith("dense training failed: train: training loss is ") and " at step " in reason
    assert all(r["reason"] == reason for r in rows)
    assert f"{TINY_CELLS} cell(s) failed:" in err and f"seed0/dense/-/r0: {reason}" in err
    assert "(no finished cells)" in stdout
    assert (out / "dense" / "seed-0" / "failed.json").is_file()
    assert not (out / "dense" / "seed-0" / "train.json").exists()
    # re-running finds every cell finished (failed is an outcome): nothing runs twice, same exit code
    rc, _, err = run_inprocess(tiny_args(out, *SHORT, "train.lr=1.0e30"), capsys)
    assert rc == 1 and f"{TINY_CELLS} already finished, 0 to run" in err
    assert len(cell_lines(out)) == TINY_CELLS


def test_nan_in_recovery_fails_those_cells_and_the_sweep_goes_on(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    rc, _, err = run_inprocess(tiny_args(out, *SHORT, "prune.recover_lr=1.0e30"), capsys)
    assert rc == 1
    cells = load_cells(out).set_index("key")
    assert cells.loc["seed0/dense/-/r0", "status"] == "ok"
    pruned = cells.drop(index="seed0/dense/-/r0")
    assert len(pruned) == TINY_CELLS - 1 and (pruned["status"] == "failed").all()
    for rec in cell_lines(out):
        if rec["key"] != "seed0/dense/-/r0":
            assert rec["failed_phase"] == "recover" and isinstance(rec["failed_step"], int)
            assert rec["reason"] == f"recover: training loss is nan at step {rec['failed_step']}"
    assert f"{TINY_CELLS - 1} cell(s) failed:" in err
    assert "seed0/magnitude/layer/r0.5: recover: training loss is nan at step" in err
    assert len(load(out)) > 0  # the loader reads failed rows too


def test_nan_after_pruning_fails_that_cell_only(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pruned model whose loss is not finite (forced: the `random` masks poison one weight) fails at evaluation."""
    state = {"method": None}
    real_apply = prune_apply.apply_masks

    def wrap(name: str):
        real = REGISTRY[name]

        def score(method, inputs):
            state["method"] = method.name
            return real.score(method, inputs)

        monkeypatch.setitem(REGISTRY, name, dataclasses.replace(real, score=score))

    for name in ("magnitude", "random", "trajectory"):
        wrap(name)

    def apply_masks(params, masks):
        real_apply(params, masks)
        if state["method"] == "random":
            with torch.no_grad():
                next(iter(params.values())).view(-1)[0] = float("nan")

    monkeypatch.setattr(prune_apply, "apply_masks", apply_masks)
    out = tmp_path / "run"
    rc, _, err = run_inprocess(tiny_args(out, *SHORT, "prune.recover_steps=0"), capsys)
    assert rc == 1
    rows = {r["key"]: r for r in cell_lines(out)}
    assert len(rows) == TINY_CELLS - 1  # no recovery, so no dense+recover control
    for key, rec in rows.items():
        if "/random/" in key:
            assert rec["status"] == "failed" and rec["failed_phase"] == "eval"
            assert rec["reason"] == "eval: validation loss is nan"
        else:
            assert rec["status"] == "ok", rec["reason"]
    assert "2 cell(s) failed:" in err
