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

from ecobench.prune.calibration import in_dim, input_norms
from ecobench.prune.layout import as_out_in, from_out_in, module_of
from ecobench.prune.methods.base import Method, MethodOptions, ScoreInputs, Scores, register


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
    model = inp.model
    norms = input_norms(model, list(inp.weights), inp.calibration)
    rank, rows = {}, {}
    for n, w in inp.weights.items():
        mod = module_of(model, n)
        rank[n] = from_out_in(as_out_in(w, mod, n).abs() * norms[n].unsqueeze(0), mod)  # (out, in) * (1, in)
        rows[n] = 1 - in_dim(model, n)
    return Scores(rank, rows=rows if m.compare == "row" else None)


register(Method(
    "wanda", WandaOptions, score,
    summary="|w| x the L2 norm of its input feature over calibration tokens, compared per output row (Wanda)",
    needs=frozenset({"weights", "calibration"}),
))
