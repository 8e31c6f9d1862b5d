"""Which weights a suite prunes: by default every Linear/Conv1D weight inside the transformer blocks."""

from __future__ import annotations

import fnmatch

from torch import nn

from ecobench.config.schema import TargetsConfig


def _blocks(model: nn.Module) -> tuple[str, nn.ModuleList] | None:
    """The transformer's stack of blocks: the largest ModuleList (transformer.h, model.layers, ...)."""
    lists = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.ModuleList) and len(m) > 0]
    return max(lists, key=lambda nm: (len(nm[1]), -nm[0].count("."))) if lists else None


def _is_dense_layer(m: nn.Module) -> bool:
    # transformers' GPT-2 uses Conv1D (a Linear with transposed weight); match it by name to avoid importing it
    return isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D"


def select_targets(model: nn.Module, cfg: TargetsConfig) -> dict[str, nn.Parameter]:
    """Name -> weight, in model order. Tied tensors appear once, under their first name."""
    names: list[str] = []
    if cfg.blocks:
        found = _blocks(model)
        if found:
            prefix, blocks = found
            for n, m in blocks.named_modules():
                if _is_dense_layer(m):
                    names.append(f"{prefix}.{n}.weight")
    if cfg.embeddings:
        names += [f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.Embedding)]
    if cfg.lm_head and hasattr(model, "get_output_embeddings") and model.get_output_embeddings() is not None:
        head = model.get_output_embeddings()
        names += [f"{n}.weight" for n, m in model.named_modules() if m is head]
    params = dict(model.named_parameters(remove_duplicate=False))
    if cfg.include:
        names += [n for n in params if any(fnmatch.fnmatchcase(n, pat) for pat in cfg.include)]
    if cfg.exclude:
        names = [n for n in names if not any(fnmatch.fnmatchcase(n, pat) for pat in cfg.exclude)]
    out: dict[str, nn.Parameter] = {}
    seen: set[int] = set()
    for n in dict.fromkeys(names):
        p = params.get(n)
        if p is not None and id(p) not in seen:
            seen.add(id(p))
            out[n] = p
    return out


def describe_targets(targets: dict[str, nn.Parameter]) -> str:
    n = sum(p.numel() for p in targets.values())
    kinds = sorted({name.rsplit(".", 2)[-2] for name in targets})
    return f"{len(targets)} tensors, {n:,} weights ({', '.join(kinds)})"
