"""Taylor (first-order) importance: |w * dL/dw|, the loss change a weight's removal causes to first order, with L
the mean language-model loss over the calibration tokens. With `prune.calibration.batches: 1` it is SNIP
(Lee, Ajanthan, Torr 2019) applied to a trained model. Gradients are taken for the targeted weights only, so the
extra memory is one gradient per targeted weight, which then becomes the score in place."""

from __future__ import annotations

from typing import Literal

import torch

from ecobench.prune.methods.base import Method, MethodOptions, ScoreInputs, Scores, register


class TaylorOptions(MethodOptions):
    name: Literal["taylor"]


def calibration_gradients(inp: ScoreInputs) -> dict[str, torch.Tensor]:
    """dL/dw of every targeted weight, L the mean loss over the calibration batches (other weights get none)."""
    from ecobench.train import lm_loss  # here: the training loop imports the suite schema, which imports us

    model = inp.model
    was = {id(p): p.requires_grad for p in model.parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
        p.grad = None
    for p in inp.targets.values():
        p.requires_grad_(True)
    model.eval()  # no dropout: the gradient of the model being pruned
    try:
        n = sum(x.shape[0] for x, _ in inp.calibration)
        for x, y in inp.calibration:
            for i in range(x.shape[0]):  # one sequence per backward: the activations of one, not of a batch
                (lm_loss(model, x[i : i + 1], y[i : i + 1]) / n).backward()
        grads = {}
        for n, p in inp.targets.items():
            grads[n] = p.grad if p.grad is not None else torch.zeros_like(p)
            p.grad = None
    finally:
        for p in model.parameters():
            p.requires_grad_(was[id(p)])
    return grads


def score(m: TaylorOptions, inp: ScoreInputs) -> Scores:
    grads = calibration_gradients(inp)
    for n, g in grads.items():
        g.mul_(inp.weights[n]).abs_()  # the gradient buffer becomes the score: no second copy
    return Scores(grads)


register(Method(
    "taylor", TaylorOptions, score,
    summary="|w x dL/dw| over the calibration batches (first-order Taylor; SNIP with one batch)",
    needs=frozenset({"weights", "gradients"}),
))
