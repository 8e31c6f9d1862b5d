"""Structured pruning: remove whole MLP neurons and attention heads, leaving a physically smaller dense model.

A group's score is the L2 norm of its element scores: for neuron j, the scores of row j of the up projections
(c_fc; gate_proj and up_proj) and of column j of the down projection (mlp.c_proj; down_proj); for a head, the scores
of its q/k/v rows and its o_proj columns. Groups are ranked per layer and the lowest `removed(ratio, n)` go (the nearest
achievable count, ties toward keeping more; the achieved ratio is recorded); ties in score keep
the earlier index. Every layer keeps the same count, because a transformers config has one intermediate_size and one
num_attention_heads for all layers: that is also why `global` scope is refused (layers of different widths would not
load with from_pretrained).

The rewritten model carries an updated config (GPT-2: n_inner; Llama: intermediate_size, num_attention_heads,
num_key_value_heads and an explicit head_dim), so save_pretrained + AutoModelForCausalLM.from_pretrained loads it with
no ecobench code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ecobench.errors import StructureError
from ecobench.prune.layout import as_out_in, keep_inputs, keep_outputs


@dataclass(frozen=True)
class _Family:
    blocks: str  # the ModuleList of transformer blocks
    mlp_in: tuple[str, ...]  # projections whose output rows are the neurons
    mlp_out: str  # projection whose input columns are the neurons
    inner: str  # config field holding the MLP width


_FAMILIES = {
    "gpt2": _Family("transformer.h", ("mlp.c_fc",), "mlp.c_proj", "n_inner"),
    "llama": _Family("model.layers", ("mlp.gate_proj", "mlp.up_proj"), "mlp.down_proj", "intermediate_size"),
}


@dataclass(frozen=True)
class LayerKept:
    """What one block kept: counts (for a per-layer figure) and the kept indices into the original model."""

    layer: int
    neurons_kept: int
    neurons_total: int
    heads_kept: int  # query heads
    heads_total: int
    kept_neurons: tuple[int, ...]
    kept_heads: tuple[int, ...]


@dataclass(frozen=True)
class ShrinkReport:
    family: str
    layers: tuple[LayerKept, ...]
    params_before: int
    params_after: int
    sparsity_exploited: str = "smaller-dense"


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def _sizes(config) -> tuple[int, int, int]:
    """(MLP width, query heads, key/value heads) from a gpt2 or llama config."""
    if config.model_type == "gpt2":
        inner = config.n_inner if config.n_inner is not None else 4 * config.n_embd
        return inner, config.n_head, config.n_head
    return config.intermediate_size, config.num_attention_heads, config.num_key_value_heads


def check_structured(config, mlp_ratio: float, head_ratio: float, scope: str) -> tuple[int, int]:
    """Refuse what cannot become a loadable smaller model, before any work; return (neurons, KV groups) to keep."""
    family = getattr(config, "model_type", None)
    if family not in _FAMILIES:
        raise StructureError("prune.structures", f"structured pruning supports gpt2 and llama models, not {family}")
    if scope != "layer" and (mlp_ratio or head_ratio):
        raise StructureError(
            "prune.scope", "global cannot be used with structured: a transformers config holds one MLP width and "
            "one head count for all layers, so per-layer sizes would not load; use scope: layer"
        )
    if family == "gpt2" and head_ratio:
        raise StructureError(
            "prune.structured.heads", "a GPT-2 with fewer heads cannot be loaded by transformers 5 (head_dim is "
            "n_embd / n_head and there is no pruned_heads); prune MLP neurons only (heads: false) or use llama"
        )
    inner, n_heads, n_kv = _sizes(config)
    for what, ratio, n, unit in (("MLP neurons", mlp_ratio, inner, "neuron"), ("heads", head_ratio, n_kv, "group")):
        if not 0 <= ratio < 1:
            raise StructureError("prune.ratio", f"{ratio} is not in [0, 1)")
        if n - removed(ratio, n) < 1:
            hint = " (whole key/value groups of heads are pruned)" if what == "heads" and n_kv < n_heads else ""
            raise StructureError(
                "prune.ratio", f"{ratio} leaves a layer with zero {what}: {n} per layer, every {unit} pruned{hint}"
            )
    return inner - removed(mlp_ratio, inner), n_kv - removed(head_ratio, n_kv)


def removed(ratio: float, n: int) -> int:
    """How many of `n` groups a ratio removes: the nearest achievable count, ties toward keeping more (6 query / 3
    KV heads at 0.5: 1 of 3 groups, 33%, not 2 of 3 = 67% as round-half-to-even gave). The achieved ratio is
    recorded with the cell (apply.structured_metrics)."""
    return max(0, math.ceil(ratio * n - 0.5 - 1e-9))


def _row_col_energy(scores, block_prefix: str, block: nn.Module, rows: tuple[str, ...], cols: tuple[str, ...]):
    """Sum of squared scores per output row of `rows` modules plus per input column of `cols` modules; None if no
    tensor of the group is scored."""
    total = None
    for sub, dim in [(r, 1) for r in rows] + [(c, 0) for c in cols]:
        s = scores.get(f"{block_prefix}.{sub}.weight")
        if s is None:
            continue
        e = as_out_in(s, block.get_submodule(sub), sub).double().pow(2).sum(dim)
        total = e if total is None else total + e
    return total


def _top(group_energy: torch.Tensor, keep: int) -> torch.Tensor:
    """Indices of the `keep` highest group scores, ascending; ties keep the earlier index."""
    order = torch.sort(group_energy.sqrt(), descending=True, stable=True).indices[:keep]
    return order.sort().values.cpu()


def _swap(block: nn.Module, sub: str, new: nn.Module) -> None:
    parent, _, leaf = sub.rpartition(".")
    setattr(block.get_submodule(parent) if parent else block, leaf, new)


def _need(energy, i: int, what: str, names) -> torch.Tensor:
    if energy is None:
        raise StructureError(
            "prune.targets", f"layer {i}: none of {', '.join(names)} is targeted, so its {what} cannot be ranked"
        )
    return energy


def _plan(scores, prefix: str, i: int, block: nn.Module, fam: _Family, keep_neurons: int, keep_groups: int,
          inner: int, n_kv: int, rep: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(kept neuron indices, kept key/value group indices) of one block; None where that part is not pruned."""
    neurons = groups = None
    if keep_neurons:
        e = _row_col_energy(scores, prefix, block, fam.mlp_in, (fam.mlp_out,))
        neurons = _top(_need(e, i, "MLP neurons", (*fam.mlp_in, fam.mlp_out)), keep_neurons)
    if keep_groups:
        hd = block.self_attn.head_dim
        names = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")
        q = _row_col_energy(scores, prefix, block, ("self_attn.q_proj",), ("self_attn.o_proj",))
        kv = _row_col_energy(scores, prefix, block, ("self_attn.k_proj", "self_attn.v_proj"), ())
        parts = [x for x in (None if q is None else q.reshape(n_kv, rep * hd).sum(1),
                             None if kv is None else kv.reshape(n_kv, hd).sum(1)) if x is not None]
        groups = _top(_need(sum(parts) if parts else None, i, "heads", names), keep_groups)
    return neurons, groups


@torch.no_grad()
def shrink_model(
    model: nn.Module, scores: dict[str, torch.Tensor], mlp_ratio: float, head_ratio: float, scope: str = "layer"
) -> ShrinkReport:
    """Rewrite `model` in place without its lowest-scoring MLP neurons and heads; return what each layer kept."""
    config = model.config
    keep_neurons, keep_groups = check_structured(config, mlp_ratio, head_ratio, scope)
    fam = _FAMILIES[config.model_type]
    inner, n_heads, n_kv = _sizes(config)
    rep = n_heads // n_kv
    before = _count(model)
    blocks = model.get_submodule(fam.blocks)
    # rank every layer first, so that a layer without scores refuses before any layer is rewritten
    plans = [_plan(scores, f"{fam.blocks}.{i}", i, block, fam, mlp_ratio and keep_neurons,
                   head_ratio and keep_groups, inner, n_kv, rep) for i, block in enumerate(blocks)]
    kept: list[LayerKept] = []
    for i, (block, (neurons, groups)) in enumerate(zip(blocks, plans)):
        if neurons is not None:
            for sub in fam.mlp_in:
                _swap(block, sub, keep_outputs(block.get_submodule(sub), neurons))
            _swap(block, fam.mlp_out, keep_inputs(block.get_submodule(fam.mlp_out), neurons))
            if hasattr(block.mlp, "intermediate_size"):
                block.mlp.intermediate_size = keep_neurons
        heads = torch.arange(n_heads, device="cpu")
        if groups is not None:  # llama only (check_structured refused GPT-2): whole key/value groups
            attn = block.self_attn
            hd = attn.head_dim
            heads = (groups[:, None] * rep + torch.arange(rep, device="cpu")).reshape(-1)  # query heads of the kept groups
            q_rows = (heads[:, None] * hd + torch.arange(hd, device="cpu")).reshape(-1)
            kv_rows = (groups[:, None] * hd + torch.arange(hd, device="cpu")).reshape(-1)
            attn.q_proj = keep_outputs(attn.q_proj, q_rows)
            attn.k_proj = keep_outputs(attn.k_proj, kv_rows)
            attn.v_proj = keep_outputs(attn.v_proj, kv_rows)
            attn.o_proj = keep_inputs(attn.o_proj, q_rows)
        neurons = torch.arange(inner, device="cpu") if neurons is None else neurons
        kept.append(LayerKept(i, len(neurons), inner, len(heads), n_heads, tuple(neurons.tolist()),
                              tuple(heads.tolist())))
    if mlp_ratio:
        setattr(config, fam.inner, keep_neurons)
    if head_ratio:
        config.head_dim = blocks[0].self_attn.head_dim  # fixed explicitly: it no longer equals hidden / heads
        config.num_attention_heads = keep_groups * rep
        config.num_key_value_heads = keep_groups
    return ShrinkReport(config.model_type, tuple(kept), before, _count(model))
