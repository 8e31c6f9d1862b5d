"""Magnitude: |w| of the dense model's final weights, the baseline every pruning paper reports."""

from __future__ import annotations

from typing import Literal

from ecobench.prune.masks import absolute
from ecobench.prune.methods.base import LazyScores, Method, MethodOptions, ScoreInputs, Scores, register


class MagnitudeOptions(MethodOptions):
    name: Literal["magnitude"]


def score(m: MagnitudeOptions, inp: ScoreInputs) -> Scores:
    # each tensor's |w| made when the prune phase reads it (and freed with its mask under layer scope)
    return Scores(LazyScores(list(inp.weights), lambda n: {n: absolute(inp.weights[n])}))


register(Method("magnitude", MagnitudeOptions, score, summary="|w| of the final weights"))
