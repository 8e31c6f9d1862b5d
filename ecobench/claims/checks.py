"""What a suite's claims ask of its sweep, checked before any work (validate and run): every method, structure,
scope and ratio a group names exists in the sweep, every group selects at least one cell, the metric is one the
task family reports (and a footprint ratio one the suite measures). One `file:line: field: message` per problem."""

from __future__ import annotations

import difflib
from typing import Any

from ecobench.claims.groups import select
from ecobench.claims.table import planned
from ecobench.config.claims import CONTROL_REF, GroupConfig, RatioRange, is_ratio_metric, metric_label
from ecobench.config.errors import where_in
from ecobench.config.schema import Suite
from ecobench.config.yaml import dotted
from ecobench.families import CAUSAL_LM, family_name

FAMILY_METRICS = {CAUSAL_LM: ("loss", "bpc", "ppl")}  # any other family: image-question answers
ANSWER_METRICS = ("loss", "accuracy", "mae")


def _hint(got: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(got, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _listed(v: Any) -> list:
    return v if isinstance(v, list) else [v]


def metric_problem(suite: Suite, metric: str) -> str | None:
    """Why `metric` is not reported by this suite's runs, or None."""
    if is_ratio_metric(metric):
        label = metric_label(metric)
        if label == "eval":
            return None
        phase, _, b = label.partition("_b")
        if not suite.eval.inference_tokens:
            return f"{metric}: the suite measures no {phase} (eval.inference_tokens is 0); eval_ratio is measured"
        if int(b) not in suite.eval.inference_batch_sizes:
            return (f"{metric}: batch size {b} is not measured; eval.inference_batch_sizes is "
                    f"{suite.eval.inference_batch_sizes}")
        return None
    base, at, domain = metric.partition("@")
    family = family_name(suite.model)
    known = FAMILY_METRICS.get(family, ANSWER_METRICS)
    if base not in known:
        return (f"{metric!r} is not reported for a {family} model; its metrics are "
                f"{', '.join(known)}{_hint(base, list(known))}")
    if at and domain not in suite.eval.domains:
        listed = ", ".join(suite.eval.domains) or "none"
        return f"{metric}: {domain!r} is not one of eval.domains ({listed}){_hint(domain, list(suite.eval.domains))}"
    return None


def _group_problems(suite: Suite, g: str | GroupConfig) -> list[tuple[tuple, str]]:
    """(path inside the group, message) for names the sweep does not have."""
    if isinstance(g, str):
        if g == CONTROL_REF and not suite.prune.recover_steps:
            return [((), "'dense+recover' exists only when pruned cells recover (prune.recover_steps > 0)")]
        return []
    out: list[tuple[tuple, str]] = []
    labels = [m.display for m in suite.prune.methods]
    for name in _listed(g.method) if g.method is not None else []:
        if name not in labels:
            out.append((("method",), f"unknown method {name!r}{_hint(name, labels)}; the suite's methods: "
                        f"{', '.join(labels)}"))
    for what, have in (("structure", suite.prune.structures), ("scope", suite.prune.scopes)):
        for name in _listed(getattr(g, what)) if getattr(g, what) is not None else []:
            if name not in have:
                out.append(((what,), f"{name!r} is not in the sweep{_hint(name, list(have))}; prune."
                            f"{'structures' if what == 'structure' else 'scope'}: {', '.join(have)}"))
    if g.ratio is not None and not isinstance(g.ratio, RatioRange):
        sweep = sorted(suite.prune.ratios)
        missing = [r for r in _listed(g.ratio) if not any(abs(r - s) < 1e-9 for s in sweep)]
        if missing:
            out.append((("ratio",), f"{', '.join(f'{r:g}' for r in missing)} not in the sweep; prune.ratios: "
                        f"{', '.join(f'{r:g}' for r in sweep)}"))
    return out


def claim_problems(suite: Suite, source: str, lines: dict) -> list[str]:
    """Every way the suite's claims do not fit its sweep, as `file:line: field: message` lines."""
    if not suite.claims:
        return []
    cells = planned(suite)

    def where(path: tuple) -> str:
        for k in range(len(path), 0, -1):
            if path[:k] in lines:
                return where_in(source, lines[path[:k]])
        return source

    out = []
    for i, c in enumerate(suite.claims):
        base = ("claims", i)
        if (problem := metric_problem(suite, c.metric)) is not None:
            out.append(f"{where(base + ('metric',))}: {dotted(base + ('metric',))}: {problem}")
        for side in ("cells", "than"):
            g = getattr(c, side)
            found = _group_problems(suite, g)
            out += [f"{where(base + (side, *p))}: {dotted(base + (side, *p))}: {msg}" for p, msg in found]
            if not found and not select(g, cells).any():
                what = g if isinstance(g, str) else g.describe()
                out.append(f"{where(base + (side,))}: {dotted(base + (side,))}: the group ({what}) selects no cell of "
                           "the sweep")
    return out
