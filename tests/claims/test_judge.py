"""Each claim form on synthetic tables where the truth is known: a planted effect is found, a null is not, at the
documented error rates over many random draws (fixed seeds); Holm across a family; seeds, never windows, counted."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecobench.claims.judge import CONTRADICTED, HOLDS, INCONCLUSIVE, judge, sign_flip_p, t_test
from ecobench.claims.table import cell_log_ratio
from ecobench.footprint import stats

from .synthetic import claim, table


def _rates(make_claim, draws: int, seed: int, **table_kw) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    c = make_claim()
    out = {HOLDS: 0, CONTRADICTED: 0, INCONCLUSIVE: 0}
    for _ in range(draws):
        out[judge([c], table(rng, **table_kw))[0].verdict] += 1
    return {k: v / draws for k, v in out.items()}


def test_better_false_holds_rate_under_the_null_is_at_most_5_percent() -> None:
    """1,000 draws with no true difference (trajectory = magnitude, the boundary of the null, where a false "holds"
    is likeliest): 'better' holds in at most 5% of them (2.5% by construction: the two-sided 5% test decides the
    direction), yet not never (the test is not trivially conservative); any wrong verdict at most ~5%."""
    r = _rates(lambda: claim("better", than={"method": "magnitude"}), 1000, seed=2026, seeds=5)
    assert 0.01 <= r[HOLDS] <= 0.05
    assert r[HOLDS] + r[CONTRADICTED] <= 0.065  # 5% by construction; 1,000 draws: binomial sd 0.7%


def test_better_finds_a_planted_effect() -> None:
    """A true 0.1 nats/token improvement, per-cell noise 0.05, 5 seeds: found in at least 95% of 200 draws."""
    r = _rates(lambda: claim("better", than={"method": "magnitude"}), 200, seed=1, seeds=5,
               effects={"trajectory": -0.1})
    assert r[HOLDS] >= 0.95
    assert r[CONTRADICTED] == 0


def test_better_is_contradicted_when_the_cells_are_worse() -> None:
    r = _rates(lambda: claim("better"), 200, seed=2, seeds=5, effects={"trajectory": 0.15})
    assert r[CONTRADICTED] >= 0.95
    assert r[HOLDS] == 0


def test_not_worse_holds_within_the_margin_and_not_at_it() -> None:
    """No true difference and a margin of 0.15 (per-seed difference sd ~0.058, so the boundary is ~5.8 standard
    errors away with 5 seeds: power ~99%); at the margin itself, holds at most 5% of 1,000 draws."""
    within = _rates(lambda: claim("not_worse", margin=0.15), 200, seed=3, seeds=5)
    assert within[HOLDS] >= 0.95
    at_margin = _rates(lambda: claim("not_worse", margin=0.15), 1000, seed=4, seeds=5, effects={"trajectory": 0.15})
    assert at_margin[HOLDS] <= 0.05  # the null's boundary: 2.5% by construction (binomial sd 0.5% over 1,000)


def test_much_worse_holds_beyond_the_effect_and_not_at_it() -> None:
    beyond = _rates(lambda: claim("much_worse", effect=0.5), 200, seed=5, seeds=5, effects={"trajectory": 0.8})
    assert beyond[HOLDS] >= 0.95
    at_effect = _rates(lambda: claim("much_worse", effect=0.5), 1000, seed=6, seeds=5, effects={"trajectory": 0.5})
    assert at_effect[HOLDS] <= 0.05
    below = _rates(lambda: claim("much_worse", effect=0.5), 200, seed=7, seeds=5, effects={"trajectory": 0.1})
    assert below[CONTRADICTED] >= 0.95


def test_ratio_below_finds_a_planted_saving_and_not_a_null() -> None:
    saving = _rates(lambda: claim("ratio_below", metric="eval_ratio", bound=1.0), 200, seed=8, seeds=5,
                    log_effect=math.log(0.7))
    assert saving[HOLDS] >= 0.95
    null = _rates(lambda: claim("ratio_below", metric="eval_ratio", bound=1.0), 1000, seed=9, seeds=5)
    assert null[HOLDS] <= 0.05
    v = judge([claim("ratio_below", metric="eval_ratio", bound=1.0)],
              table(np.random.default_rng(10), 8, log_effect=math.log(0.7)))[0]
    assert 0.6 < v.estimate < 0.8 and v.low < v.estimate < v.high  # reported as the ratio, not its log


def test_accuracy_is_higher_is_better() -> None:
    """The synthetic accuracy falls as loss rises: trajectory with lower loss has higher accuracy, and `better`
    holds on both metrics; its estimate is positive on accuracy."""
    rng = np.random.default_rng(11)
    t = table(rng, 6, effects={"trajectory": -0.3})
    loss, acc = judge([claim("better"), claim("better", name="acc", metric="accuracy")], t)
    assert loss.verdict == acc.verdict == HOLDS
    assert loss.estimate < 0 < acc.estimate


def test_holm_across_the_family() -> None:
    """The adjusted p-values are Holm's over the suite's claims; a claim that holds alone may not in a family."""
    t = table(np.random.default_rng(12), 5, noise=0.0)
    for s, d in enumerate([-0.03, -0.01, -0.02, -0.005, -0.025]):  # t = -3.87 on 4 df: p = 0.018
        dense = t.loc[(t["seed"] == s) & (t["method"] == "dense"), "loss"].iloc[0]
        t.loc[(t["seed"] == s) & (t["method"] == "trajectory"), "loss"] = dense + d
    claims = [claim("better", name=f"c{i}") for i in range(6)]
    alone = judge(claims[:1], t)[0]
    family = judge(claims, t)
    assert [v.p_holm for v in family] == stats.holm([v.p for v in family])
    assert family[0].p_holm == pytest.approx(min(1.0, 6 * alone.p))  # six identical tests: Bonferroni's factor
    assert alone.p == pytest.approx(0.018, abs=0.001)
    assert alone.verdict == HOLDS and family[0].verdict == INCONCLUSIVE


def test_holm_known_values() -> None:
    assert stats.holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])


def test_inconclusive_says_what_more_seeds_would_detect() -> None:
    rng = np.random.default_rng(13)
    few = judge([claim("better")], table(rng, 3, effects={"trajectory": -0.01}))[0]
    many = judge([claim("better")], table(rng, 30, effects={"trajectory": -0.01}))[0]
    assert few.verdict == INCONCLUSIVE and few.detectable is not None
    assert many.detectable is None or many.detectable < few.detectable


def test_a_seed_with_a_failed_cell_is_left_out_not_averaged_over() -> None:
    t = table(np.random.default_rng(14), 5)
    t.loc[(t["seed"] == 2) & (t["method"] == "trajectory") & (t["ratio"] == 0.5), "status"] = "failed"
    t.loc[(t["seed"] == 3) & (t["method"] == "trajectory") & (t["ratio"] == 0.9), "status"] = None  # no row: unfinished
    t.loc[(t["seed"] == 4) & (t["method"] == "dense"), "loss"] = math.nan  # a value no measurement can take
    v = judge([claim("better")], t)[0]
    assert v.seeds == 2 and v.seeds_left_out == (2, 3, 4)


def test_one_seed_is_never_a_test() -> None:
    v = judge([claim("better")], table(np.random.default_rng(15), 1, effects={"trajectory": -5.0}))[0]
    assert v.verdict == INCONCLUSIVE and v.p is None and v.seeds == 1


def test_windows_are_not_seeds() -> None:
    """A cell's paired windows give one number (their mean log ratio): ten windows of one seed weigh as one seed."""
    assert cell_log_ratio([2.0] * 10, [4.0] * 10) == pytest.approx(math.log(0.5))
    assert math.isnan(cell_log_ratio([1.0, None], [1.0, 1.0]))
    t = table(np.random.default_rng(16), 3)
    assert judge([claim("ratio_below", metric="eval_ratio", bound=1.0)], t)[0].seeds == 3


def test_sign_flip_test_is_exact() -> None:
    assert sign_flip_p([1.0, 2.0, 3.0, 4.0]) == pytest.approx(2 / 16)  # only all-plus and all-minus are as extreme
    assert sign_flip_p([1.0, -1.0]) == pytest.approx(1.0)
    assert sign_flip_p([3.0, 1.0, -1.0]) == pytest.approx(6 / 8)  # |sums| over the 8 patterns: 5,3,3,1 twice; obs 3
    assert t_test([1.0, 2.0, 3.0, 4.0], 0.0, below=False).p_perm == pytest.approx(2 / 16)
    assert t_test([1.0] * 5, 0.0, below=False).p_perm is None  # 5 seeds and more: the t test alone


def test_one_sided_p_matches_the_t_distribution() -> None:
    """mean 1, sd 1, n 4: t = 2 on 3 df; P(|T| >= 2) = 0.1393 (tables)."""
    w = [1 - math.sqrt(1.5), 1 - math.sqrt(1.5) * 0, 1 + math.sqrt(1.5) * 0, 1 + math.sqrt(1.5)]
    m = sum(w) / 4
    sd = math.sqrt(sum((x - m) ** 2 for x in w) / 3)
    t = t_test(w, 0.0, below=False)
    assert m / (sd / 2) == pytest.approx(2.0)
    assert t.p == pytest.approx(0.1393, abs=5e-4)
    assert t.claimed and not t_test(w, 0.0, below=True).claimed
