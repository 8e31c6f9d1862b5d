"""The method registry: a method registered here, in a test file, is seen by validation, `--set`, the hints,
`validate`'s description and the runner, with no other change."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

from ecobench.config.load import suite_from_text
from ecobench.errors import SuiteError
from ecobench.prune.methods import Method, MethodOptions, ScoreInputs, Scores, register, unregister
from ecobench.results import load_cells
from tests.reliability.conftest import TINY_SETS, run_inprocess, set_args

SUITE = """name: reg
seeds: [0]
prune:
  methods:
    - name: rowwise
      flip: true
  ratios: [0, 0.5]
"""


class RowwiseOptions(MethodOptions):
    name: Literal["rowwise"]
    flip: bool = False  # prune the largest instead of the smallest
    power: float = Field(1.0, gt=0)


def _score(m: RowwiseOptions, inp: ScoreInputs) -> Scores:
    sign = -1.0 if m.flip else 1.0
    return Scores({n: sign * w.abs().pow(m.power) for n, w in inp.weights.items()})


@pytest.fixture
def rowwise():
    register(Method("rowwise", RowwiseOptions, _score, summary="a test method: |w|^power, optionally flipped"))
    yield
    unregister("rowwise")


def test_validation_reads_the_registry(rowwise) -> None:
    sf = suite_from_text(SUITE, "s.yaml")
    assert isinstance(sf.suite.prune.methods[0], RowwiseOptions) and sf.suite.prune.methods[0].flip is True
    with pytest.raises(SuiteError) as err:
        suite_from_text(SUITE.replace("flip: true", "flipp: true"), "s.yaml")
    assert err.value.problems == ["s.yaml:6: prune.methods[0].flipp: unknown key (did you mean 'flip'?)"]
    with pytest.raises(SuiteError) as err:
        suite_from_text(SUITE.replace("name: rowwise", "name: rowwis"), "s.yaml")
    assert "unknown method 'rowwis' (did you mean 'rowwise'?)" in err.value.problems[0]
    with pytest.raises(SuiteError) as err:
        suite_from_text(SUITE, "s.yaml", ["prune.methods.0.power=-1"])
    assert err.value.problems == ["s.yaml (--set): prune.methods[0].power: Input should be greater than 0, got -1"]
    assert suite_from_text(SUITE, "s.yaml", ["prune.methods.0.power=2"]).suite.prune.methods[0].power == 2


def test_an_unregistered_method_is_unknown() -> None:
    with pytest.raises(SuiteError, match="unknown method 'rowwise'"):
        suite_from_text(SUITE, "s.yaml")


@pytest.mark.slow  # a whole tiny sweep with the registered method (7 s)
def test_validate_and_run_use_it(rowwise, tmp_path: Path, capsys) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SUITE)
    sets = [s for s in TINY_SETS if not s.startswith("prune.")] + ["prune.ratios=[0, 0.5]"]
    rc, out, err = run_inprocess(["validate", str(path), *set_args(sets)], capsys)
    assert rc == 0, err
    assert "rowwise (a test method: |w|^power, optionally flipped)" in out
    rc, out, err = run_inprocess(["run", str(path), "--out", str(tmp_path / "out"), "-q", *set_args(sets)], capsys)
    assert rc == 0, err
    cells = load_cells(tmp_path / "out").set_index("method")
    assert cells.loc["rowwise", "method_name"] == "rowwise"
    assert cells.loc["rowwise", "sparsity"] == pytest.approx(0.5, abs=1e-6)
    # flipped: the largest weights went, so the loss is far worse than dense
    assert cells.loc["rowwise", "loss"] > cells.loc["dense", "loss"] + 0.05
