"""Movement pruning (Sanh, Wolf, Rush 2020): S = -sum_t w_t * g_t over training, so a weight moving away from zero
scores high and one pulled towards zero scores low, whatever its final size.

Recorded online during dense training by `MovementRecorder`: one float32 accumulator per targeted weight (O(1) in
the number of steps), the same recorder protocol as the trajectory method. g_t is the gradient the optimizer used at
step t (after clipping) and w_t the weight that step produced; no stored history of either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from ecobench.prune.methods.base import (
    Method,
    MethodOptions,
    ScoreInputs,
    Scores,
    recorded_training_problems,
    register,
)


class MovementOptions(MethodOptions):
    name: Literal["movement"]

    def problems(self, suite: Any) -> list[tuple[str, str]]:
        return recorded_training_problems(self.name, suite)


@dataclass(frozen=True)
class MovementSpec:
    """Movement has no options, so every movement method shares one accumulator."""

    @property
    def key(self) -> str:
        return "movement"

    @classmethod
    def of(cls, m: MovementOptions) -> MovementSpec:
        return cls()

    @classmethod
    def recorder(cls, targets: dict[str, nn.Parameter], specs: list[MovementSpec], steps: int,
                 record_every: int) -> MovementRecorder:
        return MovementRecorder(targets, steps)


class MovementRecorder:
    """Training hook: after every optimizer step, acc -= w * grad (in place, no temporary)."""

    def __init__(self, targets: dict[str, nn.Parameter], steps: int):
        self.targets = targets
        self.schedule = list(range(1, steps + 1))  # every step counts
        self.acc = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in targets.items()}

    @torch.no_grad()
    def on_step(self, step: int, model: nn.Module) -> None:
        for n, p in self.targets.items():
            if p.grad is not None:
                self.acc[n].addcmul_(p.detach(), p.grad, value=-1.0)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {f"{MovementSpec().key}/{n}": t.contiguous() for n, t in self.acc.items()}

    def extra_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.acc.values())


def score(m: MovementOptions, inp: ScoreInputs) -> Scores:
    key = MovementSpec().key
    if key not in inp.recorded:
        raise KeyError(f"no movement recorded for {key}; the dense model was trained without it")
    return Scores(dict(inp.recorded[key]))


register(Method(
    "movement", MovementOptions, score,
    summary="-sum over training steps of w x dL/dw, recorded online (movement pruning)",
    needs=frozenset({"weights", "recorded"}),
    record=MovementSpec.of,
))
