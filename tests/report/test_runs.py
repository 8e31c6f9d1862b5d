"""Several runs: a `run` column, and the refusal to mix suites that differ in more than name, seeds or ratios."""

from __future__ import annotations

import pytest

from ecobench.errors import ResultsError
from ecobench.report.runs import load_runs, suite_differences
from ecobench.report.tables import compare_frame
from tests.report.conftest import copy_run


@pytest.mark.slow  # a real two-seed run
def test_comparable_runs_keep_a_run_column(seeds_run, tmp_path) -> None:
    def edit(m: dict) -> None:  # the fields comparable suites may differ in
        m["suite"].update(name="smoke-more", seeds=[1, 2, 3])
        m["suite"]["prune"]["ratios"] = [0, 0.5, 0.9]

    other = copy_run(seeds_run, tmp_path / "smoke-more", suite_edit=edit)
    runs = load_runs([seeds_run, other])
    agg = compare_frame(runs.rows, runs.names)
    assert list(dict.fromkeys(agg["run"])) == [seeds_run.name, other.name]
    assert len(agg) == 2 * len(compare_frame(load_runs([seeds_run]).rows))
    assert set(agg.loc[agg["run"] == other.name, "n_seeds"]) == {2}


def test_differing_suites_are_refused_with_the_fields(smoke_run, tmp_path, cli) -> None:
    def edit(m: dict) -> None:
        m["suite"]["train"]["lr"] = 0.01
        m["suite"]["model"]["n_layer"] = 4
        m["suite"]["name"] = "other"  # allowed to differ: not listed

    other = copy_run(smoke_run, tmp_path / "other", suite_edit=edit)
    with pytest.raises(ResultsError) as err:
        load_runs([smoke_run, other])
    fields = [line.split(": ")[1] for line in err.value.problems[1:]]  # "other vs smoke: train.lr: 0.01 != 0.003"
    assert fields == ["model.n_layer", "train.lr"]  # the name differs too, but is allowed to
    assert "--force" in err.value.problems[0]
    proc = cli("compare", str(smoke_run), str(other))
    assert proc.returncode == 2 and "train.lr" in proc.stderr and "Traceback" not in proc.stderr
    forced = load_runs([smoke_run, other], force=True)
    assert set(forced.rows["run"]) == {smoke_run.name, "other"}


def test_suite_differences_ignores_name_seeds_ratios() -> None:
    a = {"name": "a", "seeds": [0], "prune": {"ratios": [0, 0.5], "recover_steps": 5}}
    b = {"name": "b", "seeds": [1, 2], "prune": {"ratios": [0.9], "recover_steps": 5}}
    assert suite_differences(a, b) == []
    b["prune"]["recover_steps"] = 0
    assert suite_differences(a, b) == ["prune.recover_steps: 5 != 0"]


def test_not_a_results_folder(tmp_path) -> None:
    with pytest.raises(ResultsError, match="not an ecobench results folder"):
        load_runs([tmp_path])
