"""Verdicts: each claim tested on per-seed differences, Holm across the suite's claims.

Seeds are the unit (Bouthillier et al., MLSys 2021): per seed, a side's metric is the mean over its cells (for a
footprint ratio, each cell's mean paired log ratio against dense), the seed's difference is cells − than, and the
test is a t test on those differences against the claim's boundary (margin, effect, ln bound). Windows are never
pooled as if they were seeds. Under 5 seeds an exact sign-flip permutation test is printed beside it.

The test is two-sided with a directional decision: its p-values are Holm-adjusted across the suite's claims, and a
claim whose adjusted p is below 5% *holds* when the mean lies on the claimed side of the boundary and is
*contradicted* when it lies on the other; otherwise it is *inconclusive*, with the smallest distance from the
boundary these seeds could detect (80% power), so the user knows whether more seeds would settle it. So the chance
of any wrong verdict (holds or contradicted) across the claims is at most 5%, a claim holds only when its printed
95% interval lies wholly on the claimed side, and the false-"holds" rate of one claim at its boundary is 2.5%.
A seed whose cell failed or is missing is left out of that claim (and said so).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ecobench.claims.groups import select
from ecobench.config.claims import (
    DENSE_REF,
    Claim,
    describe_group,
    higher_is_better,
    is_ratio_metric,
    metric_label,
)
from ecobench.footprint import stats

ALPHA = stats.ALPHA  # family-wise error rate across a suite's claims
POWER = 0.80  # for the smallest detectable effect of an inconclusive claim
PERMUTATION_BELOW = 5  # seeds under which the exact sign-flip test is shown beside the t test
HOLDS, CONTRADICTED, INCONCLUSIVE = "holds", "contradicted", "inconclusive"


t_quantile = functools.lru_cache(maxsize=None)(stats.t_quantile)  # a bisection; the same few (p, df) recur


@dataclass(frozen=True)
class Verdict:
    """A claim's outcome. Differences are cells − than in metric units (ratio_below: the ratio ×than)."""

    claim: Claim
    verdict: str
    estimate: float | None  # mean per-seed difference (ratio_below: geometric mean ratio)
    low: float | None  # two-sided 95% t interval of it
    high: float | None
    p: float | None  # two-sided p of the t test against the boundary, before Holm
    p_holm: float | None  # after Holm across the suite's claims
    p_permutation: float | None  # exact two-sided sign-flip p (seeds < 5), beside the t test
    seeds: int  # seeds the test used
    seeds_left_out: tuple[int, ...] = ()  # seeds with a failed or missing cell in either group
    detectable: float | None = None  # smallest distance from the boundary these seeds detect (inconclusive only)
    note: str = ""
    diffs: tuple[float, ...] = field(default=(), repr=False)  # the per-seed differences (metric units or logs)


@dataclass(frozen=True)
class _Test:
    estimate: float | None
    low: float | None
    high: float | None
    p: float | None
    claimed: bool | None  # the mean lies on the side the claim states
    p_perm: float | None
    se: float | None


def side_values(cells: pd.DataFrame, mask: pd.Series, column: str) -> dict[int, float | None]:
    """Per seed, the mean of a group's cells; None for a seed where one of them failed, is missing (no status) or
    has no finite value: a mean over fewer cells would compare something else."""
    sub = cells[mask]
    if column not in sub.columns:
        return {int(s): None for s in sub["seed"].unique()}
    seeds = sub["seed"].to_numpy()
    values = pd.to_numeric(sub[column], errors="coerce").to_numpy(dtype=float)
    ok = (sub["status"] == "ok").to_numpy() if "status" in sub.columns else np.ones(len(sub), dtype=bool)
    out: dict[int, float | None] = {}
    for s in np.unique(seeds):
        at = seeds == s
        v = values[at]
        out[int(s)] = float(v.mean()) if ok[at].all() and np.isfinite(v).all() else None
    return out


def seed_differences(claim: Claim, cells: pd.DataFrame) -> tuple[dict[int, float], list[int]]:
    """{seed: cells − than} for the seeds where both sides are whole, and the seeds left out."""
    ratio = is_ratio_metric(claim.metric)
    column = f"log:{metric_label(claim.metric)}" if ratio else claim.metric
    a = side_values(cells, select(claim.cells, cells), column)
    # a footprint ratio is measured beside the seed's dense model: against dense the difference is the ratio
    b = {s: 0.0 for s in a} if ratio and claim.than == DENSE_REF else side_values(cells, select(claim.than, cells), column)
    out: dict[int, float] = {}
    left_out: list[int] = []
    for seed in sorted(set(a) | set(b)):
        x, y = a.get(seed), b.get(seed)
        if x is None or y is None:
            left_out.append(seed)
        else:
            out[seed] = x - y
    return out, left_out


def _upper(t: float, df: int) -> float:
    """P(T >= t) for Student's t."""
    half = stats.t_two_sided_p(t, df) / 2
    return half if t >= 0 else 1 - half


def sign_flip_p(w: Sequence[float]) -> float:
    """Exact two-sided sign-flip p of mean(w) = 0 (w centred on the boundary): the share of the 2^n sign patterns
    whose |sum| is at least the one observed. With n seeds it is never below 2 / 2^n."""
    obs = abs(sum(w))
    hits = sum(abs(sum(x * g for x, g in zip(w, signs, strict=True))) >= obs - 1e-12
               for signs in itertools.product((1, -1), repeat=len(w)))
    return hits / 2 ** len(w)


def t_test(w: Sequence[float], threshold: float, below: bool) -> _Test:
    """Two-sided t test of mean(w) = threshold, w oriented so larger is worse; `claimed` says whether the mean lies
    on the side the claim states (below the threshold when `below`)."""
    n = len(w)
    if n == 0:
        return _Test(None, None, None, None, None, None, None)
    m = sum(w) / n
    claimed = m < threshold if below else m > threshold
    if n < 2:
        return _Test(m, None, None, None, claimed, None, None)
    sd = math.sqrt(sum((x - m) ** 2 for x in w) / (n - 1))
    se = sd / math.sqrt(n)
    half = t_quantile(0.5 + stats.LEVEL / 2, n - 1) * se
    if se == 0:  # every seed agrees exactly: the side is certain; a tie with the boundary decides nothing
        p = 1.0 if m == threshold else 0.0
    else:
        t = (m - threshold) / se
        p = min(1.0, 2 * min(_upper(t, n - 1), _upper(-t, n - 1)))
    perm = sign_flip_p([x - threshold for x in w]) if n < PERMUTATION_BELOW else None
    return _Test(m, m - half, m + half, p, claimed, perm, se)


def detectable(se: float | None, n: int) -> float | None:
    """The smallest true distance from the boundary the two-sided 5% t test finds with 80% power at this spread."""
    if se is None or n < 2 or not math.isfinite(se):
        return None
    return (t_quantile(1 - ALPHA / 2, n - 1) + t_quantile(POWER, n - 1)) * se


def _back(t: _Test, sign: float) -> tuple[float | None, float | None, float | None]:
    """The estimate and interval of the tested (worse-oriented) mean, back in cells − than units."""
    if t.estimate is None:
        return None, None, None
    if t.low is None or t.high is None:
        return sign * t.estimate, None, None
    lo, hi = sorted((sign * t.low, sign * t.high))
    return sign * t.estimate, lo, hi


def _note(t: _Test, n: int, verdict: str) -> str:
    if n < 2:
        return f"{n} seed(s) with both sides whole: a test needs at least 2"
    if t.p_perm is not None and verdict != INCONCLUSIVE and t.p_perm >= ALPHA:
        floor = 2 / 2 ** n
        return (f"the exact sign-flip test beside it gives p {t.p_perm:.3g}"
                + (f" (its floor with {n} seeds is {floor:.3g})" if t.p_perm <= floor + 1e-12 else ""))
    return ""


def judge(claims: Sequence[Claim], cells: pd.DataFrame) -> list[Verdict]:
    """Every claim of a suite against one cell table; Holm across them."""
    raw = []
    for claim in claims:
        diffs, left_out = seed_differences(claim, cells)
        d = [diffs[s] for s in sorted(diffs)]
        sign = -1.0 if higher_is_better(claim.metric) else 1.0  # oriented so that larger is worse
        raw.append((claim, d, left_out, sign, t_test([sign * x for x in d], claim.threshold, claim.claims_below)))
    out = []
    for (claim, d, left_out, sign, t), ph in zip(raw, stats.holm([r[4].p for r in raw]), strict=True):
        verdict = INCONCLUSIVE if ph is None or ph >= ALPHA else HOLDS if t.claimed else CONTRADICTED
        est, lo, hi = _back(t, sign)
        if is_ratio_metric(claim.metric) and est is not None:
            est, lo, hi = math.exp(est), None if lo is None else math.exp(lo), None if hi is None else math.exp(hi)
        out.append(Verdict(claim=claim, verdict=verdict, estimate=est, low=lo, high=hi, p=t.p, p_holm=ph,
                           p_permutation=t.p_perm, seeds=len(d), seeds_left_out=tuple(left_out),
                           detectable=detectable(t.se, len(d)) if verdict == INCONCLUSIVE else None,
                           note=_note(t, len(d), verdict), diffs=tuple(d)))
    return out


def headline(verdicts: Sequence[Verdict]) -> str:
    """'3 claims: 1 holds, 1 contradicted, 1 inconclusive'."""
    counts = {k: sum(v.verdict == k for v in verdicts) for k in (HOLDS, CONTRADICTED, INCONCLUSIVE)}
    return f"{len(verdicts)} claim(s): " + ", ".join(f"{n} {k}" for k, n in counts.items() if n)


def sides(claim: Claim) -> str:
    return f"{describe_group(claim.cells)} vs {describe_group(claim.than)}"
