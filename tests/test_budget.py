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
    proc = run_cli("validate", str(suite))  # a real process: its whole stderr is the one line
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: {suite}:5: footprint.budget.kwh: Input should be greater "
                                                "than 0, got 0"]


def test_run_refuses_a_suite_whose_forecast_exceeds_the_budget(tmp_path: Path, capsys) -> None:
    from tests.reliability.conftest import run_inprocess

    out = tmp_path / "run"
    rc, _, err = run_inprocess(["run", str(SUITES / "smoke.yaml"), "--out", str(out), "-q", "--set", "train.threads=1",
                                "--set", "footprint.budget.kwh=1e-9"], capsys)
    assert rc == 2, err
    assert "forecast for 14 cells" in err  # 12 pruned, dense and its dense+recover control
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "footprint.budget: the forecast" in errors[0] and "exceeds the budget" in errors[0]
    assert not out.exists()  # refused before anything was written


def test_the_forecast_probe_times_no_training_step_when_nothing_trains(monkeypatch) -> None:
    """One-shot pruning (train.steps 0, no recovery): a training step of a pretrained model is its most expensive
    probe (a full-vocabulary backward), and would be timed for nothing; evaluation batches give the spread instead."""
    from ecobench import forecast
    from ecobench.data.dataset import load_data
    from ecobench.footprint import Monitor

    text = ("name: s\nseeds: [0]\ndata: {corpus: shakespeare, context: 16, max_chars: 20000}\n"
            "model: {n_layer: 1, n_head: 2, n_embd: 16}\ntrain: {steps: 0, batch_size: 2}\n"
            "prune: {methods: [{name: magnitude}], ratios: [0.5], recover_steps: 0}\n"
            "eval: {batches: 1, batch_size: 2, inference_tokens: 0}\n"
            "footprint: {idle_seconds: 0, gpu: none, cpu: none, ram: none}\n")
    suite = suite_from_text(text).suite
    called = []
    monkeypatch.setattr(forecast, "_time_steps", lambda *a: called.append(a) or ([1.0], 1.0))
    monitor = Monitor(suite.footprint, device="cpu")
    monitor.start(measure_idle=False)
    try:
        cal, _ = forecast.calibrate(suite, load_data(suite.data, suite.model), monitor)
        assert called == [] and 3 <= len(cal.step_s) <= 8  # the evaluation batches, timed
        trains = suite_from_text(text.replace("steps: 0,", "steps: 5,")).suite
        forecast.calibrate(trains, load_data(trains.data, trains.model), monitor)
        assert len(called) == 1  # a suite that trains still times its steps
    finally:
        monitor.close()
