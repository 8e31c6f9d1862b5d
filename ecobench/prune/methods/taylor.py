"""Taylor (first-order) importance: |w * dL/dw|, the loss change a weight's removal causes to first order, with L
the mean language-model loss over the calibration tokens. With `prune.calibration.batches: 1` it is SNIP
(Lee, Ajanthan, Torr 2019) applied to a trained model.

Memory: gradients are taken for the targeted weights only, in bounded activation memory (prune/gradients.py), and
each gradient buffer becomes its score in place. Under layer scope the targets are split into consecutive groups
whose gradients together weigh at most GROUP_SHARE of the model's weights, one calibration pass per group, each
group's scores computed only when the prune phase reads them and freed once their masks are made: the peak then
holds one group's gradients, not every target's (the price: a forward pass per group, and a backward through the
blocks from the group's first one on). A global cut needs every score at once, so global scope takes one pass.
"""

from __future__ import annotations

from typing import Literal

import torch

from ecobench.prune.gradients import calibration_gradients
from ecobench.prune.methods.base import LazyScores, Method, MethodOptions, ScoreInputs, Scores, register

GROUP_SHARE = 0.4  # under layer scope: the gradients of one pass weigh at most this share of the model's weights


class TaylorOptions(MethodOptions):
    name: Literal["taylor"]


def gradient_groups(inp: ScoreInputs, share: float | None) -> list[list[str]]:
    """Consecutive target names in groups whose bytes stay within `share` of all the model's weights' bytes (one
    group when `share` is None; a tensor larger than the share is a group of its own)."""
    names = list(inp.targets)
    if share is None:
        return [names]
    budget = share * sum(p.numel() * p.element_size() for p in {id(p): p for p in inp.model.parameters()}.values())
    groups: list[list[str]] = [[]]
    used = 0
    for n in names:
        size = inp.targets[n].numel() * inp.targets[n].element_size()
        if groups[-1] and used + size > budget:
            groups.append([])
            used = 0
        groups[-1].append(n)
        used += size
    return groups


def score(m: TaylorOptions, inp: ScoreInputs) -> Scores:
    groups = gradient_groups(inp, GROUP_SHARE if inp.scope == "layer" else None)
    group_of = {n: i for i, g in enumerate(groups) for n in g}

    def one_group(name: str) -> dict[str, torch.Tensor]:
        grads = calibration_gradients(inp.model, inp.targets, groups[group_of[name]], inp.calibration)
        for n, g in grads.items():
            g.mul_(inp.weights[n]).abs_()  # the gradient buffer becomes the score: no second copy
        return grads

    return Scores(LazyScores(list(inp.targets), one_group))


register(Method(
    "taylor", TaylorOptions, score,
    summary="|w x dL/dw| over the calibration batches (first-order Taylor; SNIP with one batch)",
    needs=frozenset({"weights", "gradients"}),
))
