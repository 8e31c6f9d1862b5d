"""The paper's systematic weight evaluation: a recency-weighted average of each weight over training.

m = sum_i a_i w_i / sum_i a_i over checkpoints i = 1..K (Islam, Belhaouari, Bermak 2025). Their code keeps every
checkpoint (K x params); we keep one running sum per weight. A `window` of the last K checkpoints stays O(1) because
the checkpoint schedule is fixed before training starts: we simply start summing at checkpoint n - K + 1, and every
weighting (ema too) is a known function of the checkpoint's index within the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class TrajectorySpec:
    """What the running sum depends on; methods sharing it share one accumulator."""

    weighting: str  # sqrt | linear | uniform | ema
    window: int | None  # last K checkpoints, or all
    ema_decay: float  # used by ema only

    @classmethod
    def of(cls, m) -> TrajectorySpec:
        """From a trajectory method's options (weighting, window, ema_decay)."""
        return cls(m.weighting, m.window, m.ema_decay if m.weighting == "ema" else 0.0)

    @classmethod
    def recorder(cls, targets: dict[str, nn.Parameter], specs: list[TrajectorySpec], steps: int,
                 record_every: int) -> TrajectoryRecorder:
        """One recorder for every trajectory spec of a suite (they share the checkpoint schedule)."""
        return TrajectoryRecorder(targets, specs, steps, record_every)

    @property
    def key(self) -> str:
        w = f"w{self.window}" if self.window else "all"
        d = f"-d{self.ema_decay:g}" if self.weighting == "ema" else ""
        return f"{self.weighting}{d}-{w}"

    def coefficient(self, j: int, k: int) -> float:
        """a_j for checkpoint j = 1..k of the k checkpoints used."""
        if self.weighting == "sqrt":
            return math.sqrt(j)
        if self.weighting == "linear":
            return float(j)
        if self.weighting == "uniform":
            return 1.0
        return self.ema_decay ** (k - j)


def checkpoint_steps(steps: int, record_every: int) -> list[int]:
    """Steps (after the optimizer step) at which weights are recorded; the last step always counts."""
    out = list(range(record_every, steps + 1, record_every))
    if not out or out[-1] != steps:
        out.append(steps)
    return out


def average_from_snapshots(snapshots: list[torch.Tensor], spec: TrajectorySpec) -> torch.Tensor:
    """The formula over stored checkpoints, as the paper's code computes it (the reference for tests)."""
    used = snapshots[-spec.window :] if spec.window else snapshots
    k = len(used)
    a = [spec.coefficient(j, k) for j in range(1, k + 1)]
    return sum(ai * w.double() for ai, w in zip(a, used)) / sum(a)


class TrajectoryRecorder:
    """Training hook: at each checkpoint, add a_j * w to one float32 accumulator per target weight and spec."""

    def __init__(self, targets: dict[str, nn.Parameter], specs: list[TrajectorySpec], steps: int, record_every: int):
        self.targets = targets
        self.specs = list(dict.fromkeys(specs))
        self.schedule = checkpoint_steps(steps, record_every)
        self._index = {s: i + 1 for i, s in enumerate(self.schedule)}  # step -> checkpoint number 1..n
        self.sums: dict[TrajectorySpec, dict[str, torch.Tensor]] = {
            s: {n: torch.zeros_like(p, dtype=torch.float32) for n, p in targets.items()} for s in self.specs
        }
        self.weight_total: dict[TrajectorySpec, float] = {s: 0.0 for s in self.specs}
        self._finished = False  # the last checkpoint is in: state_tensors() may turn the sums into averages in place

    def _used(self, spec: TrajectorySpec) -> int:
        return min(spec.window or len(self.schedule), len(self.schedule))

    @torch.no_grad()
    def on_step(self, step: int, model: nn.Module) -> None:
        i = self._index.get(step)
        if i is None:
            return
        n = len(self.schedule)
        for spec in self.specs:
            k = self._used(spec)
            j = i - (n - k)  # index within the window, 1..k
            if j < 1:
                continue
            a = spec.coefficient(j, k)
            for name, p in self.targets.items():
                self.sums[spec][name].add_(p.detach(), alpha=a)
            self.weight_total[spec] += a
        self._finished = i == n

    def averages(self, spec: TrajectorySpec) -> dict[str, torch.Tensor]:
        total = self.weight_total[spec]
        if total <= 0:
            raise RuntimeError(f"trajectory {spec.key}: no checkpoint was recorded")
        return {n: s / total for n, s in self.sums[spec].items()}

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The averages, keyed `<spec>/<weight name>`, for the safetensors file beside the dense checkpoint.

        Once the last checkpoint is recorded, the sums are divided in place (the same values as averages(), which
        keeps working: its total becomes 1), so saving needs no second copy of the targeted weights."""
        if not self._finished:
            return {f"{spec.key}/{n}": t.contiguous() for spec in self.specs for n, t in self.averages(spec).items()}
        for spec in self.specs:
            total = self.weight_total[spec]
            if total <= 0:
                raise RuntimeError(f"trajectory {spec.key}: no checkpoint was recorded")
            if total != 1.0:
                for s in self.sums[spec].values():
                    s.div_(total)
                self.weight_total[spec] = 1.0
        return {f"{spec.key}/{n}": s.contiguous() for spec in self.specs for n, s in self.sums[spec].items()}

    def extra_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for d in self.sums.values() for t in d.values())
