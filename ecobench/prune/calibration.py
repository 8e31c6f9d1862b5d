"""Calibration batches for methods that read activations or gradients (wanda, sparsegpt, taylor).

The batches are drawn by ecobench/data/calibration.py (pruning receives them; it never reads the data objects).
Activations are collected with forward hooks on the modules that own the targeted weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ecobench.prune.layout import is_conv1d, module_of

Batch = tuple[torch.Tensor, torch.Tensor]  # (x, y): (B, T) token ids and their next tokens


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
