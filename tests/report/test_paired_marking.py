"""`≈` for ratios within noise (one Bonferroni family per run; seeds are the unit), anchored values, bold only when separated, break-even with no or
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


def _cell(seed: int, pairs: list[tuple[float, float]], label: str = "decode_b1") -> dict:
    """A cell's `paired` entry: (pruned, dense) per 1k-token energy of each pair."""
    a, b = [p for p, _ in pairs], [q for _, q in pairs]
    return {label: {"a": a, "b": b, "e_a": a, "e_b": b, "tps_a": [], "tps_b": [], "c_a": [False] * len(a),
                    "c_b": [False] * len(b)}}


def _row(method: str, cells: list[dict], labels_=("decode_b1",)) -> dict:
    g = pd.DataFrame({"paired": cells})
    rec = {"run": "r", "method": method}
    for lab in labels_:
        rec |= paired.pooled(g, lab, {"kwh_per_1k_tokens": 2.0, "energy_kwh": 1.0, "windows": 4})
    return rec


def _frame(rows: list[dict], labels_=("decode_b1",)) -> pd.DataFrame:
    return paired.adjust(pd.DataFrame(rows), list(labels_))


def test_seeds_are_the_unit() -> None:
    """Two seeds with many tight pairs each but different means: the interval is over the 2 seed means (df 1), not
    over 20 pairs as if they were independent draws."""
    s0 = [(0.90 * (1 + 0.001 * i), 1.0) for i in range(10)]
    s1 = [(0.98 * (1 + 0.001 * i), 1.0) for i in range(10)]
    agg = _frame([_row("m", [_cell(0, s0), _cell(1, s1)])])
    r = agg.iloc[0]
    assert r["decode_b1_ratio_n"] == 2 and r["decode_b1_ratio_unit"] == "seeds"
    seed_means = [math.log(0.90 * 1.0045), math.log(0.98 * 1.0045)]
    assert r["decode_b1_ratio"] == pytest.approx(math.exp(sum(seed_means) / 2), rel=1e-3)
    assert r["decode_b1_same"]  # pooled as 20 windows this would be a confident ~0.94 "saving"
    one = _frame([_row("m", [_cell(0, s0)])]).iloc[0]  # one seed: its pairs are the unit, and it says so
    assert one["decode_b1_ratio_n"] == 10 and one["decode_b1_ratio_unit"] == "pairs of one seed"
    assert not one["decode_b1_same"]


def _seeded(method: str, structure: str, logs: list[list[float]]) -> dict:
    """A row of one seed per list, each pair's log ratio given."""
    return _row(method, [_cell(s, [(math.exp(d), 1.0) for d in pairs]) for s, pairs in enumerate(logs)]) | {
        "structure": structure}


def test_seed_variance_is_pooled_over_the_rows_of_a_shape() -> None:
    """Two seeds are df 1 on their own (an interval wider than any saving); pooled over the run's 12 dense-shaped
    rows it is df 12, the row's estimate unchanged; structured rows pool apart, so their wider spread does not
    leak into the dense-shaped rows' intervals."""
    import random

    rnd = random.Random(3)  # noqa: S311 (simulated noise, not cryptography)
    tight = [_seeded(f"m{i}", "unstructured", [[rnd.gauss(0, 0.02), rnd.gauss(0, 0.02)] for _ in range(2)])
             for i in range(12)]
    wide = [_seeded(f"s{i}", "structured", [[rnd.gauss(-0.3, 0.3), rnd.gauss(-0.3, 0.3)] for _ in range(2)])
            for i in range(6)]
    alone = _frame([tight[0]]).iloc[0]
    agg = _frame(tight + wide)
    first = agg.iloc[0]
    assert alone["decode_b1_ratio_df"] == 1 and first["decode_b1_ratio_df"] == 12
    assert first["decode_b1_ratio"] == pytest.approx(alone["decode_b1_ratio"])
    assert first["decode_b1_ratio_ci_high"] - first["decode_b1_ratio_ci_low"] < 0.5 * (
        alone["decode_b1_ratio_ci_high"] - alone["decode_b1_ratio_ci_low"])
    assert set(agg["decode_b1_ratio_df"].iloc[12:]) == {6} and set(agg["decode_b1_ratio_pooled_rows"]) == {12, 6}
    assert agg["decode_b1_ratio_log_sd"].iloc[12] > 3 * first["decode_b1_ratio_log_sd"]
    assert 0.5 < first["decode_b1_detectable"] < 1  # not "not even a 100x saving" as with df 1
    assert agg["decode_b1_tests"].iloc[0] == 18


def test_pooled_seeds_make_few_false_claims_on_identical_work() -> None:
    """Identical work (true ratio 1), a between-seed effect as large as the pair noise (different times of day):
    over 40 simulated runs of 30 rows x 2 seeds x 2 pairs, at most 5% of runs claim any difference (the family
    bound), while a true 0.8x saving in every row of the same noise is shown in most rows."""
    import random

    rnd = random.Random(24)  # noqa: S311 (simulated noise, not cryptography)

    def run(true: float) -> pd.DataFrame:
        rows = []
        for i in range(30):
            logs = []
            for _ in range(2):
                b = rnd.gauss(0, 0.03)  # the seed's own offset
                logs.append([math.log(true) + b + rnd.gauss(0, 0.03) for _ in range(2)])
            rows.append(_seeded(f"m{i}", "unstructured", logs))
        return _frame(rows)

    false_runs = sum(not run(1.0)["decode_b1_same"].all() for _ in range(40))
    assert false_runs <= 2  # 3 of 200 such runs when measured
    shown = (~run(0.8)["decode_b1_same"]).mean()
    assert shown > 0.5


def test_a_separated_dense_self_ratio_says_the_protocol_is_biased() -> None:
    """Dense against itself is the check every pruned ratio rests on: when it separates, the notes say so."""
    fair = [(1.0 * math.exp(0.01 * (-1) ** i), 1.0) for i in range(8)]
    biased = [(0.9 * math.exp(0.01 * (-1) ** i), 1.0) for i in range(8)]
    ok = paired.notes(_frame([_row("dense", [_cell(0, fair)]), _row("m", [_cell(0, fair)])]))
    assert not any("dense against itself separated" in n for n in ok)
    bad = paired.notes(_frame([_row("dense", [_cell(0, biased)]), _row("m", [_cell(0, fair)])]))
    assert any(n.startswith("dense against itself separated (decode b1 0.90") for n in bad)


def test_one_family_over_every_cell_and_workload() -> None:
    """m counts every (pruned row, workload) test of the run, not the rows of one workload."""
    labs = ("decode_b1", "prefill_b1")
    pairs = [(0.80, 1.0), (0.81, 1.0), (0.79, 1.0), (0.805, 1.0)]
    rows = [_row("dense", [_cell(0, [(1.0, 1.0), (1.01, 1.0), (0.99, 1.0), (1.0, 1.0)], lab) | _cell(
        0, [(1.0, 1.0)] * 4, "prefill_b1") for lab in ["decode_b1"]], labs)]
    rows += [_row(f"m{i}", [_cell(0, pairs) | _cell(0, pairs, "prefill_b1")], labs) for i in range(5)]
    agg = _frame(rows, labs)
    assert set(agg["decode_b1_tests"]) == {10} and set(agg["prefill_b1_tests"]) == {10}  # 5 rows x 2 workloads
    one = _frame(rows[:2], labs)
    assert set(one["decode_b1_tests"]) == {2}
    # wider with the bigger family: the interval is simultaneous over it
    assert agg["decode_b1_ratio_ci_high"].iloc[1] > one["decode_b1_ratio_ci_high"].iloc[1]


@pytest.mark.parametrize("seed", range(30))
def test_an_approx_row_never_has_an_interval_excluding_one(seed: int) -> None:
    """The printed interval IS the decision: '≈' exactly when it contains 1, over random families."""
    import random

    rnd = random.Random(seed)  # noqa: S311 (simulated noise, not cryptography)
    rows = []
    for i in range(rnd.randint(2, 8)):
        true = rnd.choice([1.0, 0.97, 0.9, 0.6])
        cells = [_cell(s, [(true * math.exp(rnd.gauss(0, 0.05)), 1.0) for _ in range(rnd.randint(2, 6))])
                 for s in range(rnd.randint(1, 3))]
        rows.append(_row("dense" if i == 0 else f"m{i}", cells))
    agg = _frame(rows)
    for _, r in agg.iterrows():
        text = paired.ratio_text(r, "decode_b1")
        lo, hi = r["decode_b1_ratio_ci_low"], r["decode_b1_ratio_ci_high"]
        if pd.isna(lo):
            assert text.startswith("≈") or text == "–"
            continue
        assert text.startswith("≈") == (lo <= 1 <= hi), (text, lo, hi)
        if not pd.isna(r["decode_b1_ratio_p_adj"]) and r["method"] != "dense":
            # Bonferroni p says the same as the interval (up to the t quantile's bisection)
            assert (r["decode_b1_ratio_p_adj"] < 0.05) == (not (lo <= 1 <= hi)) or abs(
                r["decode_b1_ratio_p_adj"] - 0.05) < 1e-6


def test_no_interval_is_never_a_difference() -> None:
    agg = _frame([_row("dense", [_cell(0, [(1.0, 1.0)])]), _row("m", [_cell(0, [(0.5, 1.0)])])])
    assert agg["decode_b1_same"].iloc[1] and pd.isna(agg["decode_b1_ratio_ci_low"].iloc[1])
    assert paired.ratio_text(agg.iloc[1], "decode_b1") == "≈ 0.50"


def test_anchored_value_is_the_reference_times_the_ratio() -> None:
    """Both sides of every pair 10x (a busy machine): ratio, anchored value and interval unchanged; raw 10x."""
    quiet = [(0.80, 1.0), (0.82, 1.02), (0.79, 0.98), (0.81, 1.0)]
    busy = [(10 * a, 10 * b) for a, b in quiet]
    q, b = _frame([_row("m", [_cell(0, quiet)])]).iloc[0], _frame([_row("m", [_cell(0, busy)])]).iloc[0]
    for col in ("decode_b1_ratio", "decode_b1_kwh_per_1k_tokens", "decode_b1_kwh_per_1k_tokens_ci_low"):
        assert q[col] == pytest.approx(b[col])
    assert q["decode_b1_kwh_per_1k_tokens"] == pytest.approx(2.0 * q["decode_b1_ratio"])
    assert b["decode_b1_kwh_per_1k_tokens_raw"] == pytest.approx(10 * q["decode_b1_kwh_per_1k_tokens_raw"])


def test_not_detectable_says_how_small_a_saving_would_show() -> None:
    pairs = [(1.0 * math.exp(0.01 * (-1) ** i), 1.0) for i in range(8)]
    r = _frame([_row("m", [_cell(0, pairs)])]).iloc[0]
    assert r["decode_b1_same"] and 0.9 < r["decode_b1_detectable"] < 1
    text = paired.detectable_text(r, "decode_b1")
    assert text == f"not detectable (would need < {r['decode_b1_detectable']:.2f}x)"
    lc = break_even(1e-3, 1e-4, 1.0, 0.95, 1.05, same=True, detectable=text)
    assert lc.text == text and lc.tokens is None


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
    assert break_even(1e-3, 1e-4, 1.0, 0.95, 1.05, same=True).text == "not detectable"
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
    assert agg["inference_kwh_per_1k_tokens_raw"].iloc[1] == pytest.approx(2e-6 / 512 * 1000)
    assert pd.isna(agg["inference_kwh_per_1k_tokens"].iloc[1])  # nothing to anchor it to: unknown, never ranked
    assert paired.present(agg) == [] and not any(c.endswith("_ratio") for c in agg.columns)
