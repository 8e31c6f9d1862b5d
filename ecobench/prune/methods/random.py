"""Random: the sanity floor. Any method worth reporting must beat it."""

from __future__ import annotations

import hashlib
from typing import Literal

import torch

from ecobench.prune.methods.base import LazyScores, Method, MethodOptions, ScoreInputs, Scores, register


class RandomOptions(MethodOptions):
    name: Literal["random"]


def score(m: RandomOptions, inp: ScoreInputs) -> Scores:
    # one generator per tensor, seeded from (seed, name): the same draw at every ratio, so masks nest; each drawn
    # when the prune phase reads it (and freed with its mask under layer scope)
    def one(n: str) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(int(hashlib.sha256(f"{inp.seed}|{n}".encode()).hexdigest()[:15], 16))
        w = inp.weights[n]  # drawn on the host (the same scores on any device), then moved to the weight's
        return {n: torch.rand(w.shape, generator=g, device="cpu").to(w.device)}

    return Scores(LazyScores(list(inp.weights), one))


register(Method("random", RandomOptions, score, summary="uniform random scores (seeded per tensor)"))
