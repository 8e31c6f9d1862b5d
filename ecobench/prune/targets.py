"""Which weights a suite prunes: by default every Linear/Conv1D weight inside the transformer blocks.

A tied output head (GPT-2's lm_head is wte; ecobench's Llama ties them too) is refused with `targets.lm_head: true`:
pruning it would zero input-embedding rows under the head's name. `targets.embeddings: true` prunes the shared
tensor, named as the embedding. A tensor reached by several names is pruned once, under its first name.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

from torch import nn

from ecobench.errors import TargetsError

if TYPE_CHECKING:  # the suite schema imports the method registry, which reads the blocks found here
    from ecobench.config.schema import TargetsConfig


def transformer_blocks(model: nn.Module) -> tuple[str, nn.ModuleList] | None:
    """The transformer's stack of blocks: the largest ModuleList (transformer.h, model.layers, ...)."""
    lists = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.ModuleList) and len(m) > 0]
    return max(lists, key=lambda nm: (len(nm[1]), -nm[0].count("."))) if lists else None


def _is_dense_layer(m: nn.Module) -> bool:
    # transformers' GPT-2 uses Conv1D (a Linear with transposed weight); match it by name to avoid importing it
    return isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D"


def tied_head(model: nn.Module) -> tuple[str, str] | None:
    """(head name, embedding name) when the output projection's weight is an input embedding's tensor."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is None:
        return None
    embeddings = {id(m.weight): n for n, m in model.named_modules() if isinstance(m, nn.Embedding)}
    emb = embeddings.get(id(head.weight))
    if emb is None:
        return None
    name = next(n for n, m in model.named_modules(remove_duplicate=False) if m is head)
    return f"{name}.weight", f"{emb}.weight"


def check_targets(model: nn.Module, cfg: TargetsConfig) -> None:
    """Refuse what cannot be pruned as the suite names it (raises TargetsError naming the field)."""
    tied = tied_head(model) if cfg.lm_head else None
    if tied:
        raise TargetsError(
            "prune.targets.lm_head",
            f"this model ties the output head ({tied[0]}) to the input embedding ({tied[1]}), so pruning the head "
            "would zero embedding rows; leave lm_head false (embeddings: true prunes the shared tensor)",
        )


def select_targets(model: nn.Module, cfg: TargetsConfig) -> dict[str, nn.Parameter]:
    """Name -> weight, in model order. A tensor with several names (tied) appears once, under its first name.
    Raises TargetsError for `lm_head: true` on a tied head (see `check_targets`)."""
    check_targets(model, cfg)
    names: list[str] = []
    if cfg.blocks:
        names += _block_weights(model, cfg.parts)
    if cfg.embeddings:
        names += [f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.Embedding)]
    if cfg.lm_head and hasattr(model, "get_output_embeddings") and model.get_output_embeddings() is not None:
        head = model.get_output_embeddings()
        names += [f"{n}.weight" for n, m in model.named_modules() if m is head]
    params = dict(model.named_parameters(remove_duplicate=False))
    if cfg.include:
        names += [n for n in params if any(fnmatch.fnmatchcase(n, pat) for pat in cfg.include)]
    names = [n for n in names if not _excluded(n, cfg)]
    first = {id(p): n for n, p in reversed(list(params.items()))}  # a tied tensor's first name in model order
    out: dict[str, nn.Parameter] = {}
    for n in names:
        p = params.get(n)
        if p is not None and not _excluded(first[id(p)], cfg):  # an alias cannot bring back an excluded tensor
            out.setdefault(first[id(p)], p)
    return out


def model_parts(model: nn.Module) -> dict[str, str]:
    """part -> module name of an image-text model's vision encoder, projector and language model ({}: a text
    model, whose one part is the language model itself)."""
    from ecobench.families import PART_MODULES

    found: dict[str, str] = {}
    for n, _ in model.named_modules():
        last = n.rsplit(".", 1)[-1]
        for part, keys in PART_MODULES.items():
            if last in keys:
                found.setdefault(part, n)
    return found if "vision" in found and "language" in found else {}


def _dense_in(module: nn.Module, prefix: str) -> list[str]:
    return [f"{prefix}.{n}.weight" if n else f"{prefix}.weight" for n, m in module.named_modules() if _is_dense_layer(m)]


def _block_weights(model: nn.Module, parts: list[str] | None) -> list[str]:
    """Linear weights of the transformer blocks of each named part (the projector: its Linear layers), model order."""
    from ecobench.families import DEFAULT_PARTS, PARTS

    found = model_parts(model)
    if not found:
        if parts and set(parts) - {"language"}:
            raise TargetsError("prune.targets.parts", f"{sorted(set(parts) - {'language'})}: a text model has one "
                               "part, language (vision and projector are parts of an image-text model)")
        blocks = transformer_blocks(model)
        return _dense_in(blocks[1], blocks[0]) if blocks else []
    names: list[str] = []
    for part in (p for p in PARTS if p in (parts or DEFAULT_PARTS)):
        if part not in found:
            raise TargetsError("prune.targets.parts", f"this model has no {part} module (it has {sorted(found)})")
        sub = model.get_submodule(found[part])
        if part == "projector":
            names += _dense_in(sub, found[part])
            continue
        blocks = transformer_blocks(sub)
        if blocks:
            names += _dense_in(blocks[1], f"{found[part]}.{blocks[0]}")
    return names


def _excluded(name: str, cfg: TargetsConfig) -> bool:
    return any(fnmatch.fnmatchcase(name, pat) for pat in cfg.exclude or [])


def describe_targets(targets: dict[str, nn.Parameter]) -> str:
    n = sum(p.numel() for p in targets.values())
    kinds = sorted({name.rsplit(".", 2)[-2] for name in targets})
    return f"{len(targets)} tensors, {n:,} weights ({', '.join(kinds)})"
