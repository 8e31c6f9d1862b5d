"""Importance scores: a function of (weights at the end of training, state recorded during training, seed).

Higher = more important. Masks are made by a separate step (masks.py), so a score never prunes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ecobench.prune.masks import FLOAT_DTYPES, masks_for_ratio, masks_for_std
from ecobench.prune.trajectory import TrajectorySpec
from ecobench.suite import MagnitudeMethod, MethodConfig, RandomMethod, TrajectoryMethod


@dataclass
class ScoreInputs:
    weights: dict[str, torch.Tensor]  # targeted weights of the dense model (not modified)
    trajectory: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # spec key -> name -> m
    seed: int = 0


@dataclass
class Scores:
    """What the score phase hands the prune phase."""

    rank: dict[str, torch.Tensor]  # the values cut at a quantile (sparsity threshold)
    spread: dict[str, torch.Tensor] | None = None  # std threshold: tensors whose std(|.|) sets t


def _abs(w: torch.Tensor) -> torch.Tensor:
    """|w|. On CPU through numpy: one pass either way, but torch's 2-thread kernels stall on a busy 2-core machine
    (measured 2.5 s vs 0.5 s for 106M weights), while numpy's single thread does not."""
    if w.device.type == "cpu" and w.dtype in FLOAT_DTYPES:
        return torch.from_numpy(np.abs(w.detach().numpy()))
    return w.abs()


def _magnitude(m: MagnitudeMethod, inp: ScoreInputs) -> Scores:
    return Scores({n: _abs(w) for n, w in inp.weights.items()})


def _random(m: RandomMethod, inp: ScoreInputs) -> Scores:
    # one generator per tensor, seeded from (seed, name): the same draw at every ratio, so masks nest
    out = {}
    for n, w in inp.weights.items():
        g = torch.Generator().manual_seed(int(hashlib.sha256(f"{inp.seed}|{n}".encode()).hexdigest()[:15], 16))
        out[n] = torch.rand(w.shape, generator=g)
    return Scores(out)


def _trajectory(m: TrajectoryMethod, inp: ScoreInputs) -> Scores:
    key = TrajectorySpec.of(m).key
    if key not in inp.trajectory:
        raise KeyError(f"no trajectory recorded for {key}; the dense model was trained without it")
    avg = inp.trajectory[key]
    crit = {n: _abs(w) for n, w in inp.weights.items()} if m.criterion == "final" else {n: _abs(a) for n, a in avg.items()}
    return Scores(crit, spread=avg if m.threshold == "std" else None)


SCORERS: dict[str, Callable[..., Scores]] = {
    "magnitude": _magnitude,
    "random": _random,
    "trajectory": _trajectory,
}


def score(method: MethodConfig, inp: ScoreInputs) -> Scores:
    return SCORERS[method.name](method, inp)


def make_masks(scores: Scores, ratio: float | None, scope: str, multiplier: float | None) -> dict[str, torch.Tensor]:
    if scores.spread is not None:
        return masks_for_std(scores.spread, scores.rank, multiplier if multiplier is not None else 0.0)
    return masks_for_ratio(scores.rank, ratio or 0.0, scope)
