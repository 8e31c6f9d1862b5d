"""Wanda (Sun, Liu, Bair, Kolter 2023, "A Simple and Effective Pruning Approach for Large Language Models"):
score |W_ij| * ||X_j||_2, the weight's magnitude times the norm of its input feature over calibration tokens.

The paper compares weights within each output row (`compare: row`, the default): with `layer` scope every output
row of every targeted tensor loses the same fraction. `compare: layer` cuts the whole tensor at once instead.
With `global` scope the scores of all targeted tensors are cut at one threshold (rows and tensors then lose
different fractions); the paper does not use it, and it is offered for comparison with the other methods.
The norms come from the dense model's activations in one pass (the paper's code prunes block by block and feeds
the pruned block's outputs on; it reports the two as close).
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from ecobench.prune.calibration import in_dim, input_norms
from ecobench.prune.layout import as_out_in, from_out_in, module_of
from ecobench.prune.methods.base import LazyScores, Method, MethodOptions, ScoreInputs, Scores, register


class WandaOptions(MethodOptions):
    name: Literal["wanda"]
    compare: Literal["row", "layer"] = "row"  # layer scope: cut each output row (the paper) or the whole tensor

    def problems(self, suite: Any) -> list[tuple[str, str]]:
        return activation_problems(self.name, suite)


def activation_problems(name: str, suite: Any) -> list[tuple[str, str]]:
    """Methods reading a layer's input activations cannot score an embedding table (its input is a token id)."""
    if suite.prune.targets.embeddings:
        return [("prune.targets.embeddings", f"{name} reads the input activations of each pruned layer; an "
                 "embedding table has none (its input is a token id): set embeddings: false")]
    return []


def score(m: WandaOptions, inp: ScoreInputs) -> Scores:
    """The norms (one small vector per layer) are taken now; each tensor's scores only when the prune phase reads
    them, which frees each once its mask is made: the scores of every tensor never exist at once under layer scope."""
    model = inp.model
    norms = input_norms(model, list(inp.weights), inp.calibration)

    def one(n: str) -> dict[str, torch.Tensor]:
        mod = module_of(model, n)
        s = as_out_in(inp.weights[n], mod, n).abs()  # a new (out, in) tensor: scaled in place, no second one
        return {n: from_out_in(s.mul_(norms.pop(n).unsqueeze(0)), mod)}  # (out, in) * (1, in)

    rows = {n: 1 - in_dim(model, n) for n in inp.weights}
    return Scores(LazyScores(list(inp.weights), one), rows=rows if m.compare == "row" else None)


register(Method(
    "wanda", WandaOptions, score,
    summary="|w| x the L2 norm of its input feature over calibration tokens, compared per output row (Wanda)",
    needs=frozenset({"weights", "calibration"}),
))
