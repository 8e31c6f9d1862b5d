"""The prune phase of a cell under its structure, and how its evaluation runs.

A method's element scores become keep-masks (unstructured: its ratio or std cut; N:M: the N best of every M inputs)
that recovery then holds, or a physically smaller dense model (structured: shrink.py) that recovery simply trains.
`sparse_execution` then swaps a masked model's targeted layers for sparse kernels where the machine has one, and
says once per run where it has none.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch
from torch import nn

from ecobench.config.schema import PruneConfig
from ecobench.prune.execution import use_sparse_kernels
from ecobench.prune.masks import apply_masks, make_masks
from ecobench.prune.methods import Scores
from ecobench.prune.shrink import ShrinkReport
from ecobench.prune.structures import NM, parse_structure, structured_parts
from ecobench.sweep import UNSTRUCTURED, Cell

_SAID: set[str] = set()  # notices already printed by this process (one run)


@dataclass
class Pruned:
    """What the prune phase left: masks to hold (None for a smaller model) and, for structured, what each layer kept."""

    masks: dict[str, torch.Tensor] | None
    shrink: ShrinkReport | None = None
    sizes_before: dict[str, int] | None = None  # structured: weights per targeted tensor before the rewrite

    @property
    def sparsity_exploited(self) -> str:
        """How the kernels that run profit from the pruning, before any sparse-kernel swap: a smaller dense model or
        nothing (zeros in dense kernels)."""
        return self.shrink.sparsity_exploited if self.shrink is not None else "no"


def _model_type(model: nn.Module) -> str | None:
    return getattr(getattr(model, "config", None), "model_type", None)


def prune_structure(model: nn.Module, targets: dict[str, nn.Parameter], scores: Scores, cell: Cell,
                    prune: PruneConfig) -> Pruned:
    """Apply the cell's structure to `model` in place (structured: modules are replaced; select targets again)."""
    if cell.structure == UNSTRUCTURED:
        # the cell drops its scores after this phase: free each as soon as its mask is made
        masks = make_masks(scores, cell.ratio, cell.scope, cell.multiplier, seed=cell.seed, release=True)
        apply_masks(targets, masks)
        return Pruned(masks)
    st = parse_structure(cell.structure, *structured_parts(prune.structured, _model_type(model)))
    if isinstance(st, NM):  # the method's element scores, aggregated as the N best of every M (ratio fixed by N:M)
        masks = st.masks(model, scores.rank, release=True)
        apply_masks(targets, masks)
        return Pruned(masks)
    sizes = {n: p.numel() for n, p in targets.items()}
    report = st.shrink(model, scores.rank, cell.ratio or 0.0, "layer")
    return Pruned(None, report, sizes)


def structured_metrics(pruned: Pruned, targets: dict[str, nn.Parameter]) -> dict:
    """A smaller model's sparsity as the fraction of targeted weights removed (overall and per tensor), and the
    neurons and heads each layer kept."""
    before = pruned.sizes_before or {}
    after = {n: targets[n].numel() if n in targets else 0 for n in before}
    removed, total = sum(before.values()) - sum(after.values()), sum(before.values())
    layers = pruned.shrink.layers

    def achieved(kept: str, of: str) -> float | None:  # the ratio rounding to whole neurons / head groups reached
        totals = sum(getattr(k, of) or 0 for k in layers)
        return 1 - sum(getattr(k, kept) or 0 for k in layers) / totals if totals else None

    return {
        "mlp_ratio_achieved": achieved("neurons_kept", "neurons_total"),
        "head_ratio_achieved": achieved("heads_kept", "heads_total"),
        "sparsity": removed / total if total else 0.0,
        "pruned_weights": removed,
        "targeted_weights": total,
        "layer_sparsity": {n: 1 - after[n] / before[n] for n in before if before[n]},
        "layer_kept": [{"layer": k.layer, "neurons_kept": k.neurons_kept, "neurons_total": k.neurons_total,
                        "heads_kept": k.heads_kept, "heads_total": k.heads_total} for k in pruned.shrink.layers],
    }


def sparse_execution(model: nn.Module, names: list[str], say=None) -> tuple[str, str | None]:
    """Run the masked weights `names` through sparse kernels where they exist; return the sparsity_exploited value
    and the 2:4 library that runs (cusparselt, cutlass; None without 2:4). Where some layer has none, say so once per
    run (through `say`, default stderr)."""
    ex = use_sparse_kernels(model, names)
    notice = ex.notice()
    if notice and notice not in _SAID:
        _SAID.add(notice)
        (say or (lambda line: print(line, file=sys.stderr)))(notice)
    return ex.summary(), ex.backend()
