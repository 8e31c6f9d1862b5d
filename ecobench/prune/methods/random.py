"""Random: the sanity floor. Any method worth reporting must beat it."""

from __future__ import annotations

import hashlib
from typing import Literal

import torch

from ecobench.prune.methods.base import Method, MethodOptions, ScoreInputs, Scores, register


class RandomOptions(MethodOptions):
    name: Literal["random"]


def score(m: RandomOptions, inp: ScoreInputs) -> Scores:
    # one generator per tensor, seeded from (seed, name): the same draw at every ratio, so masks nest
    out = {}
    for n, w in inp.weights.items():
        g = torch.Generator().manual_seed(int(hashlib.sha256(f"{inp.seed}|{n}".encode()).hexdigest()[:15], 16))
        out[n] = torch.rand(w.shape, generator=g)
    return Scores(out)


register(Method("random", RandomOptions, score, summary="uniform random scores (seeded per tensor)"))
