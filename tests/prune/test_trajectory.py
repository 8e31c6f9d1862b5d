"""The online trajectory average equals the paper's formula over stored snapshots, for every weighting."""

from __future__ import annotations

import pytest
import torch

from ecobench.prune.trajectory import (
    TrajectoryRecorder,
    TrajectorySpec,
    average_from_snapshots,
    checkpoint_steps,
)

SPECS = [
    TrajectorySpec(w, window, 0.8 if w == "ema" else 0.0)
    for w in ("sqrt", "linear", "uniform", "ema")
    for window in (None, 3)
]


def test_checkpoint_schedule_always_ends_at_the_last_step() -> None:
    assert checkpoint_steps(100, 25) == [25, 50, 75, 100]
    assert checkpoint_steps(90, 25) == [25, 50, 75, 90]
    assert checkpoint_steps(0, 25) == [0]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.key)
def test_online_average_matches_snapshot_formula(spec: TrajectorySpec) -> None:
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(7, 5))
    model = torch.nn.Module()
    steps, every = 23, 4  # checkpoints at 4, 8, ..., 20, 23: six of them
    rec = TrajectoryRecorder({"w": w}, [spec], steps, every)
    snapshots = []
    for step in range(1, steps + 1):
        with torch.no_grad():
            w.add_(torch.randn_like(w) * 0.3)  # a random walk stands in for training
        rec.on_step(step, model)
        if step in rec.schedule:
            snapshots.append(w.detach().clone())
    assert len(snapshots) == 6
    expected = average_from_snapshots(snapshots, spec)
    got = rec.averages(spec)["w"]
    torch.testing.assert_close(got.double(), expected, atol=1e-6, rtol=0)
    # the paper's definition, written out for sqrt over all checkpoints
    if spec.weighting == "sqrt" and spec.window is None:
        a = torch.arange(1, 7, dtype=torch.float64).sqrt()
        manual = sum(ai * s.double() for ai, s in zip(a, snapshots)) / a.sum()
        torch.testing.assert_close(got.double(), manual, atol=1e-6, rtol=0)


def test_recorder_memory_is_one_accumulator_per_spec() -> None:
    w = torch.nn.Parameter(torch.zeros(100, 10))
    rec = TrajectoryRecorder({"w": w}, [SPECS[0], SPECS[0]], steps=1000, record_every=1)
    assert rec.extra_bytes() == w.numel() * 4


def test_saved_state_equals_the_averages_and_they_survive_saving() -> None:
    torch.manual_seed(1)
    w = torch.nn.Parameter(torch.randn(4, 3))
    spec = SPECS[0]
    rec = TrajectoryRecorder({"w": w}, [spec], steps=6, record_every=2)
    for step in range(1, 7):
        with torch.no_grad():
            w.add_(1.0)
        rec.on_step(step, torch.nn.Module())
    before = rec.averages(spec)["w"].clone()
    saved = rec.state_tensors()[f"{spec.key}/w"]
    torch.testing.assert_close(saved, before, atol=1e-6, rtol=0)
    torch.testing.assert_close(rec.averages(spec)["w"], before, atol=1e-6, rtol=0)
