"""Verdicts as text: one line per claim (terminal, `compare`), a Markdown or LaTeX table, JSON; and the sentences
of the HTML report and the impact statement."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from ecobench.claims.judge import ALPHA, CONTRADICTED, HOLDS, INCONCLUSIVE, Verdict, headline, sides
from ecobench.config.claims import higher_is_better, is_ratio_metric

FORMATS = ("table", "markdown", "latex", "json")
METHOD = ("paired by seed (per-seed means of each side's cells; seeds are the unit); t test of the per-seed "
          "differences against the claim's boundary, two-sided, Holm across the suite's claims (any wrong verdict "
          "at most 5%); an exact sign-flip test beside it under 5 seeds")
UNITS = {"loss": " nats", "bpc": " bits"}


def _unit(metric: str) -> str:
    return UNITS.get(metric.partition("@")[0], "")


def _num(x: float | None, signed: bool = True) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    if x == 0:
        return "0"
    return f"{x:+.3g}" if signed else f"{x:.3g}"


def _p(p: float | None) -> str:
    return "–" if p is None else "<0.001" if p < 0.001 else f"{p:.3g}"


def boundary(v: Verdict) -> str:
    """What the claim says about the difference: 'Δ < +0.05', 'ratio < 1'."""
    c = v.claim
    if c.form == "ratio_below":
        return f"ratio < {c.bound:g}"
    hib = higher_is_better(c.metric)
    t = c.threshold
    below = c.claims_below
    op = ("<" if below else ">") if not hib else (">" if below else "<")
    return f"Δ {op} {_num(-t if hib else t)}"


def estimate(v: Verdict) -> str:
    """'Δ +0.012 nats [−0.004, +0.028]' or 'ratio 0.62 [0.55, 0.70]'."""
    if is_ratio_metric(v.claim.metric):
        ci = "" if v.low is None else f" [{_num(v.low, False)}, {_num(v.high, False)}]"
        return f"ratio {_num(v.estimate, False)}{ci}"
    ci = "" if v.low is None else f" [{_num(v.low)}, {_num(v.high)}]"
    return f"Δ {_num(v.estimate)}{_unit(v.claim.metric)}{ci}"


def detect_text(v: Verdict) -> str:
    if v.detectable is None:
        return ""
    if is_ratio_metric(v.claim.metric):
        return f"these {v.seeds} seeds could detect a ratio ×{math.exp(-v.detectable):.3g} of the bound"
    return f"these {v.seeds} seeds could detect {v.detectable:.3g}{_unit(v.claim.metric)} beyond the boundary"


def line(v: Verdict) -> str:
    """One verdict line: verdict, claim, sides, estimate, boundary, adjusted p, seeds, and what is missing."""
    c = v.claim
    extra = []
    if v.p_permutation is not None:
        at_floor = v.seeds >= 2 and v.p_permutation <= 2 / 2 ** v.seeds + 1e-12
        extra.append(f"sign-flip p {_p(v.p_permutation)}" + (f" (the least {v.seeds} seeds can give)" if at_floor else ""))
    if v.seeds_left_out:
        extra.append(f"seed(s) {', '.join(map(str, v.seeds_left_out))} left out (a cell failed or is missing)")
    if v.verdict == INCONCLUSIVE and (d := detect_text(v)):
        extra.append(d)
    if v.seeds < 2 and v.note:
        extra.append(v.note)
    return (f"{v.verdict.upper():<12} {c.name} ({c.form}, {c.metric}): {sides(c)}: {estimate(v)}, claim "
            f"{boundary(v)}; p {_p(v.p_holm)} (Holm); {v.seeds} seed(s)" + "".join(f"; {e}" for e in extra))


def lines(verdicts: Sequence[Verdict], says: bool = True) -> list[str]:
    out = []
    for v in verdicts:
        out.append(line(v))
        if says and v.claim.says:
            out.append(f"{'':13}“{v.claim.says}”")
    return out


def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "–": "--", "×": r"$\times$",
        "Δ": r"$\Delta$", "“": "``", "”": "''", "<": r"$<$", ">": r"$>$"}


def _tex(s: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in s)


def render(verdicts: Sequence[Verdict], fmt: str, title: str = "") -> str:
    """The verdicts in one of FORMATS."""
    if fmt == "json":
        return json.dumps({"title": title, "method": METHOD, "alpha": ALPHA, "claims": [to_dict(v) for v in verdicts]},
                          indent=2) + "\n"
    head = f"{title}: {headline(verdicts)}" if title else headline(verdicts)
    if fmt == "table":
        return "\n".join([head, f"  ({METHOD})", *lines(verdicts)]) + "\n"
    cols = ["claim", "says", "verdict", "metric", "cells vs than", "estimate [95% CI]", "claimed", "p (Holm)", "seeds",
            "note"]
    rows = [[v.claim.name, v.claim.says or "", v.verdict, v.claim.metric, sides(v.claim), estimate(v), boundary(v),
             _p(v.p_holm), str(v.seeds), detect_text(v) or v.note] for v in verdicts]
    if fmt == "markdown":
        out = [f"**{_md(head)}** ({_md(METHOD)})", "", "| " + " | ".join(cols) + " |",
               "|" + "---|" * len(cols)]
        out += ["| " + " | ".join(_md(x) for x in r) + " |" for r in rows]
        return "\n".join(out) + "\n"
    if fmt == "latex":
        out = [f"% ecobench claims: {head}", f"% {METHOD}", "\\begin{tabular}{" + "l" * len(cols) + "}",
               "\\hline", " & ".join(_tex(c) for c in cols) + " \\\\", "\\hline"]
        out += [" & ".join(_tex(x) for x in r) + " \\\\" for r in rows]
        out += ["\\hline", "\\end{tabular}"]
        return "\n".join(out) + "\n"
    raise ValueError(fmt)


def to_dict(v: Verdict) -> dict:
    c = v.claim
    return {"name": c.name, "says": c.says, "form": c.form, "metric": c.metric, "cells": sides(c).split(" vs ")[0],
            "than": sides(c).split(" vs ")[1], "boundary": boundary(v), "verdict": v.verdict,
            "estimate": v.estimate, "ci_low": v.low, "ci_high": v.high, "p": v.p, "p_holm": v.p_holm,
            "p_sign_flip": v.p_permutation, "seeds": v.seeds,
            "seeds_left_out": list(v.seeds_left_out), "detectable": v.detectable, "note": v.note,
            "per_seed": list(v.diffs)}


def sentence(verdicts: Sequence[Verdict]) -> str:
    """For the impact statement: how many hold, and each claim's verdict with its estimate."""
    parts = [f"“{v.claim.says or v.claim.name}” {'is ' if v.verdict != HOLDS else ''}{v.verdict} ({estimate(v)}, "
             f"Holm-adjusted p {_p(v.p_holm)}, {v.seeds} seeds)" for v in verdicts]
    n = {k: sum(v.verdict == k for v in verdicts) for k in (HOLDS, CONTRADICTED, INCONCLUSIVE)}
    return (f"Of the suite's {len(verdicts)} stated claims, tested paired by seed with Holm's correction, "
            f"{n[HOLDS]} hold, {n[CONTRADICTED]} are contradicted and {n[INCONCLUSIVE]} are inconclusive: "
            + "; ".join(parts) + ".")
