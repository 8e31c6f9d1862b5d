"""dL/dw of chosen weights over calibration batches, in bounded memory (the taylor method's input).

L is the mean language-model loss over every calibration token (train.lm_loss's cross-entropy). A plain backward
holds every block's activations and the (tokens x vocabulary) logits at once: for SmolLM2-135M and one 256-token
sequence, about 0.9 copies of the weights on top of the gradients. Here, instead:
- one sequence per backward (the activations of one sequence, not of a batch);
- each transformer block is checkpointed (only its input is kept; it is recomputed when its backward runs);
- the output head and the loss run over chunks of tokens on a detached copy of the last hidden state, whose
  gradient is then sent back through the trunk once (the same gradient, summed in another order) — used only
  after checking that head(trunk(x)) reproduces the model's own logits, else the whole model's loss is used;
- only the named weights require grad, so the backward stops at the earliest block holding one of them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ecobench.prune.calibration import Batch, trunk
from ecobench.prune.heap import release_free_pages
from ecobench.prune.targets import transformer_blocks

HEAD_CHUNK = 32  # tokens per chunk of logits: 32 x a 49k vocabulary = 6 MB


@contextmanager
def checkpointed_blocks(model: nn.Module) -> Iterator[None]:
    """While open, every transformer block keeps only its input for the backward and recomputes the rest."""
    found = transformer_blocks(model)
    blocks = list(found[1]) if found else []
    for b in blocks:
        b.forward = functools.partial(checkpoint, b.forward, use_reentrant=False)
    try:
        yield
    finally:
        for b in blocks:
            del b.forward  # the instance attribute: the class's forward shows through again


def _head_of(model: nn.Module, names: list[str]) -> tuple[nn.Module, nn.Module] | None:
    """(trunk, head) when the model's logits are head(trunk's last hidden state), checked on a few tokens."""
    body = trunk(model, names)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if body is model or head is None:
        return None
    return body, head


@torch.no_grad()
def _same_logits(model: nn.Module, body: nn.Module, head: nn.Module, x: torch.Tensor) -> bool:
    x = x[:1, :8]  # causal: the first tokens' logits do not depend on the rest of the window
    full = model(input_ids=x, use_cache=False).logits
    split = head(body(input_ids=x, use_cache=False).last_hidden_state)
    return full.shape == split.shape and torch.allclose(full, split, rtol=1e-4, atol=1e-5)


def _backward_one(model: nn.Module, parts: tuple[nn.Module, nn.Module] | None, x: torch.Tensor, y: torch.Tensor,
                  scale: float) -> None:
    """Add scale x d(sum of token losses of one sequence)/dw to every weight's .grad."""
    if parts is None:
        logits = model(input_ids=x, use_cache=False).logits
        (F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum") * scale).backward()
        return
    body, head = parts
    h = body(input_ids=x, use_cache=False).last_hidden_state  # (1, T, d)
    hd = h.detach().requires_grad_(True)
    for t in range(0, h.shape[1], HEAD_CHUNK):
        logits = head(hd[:, t : t + HEAD_CHUNK])
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y[:, t : t + HEAD_CHUNK].reshape(-1),
                               reduction="sum")
        (loss * scale).backward()
    if h.requires_grad:
        h.backward(hd.grad)


@torch.enable_grad()  # scores may be read lazily inside a no_grad caller (shrink_model ranks layers under no_grad)
def calibration_gradients(model: nn.Module, targets: dict[str, nn.Parameter], names: list[str],
                          batches: list[Batch]) -> dict[str, torch.Tensor]:
    """name -> dL/dw for the weights `names` of `targets` (no other weight gets a gradient); L the mean loss over
    every token of `batches`. The model is left as it was (eval mode, requires_grad as before, no .grad)."""
    was = {id(p): p.requires_grad for p in model.parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
        p.grad = None
    for n in names:
        targets[n].requires_grad_(True)
        # allocated now, side by side, and accumulated into in place: not scattered among the activations' buffers
        targets[n].grad = torch.zeros_like(targets[n])
    model.eval()  # no dropout: the gradient of the model being pruned
    tokens = sum(x.numel() for x, _ in batches)
    try:
        parts = _head_of(model, names)
        if parts is not None and batches and not _same_logits(model, *parts, batches[0][0]):
            parts = None
        with checkpointed_blocks(model):
            for x, y in batches:
                for i in range(x.shape[0]):
                    _backward_one(model, parts, x[i : i + 1], y[i : i + 1], 1.0 / tokens)
                    release_free_pages()  # this sequence's activations: free, and no longer resident
        grads = {}
        for n in names:
            p = targets[n]
            grads[n] = p.grad
            p.grad = None
    finally:
        for p in model.parameters():
            p.requires_grad_(was[id(p)])
            p.grad = None
    return grads
