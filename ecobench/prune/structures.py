"""Pruning structures: how a method's ELEMENT scores (name -> tensor, higher = more important) become what is pruned.

- `unstructured`: the lowest-scoring individual weights, per layer or globally (masks.py).
- `N:M` ("2:4", "4:8"): in each group of M consecutive weights along the input dimension of every output row, the
  N highest scores stay; sparsity is exactly 1 - N/M whatever the ratio.
- `structured`: whole MLP neurons and attention heads are removed and the model is rewritten smaller (shrink.py).

Masks are keep-masks (True = keep) shaped like the weights, as masks.py makes them.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass

import torch
from torch import nn

from ecobench.config.structures import FIELD, NAMES, structure_parts
from ecobench.errors import StructureError
from ecobench.prune.heap import release_free_pages
from ecobench.prune.layout import as_out_in, from_out_in, module_of
from ecobench.prune.masks import masks_for_ratio

__all__ = ["FIELD", "NAMES", "NM", "Structure", "Structured", "Unstructured", "nm_mask", "parse_structure"]


@dataclass(frozen=True)
class Unstructured:
    name = "unstructured"

    def masks(self, model: nn.Module, scores: dict[str, torch.Tensor], ratio: float, scope: str):
        return masks_for_ratio(scores, ratio, scope)


@dataclass(frozen=True)
class NM:
    n: int
    m: int

    @property
    def name(self) -> str:
        return f"{self.n}:{self.m}"

    @property
    def sparsity(self) -> float:
        return 1 - self.n / self.m

    def masks(self, model: nn.Module, scores: MutableMapping[str, torch.Tensor], ratio: float | None = None,
              scope=None, release: bool = False):
        """N:M keep-masks; `ratio` and `scope` do not apply (the pattern fixes the sparsity), and are ignored.
        `release`: drop each score from `scores` once its mask is made (as masks_for_ratio's)."""
        out = {}
        for name in list(scores):
            out[name] = nm_mask(scores.pop(name) if release else scores[name], self.n, self.m, module_of(model, name),
                                name)
            if release:
                release_free_pages()  # as masks_for_ratio's
        return out


@dataclass(frozen=True)
class Structured:
    """Whole MLP neurons (`mlp`) and attention heads (`heads`), removed to leave a smaller dense model."""

    mlp: bool = True
    heads: bool = True
    name = "structured"

    def shrink(self, model: nn.Module, scores: dict[str, torch.Tensor], ratio: float, scope: str):
        from ecobench.prune.shrink import shrink_model

        return shrink_model(model, scores, ratio if self.mlp else 0.0, ratio if self.heads else 0.0, scope)


Structure = Unstructured | NM | Structured


def parse_structure(text: str, mlp: bool = True, heads: bool = True) -> Structure:
    """'unstructured' | 'N:M' with 0 < N < M | 'structured'; anything else is a one-line StructureError."""
    kind, n, m = structure_parts(text)  # the one reader of structure names (config/structures.py)
    if kind == "unstructured":
        return Unstructured()
    if kind == "structured":
        return Structured(mlp=mlp, heads=heads)
    return NM(n, m)


@torch.no_grad()
def nm_mask(score: torch.Tensor, n: int, m: int, module: nn.Module, name: str = "") -> torch.Tensor:
    """Keep the n highest of every m consecutive scores along each output row's inputs; ties keep the earlier input."""
    s = as_out_in(score, module, name)  # (out, in)
    out_f, in_f = s.shape
    if in_f % m:
        raise StructureError(FIELD, f"{name}: input dimension {in_f} is not divisible by M={m} for {n}:{m}")
    groups = s.reshape(out_f, in_f // m, m)  # (out, in/m, m)
    top = torch.sort(groups, dim=-1, descending=True, stable=True).indices[..., :n]
    keep = torch.zeros(groups.shape, dtype=torch.bool, device=s.device)
    keep.scatter_(-1, top, True)
    return from_out_in(keep.reshape(out_f, in_f), module)


def structured_parts(structured, model_type: str | None) -> tuple[bool, bool]:
    """(mlp, heads) that `structured` removes from this model (`structured` a StructuredConfig). `heads` left at its
    default means "where the family can": a GPT-2 cannot be loaded with fewer heads, so there it removes MLP neurons
    only (grid.describe_grid says so); set `heads: true` explicitly and a GPT-2 is refused."""
    heads = structured.heads
    if model_type == "gpt2" and "heads" not in structured.model_fields_set:
        heads = False
    return structured.mlp, heads
