"""Properties of masks (hypothesis): the sparsity reached matches the target within one weight per tensor (layer scope)
or overall (global scope); masking twice changes nothing; a ratio of 0 changes nothing; recovery never revives a
pruned weight."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import ecobench.prune.masks as masks_module
from ecobench.config.schema import ModelConfig, TargetsConfig, TrainConfig
from ecobench.data.dataset import TokenData
from ecobench.models.build import build_model
from ecobench.prune.masks import apply_masks, masks_for_ratio, sparsity
from ecobench.prune.targets import select_targets
from ecobench.train import train

# few distinct magnitudes, so that ties at the threshold are common
values = st.sampled_from([-3.0, -1.0, -0.5, -0.25, 0.25, 0.5, 1.0, 3.0]) | st.floats(0.01, 10.0) | st.floats(-10.0, -0.01)


@st.composite
def weight_sets(draw) -> dict[str, torch.Tensor]:
    """1 to 4 tensors of nonzero weights, each 1x1 to 6x7."""
    out = {}
    for i in range(draw(st.integers(1, 4))):
        rows, cols = draw(st.integers(1, 6)), draw(st.integers(1, 7))
        out[f"w{i}"] = torch.tensor(draw(st.lists(values, min_size=rows * cols, max_size=rows * cols))).reshape(rows, cols)
    return out


ratios = st.floats(0.0, 0.99, exclude_max=False)
scopes = st.sampled_from(["layer", "global"])
SETTINGS = settings(max_examples=80, deadline=None)


def _prune(weights: dict[str, torch.Tensor], ratio: float, scope: str) -> dict[str, torch.Tensor]:
    params = {n: torch.nn.Parameter(w.clone()) for n, w in weights.items()}
    apply_masks(params, masks_for_ratio({n: p.detach().abs() for n, p in params.items()}, ratio, scope))
    return {n: p.detach() for n, p in params.items()}


@SETTINGS
@given(weight_sets(), ratios)
def test_layer_scope_sparsity_within_one_weight_per_tensor(weights, ratio) -> None:
    pruned = _prune(weights, ratio, "layer")
    for n, w in pruned.items():
        zeros = int((w == 0).sum())
        assert abs(zeros - ratio * w.numel()) <= 1, (n, zeros, ratio, w.numel())


@SETTINGS
@given(weight_sets(), ratios)
def test_global_scope_sparsity_within_one_weight_overall(weights, ratio) -> None:
    frac, zeros, n = sparsity(_prune(weights, ratio, "global"))
    assert abs(zeros - ratio * n) <= 1


@settings(max_examples=40, deadline=None)
@given(weight_sets(), ratios, scopes)
def test_the_large_tensor_selection_path_is_exact_too(weights, ratio, scope) -> None:
    """Above CONCAT_LIMIT scores, the cut is found by sampled-then-exact selection: same counts as below it."""
    with mock.patch.object(masks_module, "CONCAT_LIMIT", 4):
        pruned = _prune(weights, ratio, scope)
    counts = [(int((w == 0).sum()), w.numel()) for w in pruned.values()]
    if scope == "layer":
        assert all(abs(z - ratio * n) <= 1 for z, n in counts)
    else:
        assert abs(sum(z for z, _ in counts) - ratio * sum(n for _, n in counts)) <= 1


@SETTINGS
@given(weight_sets(), ratios, scopes)
def test_masking_twice_changes_nothing(weights, ratio, scope) -> None:
    once = _prune(weights, ratio, scope)
    again = _prune(once, ratio, scope)  # rescored on the pruned weights, same ratio
    for n in weights:
        assert torch.equal(once[n], again[n])
    params = {n: torch.nn.Parameter(w.clone()) for n, w in once.items()}
    masks = {n: w != 0 for n, w in once.items()}
    apply_masks(params, masks)  # the same masks applied again
    for n in weights:
        assert torch.equal(params[n].detach(), once[n])


@SETTINGS
@given(weight_sets(), scopes)
def test_ratio_zero_changes_nothing(weights, scope) -> None:
    masks = masks_for_ratio({n: w.abs() for n, w in weights.items()}, 0.0, scope)
    assert all(bool(m.all()) for m in masks.values())
    pruned = _prune(weights, 0.0, scope)
    for n in weights:
        assert torch.equal(pruned[n], weights[n])


# ----------------------------------------------------------------------------- recovery


def _tiny_data(vocab: int = 13, context: int = 8) -> TokenData:
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(vocab, (600,), generator=gen)
    return TokenData(train=ids[:500], val=ids[500:], tokenizer=SimpleNamespace(vocab_size=vocab), context=context,
                     chars_per_token=1.0, corpus_sha256="-", description="random tokens")


@settings(max_examples=5, deadline=None)
@given(ratio=st.floats(0.1, 0.95), scope=scopes, seed=st.integers(0, 2**16), lr=st.sampled_from([1e-3, 3e-2, 1.0]))
def test_recovery_never_revives_a_pruned_weight(ratio, scope, seed, lr) -> None:
    data = _tiny_data()
    model = build_model(ModelConfig(n_layer=1, n_head=2, n_embd=16), data.vocab_size, data.context, seed)
    targets = select_targets(model, TargetsConfig(embeddings=True))
    masks = masks_for_ratio({n: p.detach().abs() for n, p in targets.items()}, ratio, scope)
    apply_masks(targets, masks)
    before = {n: p.detach().clone() for n, p in targets.items()}
    cfg = TrainConfig(steps=4, batch_size=4, lr=lr, warmup_steps=0, weight_decay=0.1)
    train(model, data, cfg, steps=4, seed=seed, phase="recover", constant_lr=lr,
          masks={n: (targets[n], masks[n]) for n in targets}, progress=False)
    for n, p in targets.items():
        assert bool((p.detach()[~masks[n]] == 0).all()), f"{n}: a pruned weight came back"
        assert not torch.equal(p.detach(), before[n]) or not bool(masks[n].any())  # the kept weights did train
