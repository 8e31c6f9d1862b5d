"""footprint.budget: bad values are one-line errors (exit 2); a suite forecast above it is refused before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecobench.config.load import suite_from_text
from ecobench.errors import SuiteError
from tests.conftest import SUITES, run_cli

BASE = "name: s\nseeds: [0]\nprune: {methods: [{name: magnitude}], ratios: [0.5]}\nfootprint:\n  budget: "


@pytest.mark.parametrize(("budget", "message"), [
    ("{kwh: 0}", "footprint.budget.kwh: Input should be greater than 0"),
    ("{kwh: -2.5}", "footprint.budget.kwh: Input should be greater than 0"),
    ("{wh: 50}", "footprint.budget: unknown budget unit 'wh': the budget is given in kwh, e.g. {kwh: 0.05}"),
    ("{kWh: 1}", "footprint.budget: unknown budget unit 'kWh'"),
])
def test_bad_budgets_are_one_line_each(budget: str, message: str) -> None:
    with pytest.raises(SuiteError) as err:
        suite_from_text(BASE + budget + "\n", "s.yaml")
    assert len(err.value.problems) == 1
    assert err.value.problems[0].startswith("s.yaml:5: " + message), err.value.problems


def test_a_budget_does_not_change_the_suite_identity() -> None:
    a = suite_from_text(BASE + "{kwh: 1}\n").suite
    b = suite_from_text(BASE + "{kwh: 2}\n").suite
    c = suite_from_text(BASE.rsplit("footprint", 1)[0]).suite
    assert a.fingerprint() == b.fingerprint() == c.fingerprint()


def test_validate_exits_2_on_a_bad_budget(tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(BASE + "{kwh: 0}\n")
    proc = run_cli("validate", str(suite))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: {suite}:5: footprint.budget.kwh: Input should be greater "
                                                "than 0, got 0"]


def test_run_refuses_a_suite_whose_forecast_exceeds_the_budget(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_cli("run", str(SUITES / "smoke.yaml"), "--out", str(out), "-q", "--set", "train.threads=1",
                   "--set", "footprint.budget.kwh=1e-9")
    assert proc.returncode == 2, proc.stderr
    assert "forecast for 14 cells" in proc.stderr  # 12 pruned, dense and its dense+recover control
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "footprint.budget: the forecast" in errors[0] and "exceeds the budget" in errors[0]
    assert not out.exists()  # refused before anything was written
