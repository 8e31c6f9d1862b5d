"""Issue 22, class 4: cells lost or merged. Cell keys are unique by construction (values that print alike are
refused at `validate`; `expand` refuses any collision left), and run labels in `compare` are unique (the shortest
path suffix that tells two folders apart), so no row hides another and no two runs are pooled."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from ecobench.config.load import suite_from_text
from ecobench.errors import SuiteError
from ecobench.sweep import expand

from .conftest import copy_folder, run_inprocess
from .hostile import Case, run_case, suite

CATALOGUE = [
    Case("ratios_print_alike", ["validate", "{tmp}/s.yaml"], "prune.ratios: ratios 0.5 and 0.5000001 are the same cell",
         setup=suite(("ratios: [0, 0.5]", "ratios: [0, 0.5, 0.5000001]"))),
    Case("ratios_print_alike_by_set", ["validate", "{tmp}/s.yaml", "--set", "prune.ratios=[0.3, 0.30000001]"],
         "are the same cell (`0.3`", setup=suite()),
    Case("multipliers_print_alike", ["validate", "{tmp}/s.yaml"], "multipliers holds values that print alike",
         setup=suite(("- name: magnitude", "- name: trajectory\n      threshold: std\n      multipliers: [1, 1.0000001]"))),
    Case("label_with_a_slash", ["validate", "{tmp}/s.yaml"], "label 'magnitude/2:4' holds '/'",
         setup=suite(("- name: magnitude", "- name: magnitude\n      label: magnitude/2:4"))),
    Case("ratios_that_differ_in_print", ["validate", "{tmp}/s.yaml"], "is valid", rc=0,
         setup=suite(("ratios: [0, 0.5]", "ratios: [0, 0.5, 0.50001]"))),
]


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda c: c.id)
def test_cell_keys_catalogue(case: Case, tmp_path: Path, capsys, monkeypatch) -> None:
    run_case(case, tmp_path, capsys, monkeypatch)


def test_expand_refuses_colliding_keys_whatever_built_the_suite() -> None:
    """The schema is one guard; expand() is the other: a suite built around validation still cannot merge cells."""
    from tests.reliability.hostile import SUITE

    sf = suite_from_text(SUITE.replace("{tmp}", "/x"), "s.yaml")
    prune = sf.suite.prune.model_copy(update={"ratios": [0.5, 0.5000001]})
    broken = sf.suite.model_copy(update={"prune": prune})
    with pytest.raises(SuiteError, match="cells share a key"):
        expand(broken)


def test_every_key_of_a_valid_grid_is_unique() -> None:
    sf = suite_from_text(SUITE_GRID, "s.yaml")
    keys = [c.key for c in expand(sf.suite)]
    assert len(keys) == len(set(keys)) > 10


SUITE_GRID = """\
name: grid
seeds: [0, 1]
prune:
  methods:
    - name: magnitude
    - name: trajectory
      threshold: std
      multipliers: [0.5, 1, 1.5]
    - name: random
      label: rnd
  ratios: [0, 0.1, 0.25, 0.5, 0.50001, 0.9]
  scope: [layer, global]
  structures: [unstructured, "2:4"]
"""


def test_compare_labels_two_folders_of_the_same_name_apart(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """`compare x/res/run y/res/run`: two runs, two labels, each with its own seed, never pooled into one."""
    a = copy_folder(tiny_run, tmp_path / "x" / "res" / "run")
    b = copy_folder(tiny_run, tmp_path / "y" / "res" / "run")
    rc, out, err = run_inprocess(["compare", str(a), str(b), "--format", "csv"], capsys)
    assert rc == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["run"] for r in rows} == {"x/res/run", "y/res/run"}
    assert {r["n_seeds"] for r in rows} == {"1"}
    per_run = {run: [r for r in rows if r["run"] == run] for run in ("x/res/run", "y/res/run")}
    assert len(per_run["x/res/run"]) == len(per_run["y/res/run"]) == len(rows) // 2
