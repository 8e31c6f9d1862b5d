"""Calibration data for methods that read activations or gradients (wanda, sparsegpt, taylor).

Windows of `data.context` tokens are drawn from the training split without overlap, in an order fixed by
CALIBRATION_SEED, so every cell, seed and method sees the same tokens; the validation split is never read.
Pruning receives the batches drawn here (ecobench/prune/calibration.py reads them); it never reads the data object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ecobench.config.schema import CalibrationConfig

if TYPE_CHECKING:
    from ecobench.data.dataset import TokenData

CALIBRATION_SEED = 20_240_601  # fixed: the calibration set is a property of the suite, not of a cell's seed

Batch = tuple[torch.Tensor, torch.Tensor]  # (x, y): (B, T) token ids and their next tokens


def calibration_windows(data: TokenData) -> int:
    """How many non-overlapping windows (with their next-token targets) the training split holds."""
    return (len(data.train) - 1) // data.context


def calibration_problem(data: TokenData, cfg: CalibrationConfig) -> str | None:
    """Why the training split cannot serve `cfg` (one line), or None."""
    want, have = cfg.batches * cfg.batch_size, calibration_windows(data)
    if want > have:
        return (f"{cfg.batches} x {cfg.batch_size} windows of {data.context} tokens ({want * data.context:,} tokens) "
                f"is more than the training split holds ({have} windows, {len(data.train):,} tokens)")
    return None


def draw_calibration(data: TokenData, cfg: CalibrationConfig) -> list[Batch]:
    """`cfg.batches` batches of `cfg.batch_size` distinct training windows, the same on every call."""
    problem = calibration_problem(data, cfg)
    if problem:
        raise ValueError(problem)
    gen = torch.Generator().manual_seed(CALIBRATION_SEED)
    starts = torch.randperm(calibration_windows(data), generator=gen, device="cpu")[: cfg.batches * cfg.batch_size] * data.context
    out = []
    for b in range(cfg.batches):
        idx = starts[b * cfg.batch_size : (b + 1) * cfg.batch_size].tolist()
        x = torch.stack([data.train[i : i + data.context] for i in idx])  # (B, T)
        y = torch.stack([data.train[i + 1 : i + 1 + data.context] for i in idx])  # (B, T)
        out.append((x, y))
    return out

