"""Structures through `ecobench run` on the tiny suite: a structured cell is a smaller model end to end, N:M cells
are exactly 1 - N/M sparse, sparse execution says which kernel ran, resume does not duplicate cells, reports group
by structure; and every structure a model cannot take is one `file:line: field: message` line, exit 2, nothing
written."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from ecobench.config.load import load_suite
from ecobench.sweep import Cell
from tests.reliability.conftest import SMOKE, TINY_SETS, cell_lines, ecobench, run_inprocess, set_args

# dense + its dense+recover control + 3 methods x (2 unstructured ratios + one 2:4 + 2 structured ratios) = 17 cells
STRUCT_SETS = ['prune.structures=[unstructured, "2:4", structured]', "prune.structured.heads=false",
               "eval.execution=sparse", "eval.inference_tokens=16", "eval.inference_batch_sizes=[4]"]
STRUCT_CELLS = 17


def struct_args(out: Path) -> list[str]:
    return ["run", str(SMOKE), "--out", str(out), "-q", *set_args([*TINY_SETS, *STRUCT_SETS])]


@pytest.fixture(scope="module")
def struct_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("struct") / "run"
    assert ecobench(struct_args(out)) == 0
    return out


def _by_key(folder: Path) -> dict[str, dict]:
    return {r["key"]: r for r in cell_lines(folder)}


@pytest.mark.slow  # reads the 17-cell structures run
def test_structured_cell_is_a_smaller_dense_model(struct_run: Path) -> None:
    recs = _by_key(struct_run)
    dense = recs["seed0/dense/-/r0"]["metrics"]
    for method in ("trajectory", "magnitude", "random"):
        rec = recs[f"seed0/{method}/structured/layer/r0.5"]
        m = rec["metrics"]
        assert rec["status"] == "ok" and rec["cell"]["structure"] == "structured"
        assert m["sparsity_exploited"] == "smaller-dense"
        assert m["params_total"] < dense["params_total"]  # the evaluated model itself is smaller
        assert m["params_nonzero"] == m["params_total"]  # no zeros: nothing masked, weights removed
        # n_embd 32 -> MLP 128 per layer; half of the neurons kept in each of the 2 layers, heads untouched
        assert [(k["neurons_kept"], k["neurons_total"], k["heads_kept"]) for k in m["layer_kept"]] == [(64, 128, 2)] * 2
        # 2 layers x 2 MLP matrices x 64 removed neurons x 32 inputs: exactly the weights that are gone
        assert m["pruned_weights"] == dense["params_total"] - m["params_total"] - 2 * 64  # c_fc's 64 bias terms too
        assert 0 < m["sparsity"] < 0.5  # attention weights are targeted but kept
    assert dense["sparsity_exploited"] == "dense"  # the reference: nothing pruned, nothing to exploit


@pytest.mark.slow  # reads the 17-cell structures run
def test_nm_cells_are_exactly_one_minus_n_over_m(struct_run: Path) -> None:
    recs = _by_key(struct_run)
    nm = [r for k, r in recs.items() if "/2:4/" in k]
    assert len(nm) == 3  # one per method: ratio and scope do not apply
    for r in nm:
        assert r["cell"]["ratio"] == 0.5 and r["metrics"]["sparsity"] == 0.5
        assert all(v == 0.5 for v in r["metrics"]["layer_sparsity"].values())
        assert r["metrics"]["sparsity_exploited"] == "csr"  # eval.execution: sparse on CPU really ran torch's CSR


@pytest.mark.slow  # reads the 17-cell structures run
def test_sweep_has_every_structure_and_unstructured_keys_are_unchanged(struct_run: Path) -> None:
    keys = [r["key"] for r in cell_lines(struct_run)]
    assert len(keys) == STRUCT_CELLS == len(set(keys))
    assert "seed0/magnitude/layer/r0.5" in keys  # as before structures existed, so old folders resume
    assert Cell(0, "magnitude", "layer", 0.5).key == "seed0/magnitude/layer/r0.5"
    assert Cell(0, "magnitude", "layer", 0.5, structure="2:4").key == "seed0/magnitude/2:4/layer/r0.5"


@pytest.mark.slow  # reads the 17-cell structures run
def test_resume_with_structures_adds_no_cell(struct_run: Path, capsys: pytest.CaptureFixture) -> None:
    before = (struct_run / "cells.jsonl").read_bytes()
    rc, _, err = run_inprocess(struct_args(struct_run), capsys)
    assert rc == 0 and f"{STRUCT_CELLS} already finished, 0 to run" in err
    assert (struct_run / "cells.jsonl").read_bytes() == before


def test_default_structures_keep_the_fingerprint() -> None:
    """A suite that does not use the new fields resumes the folders made before they existed."""
    base = load_suite(SMOKE).suite.fingerprint()
    assert load_suite(SMOKE, ["prune.structures=[unstructured]", "eval.execution=dense"]).suite.fingerprint() == base
    assert load_suite(SMOKE, ['prune.structures=["2:4"]']).suite.fingerprint() != base


@pytest.mark.slow  # reads the 17-cell structures run
def test_report_groups_by_structure(struct_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc, out, err = run_inprocess(["compare", str(struct_run), "--format", "csv"], capsys)
    assert rc == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    got = {(r["method"], r["structure"], r["target"]): r["sparsity_exploited"] for r in rows}
    assert got[("magnitude", "structured", "0.5")] == "smaller-dense"
    assert got[("magnitude", "2:4", "0.5")] == "csr" and got[("magnitude", "unstructured", "0.5")] == "csr"
    assert got[("dense", "-", "0")] == "dense"
    rc, _, err = run_inprocess(["plot", str(struct_run), "--out", str(tmp_path), "--format", "png",
                                "--method", "magnitude", "--ratio", "0.5"], capsys)
    assert rc == 0, err
    made = {p.name for p in tmp_path.iterdir()}
    assert {"fig4_layer_sparsity.png", "fig5_loss_vs_inference.png", "fig1_loss_vs_ratio.png"} <= made
    rc, _, err = run_inprocess(["report", str(struct_run), "--out", str(tmp_path / "r.html")], capsys)
    assert rc == 0, err
    page = (tmp_path / "r.html").read_text()
    assert "smaller-dense" in page and "fig5_loss_vs_inference" in page


@pytest.mark.parametrize(("sets", "field", "words"), [
    (['prune.structures=["3:2"]'], "prune.structures", "N:M needs 0 < N < M"),
    (["prune.structures=[2:4]"], "prune.structures", "write N:M in quotes"),
    # heads asked for explicitly (left at its default, a GPT-2 prunes MLP neurons only and says so)
    (["prune.structures=[structured]", "prune.structured.heads=true"], "prune.structured.heads",
     "GPT-2 with fewer heads"),
    (["prune.structures=[structured]", "prune.structured.heads=false", "prune.scope=global"], "prune.scope",
     "global cannot be used with structured"),
    (["prune.structures=[structured]", "model.family=llama", "prune.ratios=[0, 0.5, 0.8]"], "prune.ratios",
     "leaves a layer with zero heads"),
    (['prune.structures=["4:8"]', "model.n_embd=36", "model.n_head=2"], "prune.structures", "not divisible by M=8"),
])
def test_a_structure_the_model_cannot_take_is_one_line_exit_2_nothing_written(
        sets: list[str], field: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    tiny = [s for s in TINY_SETS if not s.startswith("prune.ratios")] + ["prune.ratios=[0, 0.5]"]
    for cmd in (["validate", str(SMOKE)], ["run", str(SMOKE), "--out", str(tmp_path / "out"), "-q"]):
        rc, out, err = run_inprocess([*cmd, *set_args([*tiny, *sets])], capsys)
        lines = err.strip().splitlines()
        assert rc == 2 and len(lines) == 1, err
        assert re.match(rf"error: {re.escape(str(SMOKE))}(:\d+| \(--set\)): {re.escape(field)}(\[\d+\])?: .*{re.escape(words)}",
                        lines[0]), lines[0]
        assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # reads the 17-cell structures run
def test_records_name_their_structure(struct_run: Path) -> None:
    structures = {r["cell"]["structure"] for r in cell_lines(struct_run)}
    assert structures == {"-", "unstructured", "2:4", "structured"}
    assert json.loads((struct_run / "cells.jsonl").read_text().splitlines()[0])["cell"]["structure"] == "-"
