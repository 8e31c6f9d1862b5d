"""`≈` for ratios within noise (Holm across a run's cells), bold only when separated, break-even with no or
negative saving, the dense+recover control cell."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ecobench.config.load import load_suite
from ecobench.report import paired
from ecobench.report.columns import Column
from ecobench.report.formats import best_mask
from ecobench.report.lifecycle import break_even
from ecobench.sweep import CONTROL, expand

from ..conftest import SUITES


def _agg(ps: list[float], ratios: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"run": "r", "method": ["dense", *["m"] * (len(ps) - 1)], "decode_b1_ratio": ratios,
                         "decode_b1_ratio_ci_low": [r * 0.9 for r in ratios],
                         "decode_b1_ratio_ci_high": [r * 1.1 for r in ratios], "decode_b1_ratio_p": ps})


def test_holm_decides_the_mark() -> None:
    # raw p 0.03 alone is a difference; beside 0.001 and 0.5 it is Holm's second (x2 = 0.06): not; 0.001 survives
    one = paired.adjust(_agg([1.0, 0.03], [1.0, 0.8]), ["decode_b1"])
    assert not one["decode_b1_same"].iloc[1] and paired.ratio_text(one.iloc[1], "decode_b1") == "0.80 [0.72–0.88]"
    three = paired.adjust(_agg([1.0, 0.03, 0.5, 0.001], [1.0, 0.8, 1.0, 0.5]), ["decode_b1"])
    assert list(three["decode_b1_same"]) == [True, True, True, False]
    assert paired.ratio_text(three.iloc[1], "decode_b1").startswith("≈ 0.80")
    assert three["decode_b1_ratio_p_holm"].iloc[0] == 1.0  # dense against itself is not one of the claims


def test_no_interval_is_never_a_difference() -> None:
    agg = paired.adjust(_agg([1.0, math.nan], [1.0, 0.5]), ["decode_b1"])
    assert agg["decode_b1_same"].iloc[1]


def test_bold_only_when_intervals_are_separated() -> None:
    agg = pd.DataFrame({"run": "r", "model": "m", "target": "0.5", "method": ["a", "b", "c"],
                        "v": [1.0, 1.05, 2.0], "lo": [0.9, 0.95, 1.9], "hi": [1.1, 1.15, 2.1]})
    col = Column("x", lambda r: r["v"], str, "min", group="footprint", interval=lambda r: (r["lo"], r["hi"]))
    assert not any(row[0] for row in best_mask(agg, [col]))  # 1.0 vs 1.05 overlap: a tie within noise
    agg.loc[1, ["v", "lo", "hi"]] = [1.5, 1.4, 1.6]
    assert [row[0] for row in best_mask(agg, [col])] == [True, False, False]
    single = Column("cell", lambda r: r["v"], str, "min", group="footprint")  # one window: never bold
    assert not any(row[0] for row in best_mask(agg, [single]))


def test_break_even() -> None:
    paid = break_even(1e-3, 1e-4, 0.5, 0.4, 0.6, same=False)  # saves 5e-8 kWh/token -> 20,000 tokens
    assert paid.tokens == pytest.approx(2e4) and paid.low == pytest.approx(1e-3 / (1e-7 * 0.6))
    assert paid.high == pytest.approx(1e-3 / (1e-7 * 0.4)) and paid.text.startswith("pays back after 20k tokens")
    assert break_even(1e-3, 1e-4, 1.0, 0.95, 1.05, same=True).text == "never: no saving beyond noise"
    assert break_even(1e-3, 1e-4, 0.99, 0.8, 1.2, same=True).tokens is None
    worse = break_even(1e-3, 1e-4, 1.3, 1.2, 1.4, same=False)
    assert worse.tokens is None and worse.text == "never: costs more per token than dense"
    assert break_even(math.nan, 1e-4, 0.5, 0.4, 0.6, same=False).text.startswith("–")


def test_control_cell_only_with_recovery() -> None:
    sf = load_suite(SUITES / "smoke.yaml", ["seeds=[0, 1]"])
    cells = expand(sf.suite)
    controls = [c for c in cells if c.is_control]
    assert [c.seed for c in controls] == [0, 1] and all(c.method == CONTROL and c.ratio == 0 for c in controls)
    assert not [c for c in expand(load_suite(SUITES / "smoke.yaml", ["prune.recover_steps=0"]).suite) if c.is_control]


def test_a_schema_2_run_still_compares() -> None:
    """Before paired windows: one unpaired `inference` row, no repeats; it loads and shows no ratio (no claim)."""
    from ecobench.record import parse_record
    from ecobench.report.tables import compare_frame
    from ecobench.results import records_to_frame

    def rec(method: str, ratio: float) -> object:
        cell = {"suite": "s", "key": f"seed0/{method}/r{ratio}", "model": "m", "seed": 0, "method": method,
                "method_name": method, "scope": "-" if method == "dense" else "layer", "ratio": ratio}
        phases = [{"phase": "eval", "energy_kwh": 1e-6}, {"phase": "inference", "energy_kwh": 2e-6, "tokens": 512}]
        return parse_record({"schema": 2, "key": cell["key"], "cell": cell, "status": "ok", "phases": phases,
                             "metrics": {"loss": 2.0, "sparsity": ratio, "params_nonzero": 1, "params_total": 2}}, "t")

    agg = compare_frame(records_to_frame([rec("dense", 0.0), rec("magnitude", 0.5)], run="old"))
    assert agg["inference_kwh_per_1k_tokens"].iloc[1] == pytest.approx(2e-6 / 512 * 1000)
    assert paired.present(agg) == [] and not any(c.endswith("_ratio") for c in agg.columns)
