"""Interval math against hand computations (tabled t quantiles, a worked paired example, Holm by hand)."""

from __future__ import annotations

import math

import pytest

from ecobench.footprint import stats


@pytest.mark.parametrize(("df", "q"), [(1, 12.7062), (2, 4.30265), (4, 2.77645), (9, 2.26216), (30, 2.04227)])
def test_t_quantiles_match_the_table(df: int, q: float) -> None:
    assert stats.t_quantile(0.975, df) == pytest.approx(q, abs=1e-4)


def test_mean_interval_by_hand() -> None:
    iv = stats.mean_interval([1.0, 2.0, 3.0])  # mean 2, sd 1, half = t(0.975, 2) / sqrt(3)
    half = 4.302653 / math.sqrt(3)
    assert (iv.mean, iv.n) == (2.0, 3)
    assert iv.low == pytest.approx(2 - half, abs=1e-5) and iv.high == pytest.approx(2 + half, abs=1e-5)
    assert stats.mean_interval([1.0]).low is None
    assert stats.mean_interval([1.0, None]) is None  # a missing window: no mean over fewer


def test_paired_ratio_by_hand() -> None:
    # d = ln(1.1), ln(1.2), ln(1.0); mean 0.0925439, sd 0.0911923, se 0.0526499
    r = stats.paired_ratio([1.1, 1.2, 1.0], [1.0, 1.0, 1.0])
    assert r.ratio == pytest.approx(math.exp(0.0925439), rel=1e-6)
    assert r.low == pytest.approx(math.exp(0.0925439 - 4.302653 * 0.0526499), rel=1e-5)
    assert r.high == pytest.approx(math.exp(0.0925439 + 4.302653 * 0.0526499), rel=1e-5)
    t = 0.0925439 / 0.0526499
    assert r.p == pytest.approx(1 - t / math.sqrt(t * t + 2), abs=1e-5)  # closed form of the t(2) tail
    assert not r.differs


def test_a_ratio_is_scale_free_and_detects_a_real_difference() -> None:
    a, b = [0.50, 0.52, 0.49, 0.51], [1.0, 1.03, 0.99, 1.01]
    r = stats.paired_ratio(a, b)
    assert r.differs and r.high < 1 and r.p < 0.001
    scaled = stats.paired_ratio([x * 7 for x in a], [x * 7 for x in b])
    assert scaled.ratio == pytest.approx(r.ratio) and scaled.low == pytest.approx(r.low)


def test_identical_pairs_and_bad_inputs() -> None:
    same = stats.paired_ratio([2.0, 2.0], [2.0, 2.0])
    assert (same.ratio, same.low, same.high, same.p) == (1.0, 1.0, 1.0, 1.0)
    assert stats.paired_ratio([1.0, 0.0], [1.0, 1.0]) is None  # not positive
    assert stats.paired_ratio([1.0, 2.0], [1.0]) is None  # unpaired


def test_holm_by_hand() -> None:
    # sorted 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04, raised to the running 0.06)
    assert stats.holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])
    assert stats.holm([0.5, 0.9]) == [1.0, 1.0]  # 0.5 x 2 caps at 1, and adjusted p never decreases


def test_cv() -> None:
    assert stats.cv([1.0, 2.0, 3.0]) == pytest.approx(0.5)
    assert stats.cv([1.0]) is None


def test_detectable_ratio_by_hand() -> None:
    # n = 5, sd 0.1: (t(0.975, 4) + t(0.8, 4)) x 0.1 / sqrt(5) = (2.776445 + 0.940965) x 0.0447214
    d = (2.776445 + 0.940965) * 0.1 / math.sqrt(5)
    assert stats.detectable_log_ratio(0.1, 5) == pytest.approx(d, rel=1e-4)
    assert stats.detectable_ratio(0.1, 5) == pytest.approx(math.exp(-d), rel=1e-4)
    # a larger family needs a larger effect; more units a smaller one
    assert stats.detectable_ratio(0.1, 5, tests=20) < stats.detectable_ratio(0.1, 5)
    assert stats.detectable_ratio(0.1, 20) > stats.detectable_ratio(0.1, 5)
    assert stats.detectable_ratio(0.1, 1) is None and stats.detectable_ratio(None, 5) is None


def test_repeats_for_reaches_the_target_and_no_fewer_would() -> None:
    r = stats.repeats_for(0.9, 0.05, seeds=2)
    assert r is not None and stats.detectable_ratio(0.05 / math.sqrt(r), 2) >= 0.9
    assert stats.detectable_ratio(0.05 / math.sqrt(r - 1), 2) < 0.9 or r == 2
    one_seed = stats.repeats_for(0.9, 0.05, seeds=1)
    assert one_seed is not None and stats.detectable_ratio(0.05, one_seed) >= 0.9
    assert stats.repeats_for(0.9, 5.0, seeds=1, max_repeats=10) is None  # unreachable within the cap
    assert stats.repeats_for(1.2, 0.05, seeds=2) is None  # not a saving
