"""The paper's systematic weight evaluation (Islam, Belhaouari, Bermak 2025): rank weights by a recency-weighted
average of their values over training, recorded with O(1) memory by `prune.trajectory.TrajectoryRecorder`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ecobench.prune.masks import absolute
from ecobench.prune.methods.base import (
    Method,
    MethodOptions,
    ScoreInputs,
    Scores,
    recorded_training_problems,
    register,
)
from ecobench.prune.trajectory import TrajectorySpec


class TrajectoryOptions(MethodOptions):
    name: Literal["trajectory"]
    weighting: Literal["sqrt", "linear", "uniform", "ema"] = "sqrt"  # a_i of checkpoint i
    ema_decay: float = Field(0.9, gt=0, lt=1)  # ema weighting only: a_i = decay^(K - i)
    window: int | None = Field(None, ge=1)  # use only the last `window` checkpoints
    criterion: Literal["final", "averaged"] = "averaged"  # rank/mask by |w_final| or by |m|
    threshold: Literal["sparsity", "std"] = "sparsity"  # cut at the ratio's quantile, or at std(|m|) * r per tensor
    multipliers: list[float] | None = None  # threshold=std only: the values of r, one cell each

    @model_validator(mode="after")
    def _multipliers(self) -> TrajectoryOptions:
        if self.threshold == "std":
            if not self.multipliers:
                raise ValueError("threshold 'std' needs a non-empty `multipliers` list")
            if any(r < 0 for r in self.multipliers):
                raise ValueError("multipliers must be >= 0")
            if len(set(self.multipliers)) != len(self.multipliers):
                raise ValueError("multipliers has duplicates")
            if len({f"{r:g}" for r in self.multipliers}) != len(self.multipliers):  # cells are keyed `std{r:g}`
                raise ValueError("multipliers holds values that print alike to 6 significant digits (the same cell "
                                 f"key): {self.multipliers}")
        elif self.multipliers is not None:
            raise ValueError("`multipliers` is only used with threshold: std")
        return self

    def problems(self, suite: Any) -> list[tuple[str, str]]:
        return recorded_training_problems(self.name, suite)

    def cut_points(self, ratios: list[float], scopes: list[str]) -> list[tuple[str, float | None, float | None]]:
        if self.threshold == "std":  # the paper's per-tensor threshold: neither ratio nor scope applies
            return [("layer", None, r) for r in self.multipliers or []]
        return super().cut_points(ratios, scopes)


def score(m: TrajectoryOptions, inp: ScoreInputs) -> Scores:
    key = TrajectorySpec.of(m).key
    if key not in inp.recorded:
        raise KeyError(f"no trajectory recorded for {key}; the dense model was trained without it")
    avg = inp.recorded[key]
    source = inp.weights if m.criterion == "final" else avg
    return Scores({n: absolute(w) for n, w in source.items()}, spread=avg if m.threshold == "std" else None)


register(Method(
    "trajectory", TrajectoryOptions, score,
    summary="recency-weighted average of each weight over training (the paper's method)",
    needs=frozenset({"weights", "recorded"}),
    record=TrajectorySpec.of,
))
