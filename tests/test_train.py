"""The training loop: masked recovery keeps pruned weights at exactly zero; non-finite losses fail the cell."""

from __future__ import annotations

import pytest
import torch

from ecobench.config.schema import DataConfig, ModelConfig, TargetsConfig, TrainConfig
from ecobench.data.dataset import load_data
from ecobench.errors import CellFailed
from ecobench.models.build import build_model
from ecobench.prune.masks import apply_masks, masks_for_ratio
from ecobench.prune.targets import select_targets
from ecobench.train import evaluate, generate_tokens, lr_at, train

DATA = DataConfig(corpus="shakespeare", context=32, max_chars=40_000)


@pytest.fixture(scope="module")
def tiny():
    data = load_data(DATA, ModelConfig())
    return data


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_recovery_never_revives_a_pruned_weight(tiny, family: str) -> None:
    cfg = ModelConfig(family=family, n_layer=1, n_head=2, n_embd=32)
    model = build_model(cfg, tiny.vocab_size, tiny.context, seed=0)
    targets = select_targets(model, TargetsConfig())
    masks = masks_for_ratio({n: p.detach().abs() for n, p in targets.items()}, 0.7, "layer")
    apply_masks(targets, masks)
    before = {n: p.detach().clone() for n, p in targets.items()}
    tc = TrainConfig(steps=8, batch_size=4, lr=5e-2, warmup_steps=0, weight_decay=0.1)
    train(model, tiny, tc, steps=8, seed=0, constant_lr=5e-2, masks={n: (targets[n], masks[n]) for n in targets}, progress=False)
    for n, p in targets.items():
        assert torch.all(p.detach()[~masks[n]] == 0), n  # exactly zero, not merely small
        assert not torch.equal(p.detach()[masks[n]], before[n][masks[n]]), "kept weights should have trained"


def test_a_huge_learning_rate_fails_with_the_step(tiny) -> None:
    model = build_model(ModelConfig(n_layer=1, n_head=2, n_embd=32), tiny.vocab_size, tiny.context, seed=0)
    tc = TrainConfig(steps=50, batch_size=4, lr=1e6, warmup_steps=0, grad_clip=0)
    with pytest.raises(CellFailed) as info:
        train(model, tiny, tc, steps=50, seed=0, progress=False)
    assert info.value.phase == "train" and info.value.step is not None and info.value.step >= 1


def test_training_is_deterministic_and_lowers_the_loss(tiny) -> None:
    cfg = ModelConfig(n_layer=1, n_head=2, n_embd=32)
    tc = TrainConfig(steps=30, batch_size=8, lr=1e-2, warmup_steps=3)
    losses = []
    for _ in range(2):
        model = build_model(cfg, tiny.vocab_size, tiny.context, seed=3)
        start = evaluate(model, tiny, 16, 2).loss
        train(model, tiny, tc, steps=30, seed=3, progress=False)
        losses.append(evaluate(model, tiny, 16, 2).loss)
    assert losses[0] == losses[1]
    assert losses[0] < start - 0.5


def test_schedule_warms_up_then_decays_to_min_lr() -> None:
    tc = TrainConfig(steps=100, lr=1.0, min_lr=0.1, warmup_steps=10)
    assert lr_at(0, tc) == pytest.approx(0.1) and lr_at(9, tc) == pytest.approx(1.0)
    assert lr_at(10, tc) == pytest.approx(1.0) and lr_at(100, tc) == pytest.approx(0.1)


def test_generation_counts_tokens(tiny) -> None:
    model = build_model(ModelConfig(n_layer=1, n_head=2, n_embd=32), tiny.vocab_size, tiny.context, seed=0)
    assert generate_tokens(model, tiny, 40, batch_size=2) == 40
