"""Calibration data for methods that read activations or gradients (wanda, sparsegpt, taylor).

Windows of `data.context` tokens are drawn from the training split without overlap, in an order fixed by
CALIBRATION_SEED, so every cell, seed and method sees the same tokens; the validation split is never read.
Activations are collected with forward hooks on the modules that own the targeted weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
from torch import nn

from ecobench.prune.layout import is_conv1d, module_of

if TYPE_CHECKING:  # the suite schema imports the method registry, which imports this module
    from ecobench.config.schema import CalibrationConfig
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


def tokens_of(batches: list[Batch]) -> int:
    return sum(x.numel() for x, _ in batches)


def _inputs_2d(module: nn.Module, args: tuple) -> torch.Tensor:
    """The module's input as (tokens, in_features), whatever its layout (Linear and Conv1D both read x[..., in])."""
    x = args[0]
    return x.reshape(-1, x.shape[-1])


@contextmanager
def input_hooks(model: nn.Module, names: list[str], fn: Callable[[str, torch.Tensor], None]) -> Iterator[None]:
    """While open, every forward of the module owning weight `name` calls fn(name, input as (tokens, in))."""
    handles = []
    for name in names:
        mod = module_of(model, name)
        handles.append(mod.register_forward_pre_hook(lambda m, args, n=name: fn(n, _inputs_2d(m, args))))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()  # not inference_mode: its tensors could not be used by a later recovery phase
def input_norms(model: nn.Module, names: list[str], batches: list[Batch]) -> dict[str, torch.Tensor]:
    """name -> ||X_j||_2 over every calibration token, per input feature j of the module owning weight `name`
    (shape (in,)), from the dense model's own activations in one pass."""
    sq: dict[str, torch.Tensor] = {}

    def add(name: str, x: torch.Tensor) -> None:
        s = x.float().pow(2).sum(0)  # (in,)
        if name in sq:
            sq[name] += s
        else:
            sq[name] = s

    model.eval()
    body = trunk(model, names)
    with input_hooks(model, names, add):
        for x, _ in batches:
            body(input_ids=x, use_cache=False)
    return {n: s.sqrt() for n, s in sq.items()}


def trunk(model: nn.Module, names: list[str]) -> nn.Module:
    """The model without its LM head when no named weight is in the head: a calibration pass then never makes the
    (batch, context, vocabulary) logits, which for a 49k vocabulary outweigh every activation the hooks read."""
    base = getattr(model, "base_model", model)
    prefix = getattr(model, "base_model_prefix", "")
    if base is model or not prefix or not all(n.startswith(f"{prefix}.") for n in names):
        return model
    return base


def in_dim(model: nn.Module, name: str) -> int:
    """The axis of weight `name` that indexes input features (1 for Linear, 0 for GPT-2's Conv1D)."""
    return 0 if is_conv1d(module_of(model, name)) else 1
