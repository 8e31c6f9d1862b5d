"""Statistics of repeated, paired measurement windows: means with intervals, ratios to dense, noise floor, Holm.

The ratio of a cell to its seed's dense model is estimated from per-pair log ratios: pair i measures the pruned and
the dense model on the same workload back to back (ABBA order, measure.py), d_i = ln(a_i / b_i), and the 95% interval
is a Student t interval on the mean of the d_i, exponentiated: exp(mean(d) +- t(0.975, n-1) x sd(d) / sqrt(n)). Why
log ratios and not differences: drift on a shared machine (frequency, neighbours, thermal) scales both windows of a
pair, so it cancels in a ratio but not in a difference; the log makes 0.5x and 2x symmetric and the interval stays
positive. The printed ratio is the geometric mean of the pair ratios. n = 1 gives a ratio without an interval.

A sweep tests many cells against dense at once: report/paired.py makes every (cell, workload) test of a run one
family and Bonferroni-adjusts it (simultaneous intervals, so the printed interval is the decision); `holm` is kept for
the claims' verdicts and the benchmarks. Either bounds the chance of any false "saving" in the family at 5% without
assuming the tests are independent (they are not: every cell of a seed shares its dense model).

No scipy: the t distribution comes from the regularized incomplete beta function (Numerical Recipes' continued
fraction), checked against tabled quantiles in tests.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

LEVEL = 0.95  # two-sided confidence level of every interval ecobench prints
ALPHA = 1 - LEVEL  # family-wise error rate bounded by Holm across a run's cells


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 3e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1 - x) / b


def t_two_sided_p(t: float, df: int) -> float:
    """P(|T| >= |t|) for Student's t with `df` degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return betainc(df / 2, 0.5, df / (df + t * t))


@functools.lru_cache(maxsize=4096)  # a table asks the same few (level, df) once per row and workload
def t_quantile(p: float, df: int) -> float:
    """The p-quantile (p > 0.5) of Student's t, by bisection on the two-sided tail."""
    tail = 2 * (1 - p)
    lo, hi = 0.0, 1.0
    while t_two_sided_p(hi, df) > tail:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_two_sided_p(mid, df) > tail:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _mean_sd(x: Sequence[float]) -> tuple[float, float]:
    n = len(x)
    m = sum(x) / n
    sd = math.sqrt(sum((v - m) ** 2 for v in x) / (n - 1)) if n > 1 else math.nan
    return m, sd


def _clean(values: Sequence[float | None] | None) -> list[float] | None:
    """Finite floats, or None when any value is missing (a mean over fewer windows would hide a failed meter)."""
    if not values or any(v is None or not math.isfinite(v) for v in values):
        return None
    return [float(v) for v in values]  # type: ignore[arg-type]


@dataclass(frozen=True)
class Interval:
    """A mean of n repeats with its two-sided t interval (low/high None for n < 2)."""

    mean: float
    low: float | None
    high: float | None
    n: int


def mean_interval(values: Sequence[float | None] | None, level: float = LEVEL) -> Interval | None:
    x = _clean(values)
    if x is None:
        return None
    m, sd = _mean_sd(x)
    if len(x) < 2:
        return Interval(m, None, None, len(x))
    half = t_quantile(0.5 + level / 2, len(x) - 1) * sd / math.sqrt(len(x))
    return Interval(m, m - half, m + half, len(x))


@dataclass(frozen=True)
class Ratio:
    """Pruned / dense from paired windows: geometric mean of pair ratios, its t interval and p-value (H0: 1)."""

    ratio: float
    low: float | None
    high: float | None
    p: float | None
    n: int

    @property
    def differs(self) -> bool:
        """True when the interval excludes 1 (a difference beyond noise, before any multiplicity control)."""
        return self.low is not None and self.high is not None and (self.low > 1 or self.high < 1)


def log_ratios(a: Sequence[float | None] | None, b: Sequence[float | None] | None) -> list[float] | None:
    """ln(a_i / b_i) per pair; None when a value is missing, not positive, or the lengths differ."""
    xa, xb = _clean(a), _clean(b)
    if xa is None or xb is None or len(xa) != len(xb) or any(v <= 0 for v in (*xa, *xb)):
        return None
    return [math.log(p / q) for p, q in zip(xa, xb, strict=True)]


def ratio_from_logs(d: Sequence[float] | None, level: float = LEVEL) -> Ratio | None:
    if not d:
        return None
    n = len(d)
    m, sd = _mean_sd(list(d))
    if n < 2:
        return Ratio(math.exp(m), None, None, None, n)
    if sd == 0:
        return Ratio(math.exp(m), math.exp(m), math.exp(m), 1.0 if m == 0 else 0.0, n)
    se = sd / math.sqrt(n)
    half = t_quantile(0.5 + level / 2, n - 1) * se
    return Ratio(math.exp(m), math.exp(m - half), math.exp(m + half), t_two_sided_p(m / se, n - 1), n)


def paired_ratio(a: Sequence[float | None] | None, b: Sequence[float | None] | None, level: float = LEVEL) -> Ratio | None:
    """Ratio a/b of paired repeats (a_i and b_i measured back to back) with its interval; None if not computable."""
    return ratio_from_logs(log_ratios(a, b), level)


def cv(values: Sequence[float | None] | None) -> float | None:
    """Coefficient of variation (sample sd / mean) of identical windows; None for fewer than 2 or a zero mean."""
    x = _clean(values)
    if x is None or len(x) < 2:
        return None
    m, sd = _mean_sd(x)
    return sd / abs(m) if m else None


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (None stays None and is not counted as a test)."""
    idx = sorted((i for i, p in enumerate(pvalues) if p is not None), key=lambda i: pvalues[i])  # type: ignore[arg-type,return-value]
    m = len(idx)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))  # type: ignore[operator]
        out[i] = running
    return out


# ----------------------------------------------------------------------------- power: what a run could have seen


def detectable_log_ratio(sd: float | None, n: int, tests: int = 1, power: float = 0.8,
                         alpha: float = ALPHA, df: int | None = None) -> float | None:
    """The smallest |mean log ratio| that a two-sided t test over `n` paired units (seeds, or pairs of one seed) with
    per-unit sd `sd` detects with probability `power`, at alpha / `tests` (Bonferroni over the run's family):
    (t(1 - alpha/2m, df) + t(power, df)) x sd / sqrt(n), the usual normal-approximation power formula with t
    quantiles; df = n - 1 unless the sd was pooled over more units (report/paired.py pools the between-seed variance
    over a run's cells). Why it is printed: "no saving" is only a finding next to how small a saving the run could
    have seen. None when n < 2 or sd is unknown."""
    df = n - 1 if df is None else df
    if sd is None or not math.isfinite(sd) or n < 1 or df < 1 or tests < 1:
        return None
    crit = t_quantile(1 - alpha / (2 * tests), df)
    return (crit + t_quantile(power, df)) * sd / math.sqrt(n)


def detectable_ratio(sd: float | None, n: int, tests: int = 1, power: float = 0.8,
                     alpha: float = ALPHA, df: int | None = None) -> float | None:
    """The saving ratio (< 1) at or below which the run would have shown a difference: exp(-detectable_log_ratio)."""
    d = detectable_log_ratio(sd, n, tests, power, alpha, df)
    return None if d is None else math.exp(-d)


def repeats_for(target_ratio: float, pair_sd: float | None, seeds: int, tests: int = 1, power: float = 0.8,
                alpha: float = ALPHA, max_repeats: int = 1000, df: int | None = None) -> int | None:
    """The fewest repeats (>= 2) per workload such that a saving of `target_ratio` (e.g. 0.9) is detectable, given
    `pair_sd`, the sd of one pair's log ratio on this machine (the noise floor's pair-ratio CV is its estimate).
    With >= 2 seeds the unit is the seed (its mean log ratio over r pairs has sd pair_sd / sqrt(r)), its sd pooled
    over `df` degrees of freedom (the run's cells x (seeds - 1); seeds - 1 when None); with one seed the unit is the
    pair. Between-seed variation is not in the noise floor, so this is a lower bound. None when no count up to
    `max_repeats` reaches the target (or the inputs cannot say)."""
    if pair_sd is None or not math.isfinite(pair_sd) or not 0 < target_ratio < 1:
        return None
    for r in range(2, max_repeats + 1):
        found = (detectable_ratio(pair_sd / math.sqrt(r), seeds, tests, power, alpha, df) if seeds >= 2
                 else detectable_ratio(pair_sd, r, tests, power, alpha))
        if found is not None and found >= target_ratio:
            return r
    return None
