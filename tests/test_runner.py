"""End to end on the smoke suite: a row per (cell, phase), honest sparsity, a self-describing folder, resume."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ecobench.config.load import load_suite
from ecobench.record import SCHEMA_VERSION
from ecobench.results import load, load_cells, load_manifest
from ecobench.sweep import expand

from .conftest import SUITES
from .reliability.conftest import run_inprocess

pytestmark = pytest.mark.slow


def test_one_row_per_cell_and_phase(smoke_run: Path) -> None:
    suite = load_suite(SUITES / "smoke.yaml").suite
    cells = load_cells(smoke_run)
    assert sorted(cells["key"]) == sorted(c.key for c in expand(suite))
    assert (cells["status"] == "ok").all()
    df = load(smoke_run)
    assert not df.duplicated(subset=["key", "phase", "batch_size"]).any()
    dense = df[df["method"] == "dense"]
    assert set(dense["phase"]) == {"train", "eval", "prefill", "decode"}
    control = df[df["method"] == "dense+recover"]
    assert set(control["phase"]) == {"recover", "eval", "prefill", "decode"}
    pruned = df[~df["method"].isin(["dense", "dense+recover"])]
    assert set(pruned["phase"]) == {"score", "prune", "recover", "eval", "prefill", "decode"}
    assert sorted(df.loc[df["phase"] == "decode", "batch_size"].unique()) == [1, 4]
    for col in ("suite", "model", "seed", "method", "scope", "ratio", "sparsity", "params_total", "params_nonzero",
                "phase", "loss", "bpc", "wall_s", "status"):
        assert col in df.columns, col
    assert (df["wall_s"] > 0).all()


def test_paired_repeats_are_stored(smoke_run: Path) -> None:
    df = load(smoke_run)
    measured = df[df["phase"].isin(["eval", "prefill", "decode"])]
    assert (measured["repeats"] == 2).all()
    for _, r in measured.iterrows():
        assert len(r["energy_kwh_repeats"]) == len(r["dense_energy_kwh_repeats"]) == 2
        assert r["energy_kwh_ratio_ci_low"] <= r["energy_kwh_ratio"] <= r["energy_kwh_ratio_ci_high"]
    cells = load_cells(smoke_run)
    assert set(cells["sparsity_exploited"]) == {"dense", "no"}
    assert (cells["flops_per_token_effective"] == cells["flops_per_token_dense"]).all()  # zeros in dense kernels
    floor = load_manifest(smoke_run)["noise_floor"]
    assert floor["windows"] == 2 and floor["energy_kwh_cv"] is not None


def test_compare_shows_delta_against_the_control(smoke_run: Path, capsys) -> None:
    rc, out, err = run_inprocess(["compare", str(smoke_run), "--format", "csv"], capsys)
    assert rc == 0, err
    assert "loss_delta_control_mean" in out.splitlines()[0]
    rc, out, err = run_inprocess(["compare", str(smoke_run), "--view", "lifecycle"], capsys)
    assert rc == 0 and "break-even" in out, err


def test_sparsity_reached_and_params(smoke_run: Path) -> None:
    cells = load_cells(smoke_run)
    pruned = cells[~cells["method"].isin(["dense", "dense+recover"])]
    n = pruned["targeted_weights"].iloc[0]
    # within one weight per tensor (8 tensors) of the target, layer or global
    assert ((pruned["sparsity"] - pruned["ratio"]).abs() * n <= 8).all()
    dense = cells[cells["method"] == "dense"].iloc[0]
    assert dense["sparsity"] < 0.01 and dense["params_nonzero"] <= dense["params_total"]
    row = pruned[(pruned["ratio"] == 0.9)].iloc[0]
    assert row["params_nonzero"] <= row["params_total"] - 0.89 * n
    assert all(set(ls) == set(pruned["layer_sparsity"].iloc[0]) for ls in pruned["layer_sparsity"])


def test_pruning_hurts_in_the_expected_order(smoke_run: Path) -> None:
    cells = load_cells(smoke_run)
    dense = cells[cells["method"] == "dense"]["loss"].iloc[0]
    at = cells[cells["ratio"] == 0.9].groupby("method")["loss"].mean()
    assert at["random"] > at["magnitude"] and at["random"] > dense


def test_manifest_describes_the_run(smoke_run: Path) -> None:
    m = load_manifest(smoke_run)
    assert m["schema_version"] == SCHEMA_VERSION and m["suite"]["name"] == "smoke"
    assert m["versions"]["torch"] and m["hardware"]["cpu"] and m["sessions"][0]["command"][:2] == ["ecobench", "run"]
    assert len(m["cells"]) == len(load_cells(smoke_run))
    assert (smoke_run / "dense" / "seed-0" / "model.safetensors").is_file()
    info = json.loads((smoke_run / "dense" / "seed-0" / "train.json").read_text())
    assert info["trajectory_checkpoints"] == 6  # 60 steps, record_every 10


def test_rerun_resumes_without_duplicates(smoke_run: Path, tmp_path: Path, capsys) -> None:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(smoke_run, copy)
    lines = (copy / "cells.jsonl").read_text().splitlines(keepends=True)
    kept = len(lines) - 3  # all but 3 cells, and a torn line (each cell run again costs ~1.5 s of 50 ms windows)
    (copy / "cells.jsonl").write_text("".join(lines[:kept]) + lines[kept][: len(lines[kept]) // 2])
    rc, _, err = run_inprocess(["run", str(SUITES / "smoke.yaml"), "--out", str(copy), "-q"], capsys)
    assert rc == 0, err
    assert f"{kept} already finished, 3 to run" in err
    after = load_cells(copy)
    assert len(after) == len(lines) and not after["key"].duplicated().any()
    before = load_cells(smoke_run).set_index("key")["loss"]
    assert (after.set_index("key")["loss"].round(4) == before.round(4).loc[after["key"]].values).all()


def test_validate_prints_the_grid(capsys) -> None:
    rc, out, err = run_inprocess(["validate", str(SUITES / "llm.yaml")], capsys)
    assert rc == 0, err
    assert "cells: 80 = 2 dense references + 78 pruned" in out
    assert "pruned: 16 tensors" in out


def test_paper_suite_validates_at_the_papers_size(capsys) -> None:
    """The paper's 10.7M-parameter shape and its grid, counted by `validate` on the meta device (nothing trained)."""
    rc, out, err = run_inprocess(["validate", str(SUITES / "paper-llm.yaml"), "--set", "data.corpus=shakespeare",
                                  "--set", "data.max_chars=2000000"], capsys)
    assert rc == 0, err
    params = int(re.search(r"model: gpt2-L6-H6-D384, ([\d,]+) parameters", out).group(1).replace(",", ""))
    assert 10.5e6 < params < 11e6
    assert "trajectory-std (" in out and "magnitude (" in out and "random (" in out
    # 3 seeds x (dense + dense+recover control + 8 std multipliers + 3 methods x 2 scopes x 9 ratios)
    assert "cells: 192 = 3 dense references + 3 dense+recover controls + 186 pruned" in out


def test_std_threshold_cells_run_end_to_end(tmp_path: Path, capsys) -> None:
    """The paper's per-tensor std rule (no ratio, no scope) through a real tiny run: sparsity reached is recorded."""
    from tests.reliability.conftest import tiny_args

    out = tmp_path / "std"
    rc, _, err = run_inprocess(tiny_args(out, "prune.methods=[{name: trajectory, label: traj-std, criterion: final, "
                                              "threshold: std, multipliers: [0.5, 1.5]}]"), capsys)
    assert rc == 0, err
    cells = load_cells(out).set_index("key")
    low, high = cells.loc["seed0/traj-std/layer/std0.5", "sparsity"], cells.loc["seed0/traj-std/layer/std1.5", "sparsity"]
    assert 0 < low < high < 1  # a larger multiplier cuts more
