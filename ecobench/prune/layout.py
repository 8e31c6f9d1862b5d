"""Weight orientation, in one place: every row- or column-wise rule (N:M groups, neuron and head slices, sparse
kernels) sees a weight as (out_features, in_features), whatever module holds it.

transformers' GPT-2 `Conv1D` computes x @ W + b with W of shape (in, out); `nn.Linear` computes x @ W.T + b with W of
shape (out, in); an `nn.Embedding` (num, dim) is laid out like the Linear lm_head it is often tied to.
"""

from __future__ import annotations

import torch
from torch import nn

from ecobench.errors import StructureError


def is_conv1d(module: nn.Module) -> bool:
    # matched by name, as targets.py does, to avoid importing transformers here
    return type(module).__name__ == "Conv1D"


def _check(weight: torch.Tensor, module: nn.Module, name: str) -> None:
    if weight.dim() != 2 or not isinstance(module, (nn.Linear, nn.Embedding)) and not is_conv1d(module):
        raise StructureError(
            "prune.targets", f"{name or type(module).__name__}: a 2-D Linear/Conv1D/Embedding weight is needed for a "
            f"row-wise structure, got {type(module).__name__} of shape {tuple(weight.shape)}"
        )


def as_out_in(weight: torch.Tensor, module: nn.Module, name: str = "") -> torch.Tensor:
    """A view of `weight` (or of a tensor shaped like it: scores, masks) as (out, in)."""
    _check(weight, module, name)
    return weight.t() if is_conv1d(module) else weight


def from_out_in(t: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """The inverse of as_out_in: an (out, in) tensor back in the module's own layout, contiguous."""
    return (t.t() if is_conv1d(module) else t).contiguous()


def out_in_features(module: nn.Module) -> tuple[int, int]:
    w = module.weight
    out, inp = as_out_in(w, module).shape
    return int(out), int(inp)


def module_of(model: nn.Module, param_name: str) -> nn.Module:
    """The module that owns `param_name` ("transformer.h.0.mlp.c_fc.weight" -> that Conv1D)."""
    return model.get_submodule(param_name.rsplit(".", 1)[0])


def _new_like(module: nn.Module, out_f: int, in_f: int) -> nn.Module:
    w = module.weight
    with torch.device(w.device):  # made where the model is (its weights are overwritten next)
        if is_conv1d(module):
            new = type(module)(out_f, in_f)  # Conv1D(nf=out, nx=in)
        else:
            new = nn.Linear(in_f, out_f, bias=module.bias is not None)
    return new.to(dtype=w.dtype)


@torch.no_grad()
def keep_outputs(module: nn.Module, idx: torch.Tensor) -> nn.Module:
    """A new module of the same kind computing only the outputs `idx` (rows of the (out, in) view) of `module`."""
    out_f, in_f = out_in_features(module)
    new = _new_like(module, len(idx), in_f)
    idx = idx.to(module.weight.device)
    new.weight.copy_(from_out_in(as_out_in(module.weight, module).index_select(0, idx), module))
    if module.bias is not None:
        new.bias.copy_(module.bias.index_select(0, idx))
    new.requires_grad_(module.weight.requires_grad)
    return new


@torch.no_grad()
def keep_inputs(module: nn.Module, idx: torch.Tensor) -> nn.Module:
    """A new module of the same kind reading only the inputs `idx` (columns of the (out, in) view); bias unchanged."""
    out_f, in_f = out_in_features(module)
    new = _new_like(module, out_f, len(idx))
    idx = idx.to(module.weight.device)
    new.weight.copy_(from_out_in(as_out_in(module.weight, module).index_select(1, idx), module))
    if module.bias is not None:
        new.bias.copy_(module.bias)
    new.requires_grad_(module.weight.requires_grad)
    return new
