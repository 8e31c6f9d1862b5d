"""Magnitude: |w| of the dense model's final weights, the baseline every pruning paper reports."""

from __future__ import annotations

from typing import Literal

from ecobench.prune.masks import absolute
from ecobench.prune.methods.base import Method, MethodOptions, ScoreInputs, Scores, register


class MagnitudeOptions(MethodOptions):
    name: Literal["magnitude"]


def score(m: MagnitudeOptions, inp: ScoreInputs) -> Scores:
    return Scores({n: absolute(w) for n, w in inp.weights.items()})


register(Method("magnitude", MagnitudeOptions, score, summary="|w| of the final weights"))
