"""SparseGPT (Frantar, Alistarh 2023): prune each layer by Optimal Brain Surgeon on the Hessian H = 2/N X X^T of its
calibration inputs, updating the kept weights so the layer's output changes least.

As the reference implementation (IST-DASLab/sparsegpt, `fasterprune`): columns in blocks of 128; in each block the
weights with the lowest w^2 / [H^-1]_jj^2 are pruned (an exact count per block here, ratio x block size); dampening
adds 1% of the mean diagonal to H; the error of each pruned column is spread over the columns after it through the
upper Cholesky factor of H^-1. Blocks are processed in order: the calibration inputs of block i are the outputs of
the already pruned blocks before it, and only block i's Hessians are held at a time.

N:M (`prune.structures: ["2:4"]`) as the reference's `prunen`/`prunem`: at the first column of every group of M
inputs, the M - N weights of each row with the lowest saliency (of the weights as already updated by the columns
before) are pruned, so every group of M keeps exactly N. `structured` (whole neurons and heads) is refused: the
reference has no such variant, and there is no one score per weight for shrink.py to aggregate.
Scope: `layer` only. The weights a layer keeps depend on how its earlier columns were rewritten, so there is no
one score per weight to cut across layers; with `scope: [layer, global]` sparsegpt contributes its layer cells.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from ecobench.prune.layout import as_out_in, from_out_in, module_of
from ecobench.prune.methods.base import Method, MethodOptions, ScoreInputs, register
from ecobench.prune.methods.wanda import activation_problems
from ecobench.prune.structures import NM, Unstructured, parse_structure
from ecobench.prune.targets import transformer_blocks


class SparseGPTOptions(MethodOptions):
    name: Literal["sparsegpt"]
    blocksize: int = Field(128, ge=1)  # columns pruned and updated together (the reference's 128)
    percdamp: float = Field(0.01, gt=0)  # dampening: this fraction of the mean diagonal of H is added to it

    def cut_points(self, ratios: list[float], scopes: list[str]) -> list[tuple[str, float | None, float | None]]:
        return super().cut_points(ratios, [s for s in scopes if s == "layer"])

    def problems(self, suite: Any) -> list[tuple[str, str]]:
        out = activation_problems(self.name, suite)
        structures = getattr(suite.prune, "structures", ["unstructured"])
        if "structured" in structures:
            out.append(("prune.structures", "sparsegpt rewrites weights rather than scoring them, so no whole neurons "
                        "or heads can be ranked by its scores; it runs unstructured and N:M only (drop structured "
                        "or sparsegpt)"))
        for st in structures:
            m = str(st).rsplit(":", 1)[-1] if ":" in str(st) else ""
            if m.isdigit() and int(m) and self.blocksize % int(m):  # a malformed N:M is the schema's to refuse
                out.append(("prune.structures", f"sparsegpt's blocksize {self.blocksize} is not a multiple of M in "
                            f"{st}: a group of M inputs must not straddle two blocks"))
        if "layer" not in suite.prune.scopes:
            out.append(("prune.scope", "sparsegpt rewrites the kept weights of each layer as it prunes, so it has no "
                        "one score to cut across layers: it needs scope 'layer' (alone or in a list)"))
        return out


@torch.no_grad()
def obs_prune(w: torch.Tensor, h: torch.Tensor, ratio: float, blocksize: int = 128,
              percdamp: float = 0.01, nm: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Prune `ratio` of w (out, in) against the input Hessian h (in, in); return (new w, keep-mask), both (out, in).
    With `nm` = (N, M), keep N of every M consecutive inputs of each row instead (`ratio` is then not read)."""
    w = w.detach().float().clone(memory_format=torch.contiguous_format)
    h = h.detach().clone().float()
    rows, cols = w.shape
    dead = torch.diag(h) == 0  # inputs that were always 0: their weights do nothing
    h[dead, dead] = 1
    w[:, dead] = 0
    diag = torch.arange(cols, device=w.device)
    h[diag, diag] += percdamp * torch.mean(torch.diag(h))
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)  # upper factor of H^-1
    keep = torch.ones(rows, cols, dtype=torch.bool, device=w.device)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        w1 = w[:, i1:i2].clone()  # (out, count)
        hinv1 = hinv[i1:i2, i1:i2]
        pruned = torch.zeros(w1.shape, dtype=torch.bool, device=w.device)
        if nm is None:
            saliency = w1.pow(2) / torch.diag(hinv1).pow(2).unsqueeze(0)
            k = round(ratio * saliency.numel())
            if k:
                pruned.view(-1)[torch.argsort(saliency.reshape(-1), stable=True)[:k]] = True
        q1 = torch.zeros_like(w1)
        err1 = torch.zeros_like(w1)
        for i in range(i2 - i1):
            if nm is not None and i % nm[1] == 0:  # a new group of M: its weights as updated so far
                g = slice(i, i + nm[1])
                saliency = w1[:, g].pow(2) / torch.diag(hinv1)[g].pow(2).unsqueeze(0)
                pruned[:, g].scatter_(1, torch.topk(saliency, nm[1] - nm[0], dim=1, largest=False).indices, True)
            col = w1[:, i]
            q = torch.where(pruned[:, i], torch.zeros_like(col), col)
            q1[:, i] = q
            e = (col - q) / hinv1[i, i]
            w1[:, i:] -= e.unsqueeze(1) * hinv1[i, i:].unsqueeze(0)  # spread the error over the columns to come
            err1[:, i] = e
        w[:, i1:i2] = q1
        w[:, i2:] -= err1 @ hinv[i1:i2, i2:]
        keep[:, i1:i2] = ~pruned
    return w, keep


class _Stop(Exception):  # a control-flow signal, not an error
    """Raised by the hook that captures the first block's inputs: nothing after it needs to run."""


def _first_block_inputs(model: nn.Module, block: nn.Module, batches: list) -> list[tuple[tuple, dict]]:
    """(args, kwargs) the first transformer block is called with, per calibration batch."""
    seen: list[tuple[tuple, dict]] = []

    def catch(mod: nn.Module, args: tuple, kwargs: dict) -> None:
        seen.append((args, kwargs))
        raise _Stop

    handle = block.register_forward_pre_hook(catch, with_kwargs=True)
    try:
        for x, _ in batches:
            try:
                model(input_ids=x, use_cache=False)
            except _Stop:
                pass
    finally:
        handle.remove()
    return seen


@contextmanager
def _hessians(model: nn.Module, names: list[str], hs: dict[str, torch.Tensor], counts: dict[str, int]) -> Iterator[None]:
    """Accumulate X^T X (in, in) of each named weight's inputs while open. Layers reading one tensor (q, k and v;
    gate and up) share one product: the last input is kept (so its address cannot be reused) with its product."""
    last: dict[str, Any] = {"x": None, "xtx": None}

    def add(mod: nn.Module, args: tuple, name: str) -> None:
        if args[0] is not last["x"]:
            x = args[0].reshape(-1, args[0].shape[-1]).float()  # (tokens, in)
            last.update(x=args[0], xtx=x.t() @ x, n=x.shape[0])
        hs[name] = hs[name] + last["xtx"] if name in hs else last["xtx"].clone()
        counts[name] = counts.get(name, 0) + last["n"]

    handles = [module_of(model, n).register_forward_pre_hook(lambda m, a, n=n: add(m, a, n)) for n in names]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
        last.clear()


def _prune_group(model: nn.Module, names: list[str], inp: ScoreInputs, hs: dict, counts: dict, ratio: float,
                 m: SparseGPTOptions, masks: dict[str, torch.Tensor]) -> None:
    st = parse_structure(inp.structure)
    if not isinstance(st, (NM, Unstructured)):
        raise ValueError(f"sparsegpt cannot prune structure {inp.structure!r}")  # refused at validate
    nm = (st.n, st.m) if isinstance(st, NM) else None
    for n in names:
        mod = module_of(model, n)
        p = inp.targets[n]
        w, keep = obs_prune(as_out_in(p, mod, n), hs.pop(n) * (2 / counts[n]), ratio, m.blocksize, m.percdamp, nm)
        p.copy_(from_out_in(w, mod).to(p.dtype))
        masks[n] = from_out_in(keep, mod)


@torch.no_grad()
def prune(m: SparseGPTOptions, inp: ScoreInputs, ratio: float, scope: str) -> dict[str, torch.Tensor]:
    """Prune every targeted weight to `ratio` in place, block by block; return the keep-masks."""
    model = inp.model
    model.eval()
    masks: dict[str, torch.Tensor] = {}
    found = transformer_blocks(model)
    prefix, blocks = found if found else ("", nn.ModuleList())
    by_block: list[list[str]] = [[n for n in inp.targets if n.startswith(f"{prefix}.{i}.")] for i in range(len(blocks))]
    in_blocks = {n for group in by_block for n in group}
    if in_blocks:
        states = _first_block_inputs(model, blocks[0], inp.calibration)
        for block, names in zip(blocks, by_block):
            hs: dict[str, torch.Tensor] = {}
            counts: dict[str, int] = {}
            if names:
                with _hessians(model, names, hs, counts):
                    for args, kwargs in states:
                        block(*args, **kwargs)
                _prune_group(model, names, inp, hs, counts, ratio, m, masks)
            states = [((_hidden(block(*args, **kwargs)), *args[1:]), kwargs) for args, kwargs in states]
    rest = [n for n in inp.targets if n not in in_blocks]  # e.g. lm_head: its inputs come from the pruned blocks
    if rest:
        hs, counts = {}, {}
        with _hessians(model, rest, hs, counts):
            for x, _ in inp.calibration:
                model(input_ids=x, use_cache=False)
        _prune_group(model, rest, inp, hs, counts, ratio, m, masks)
    return masks


def _hidden(out: Any) -> torch.Tensor:
    """A block's hidden-state output (transformers blocks return a tensor or a tuple starting with it)."""
    return out[0] if isinstance(out, tuple) else out


register(Method(
    "sparsegpt", SparseGPTOptions, None,
    summary="layer-wise OBS on the calibration Hessian, updating the kept weights (SparseGPT; layer scope, N:M too)",
    needs=frozenset({"weights", "calibration"}),
    prune=prune,
))
