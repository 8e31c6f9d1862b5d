"""Analytic cost: the parameter count a config promises is the model's; FLOPs per token follow the shapes, shrink with
a structured model, not with zeros in dense kernels, and with the stored weights of a sparse kernel."""

from __future__ import annotations

import pytest

from ecobench.prune.execution import use_sparse_kernels
from ecobench.prune.flops import analytic_params, token_cost
from ecobench.prune.masks import apply_masks, masks_for_ratio
from ecobench.prune.shrink import shrink_model
from tests.prune.tiny import VOCAB, tiny_gpt2, tiny_llama, weight_scores


def _count(model) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


@pytest.mark.parametrize("variant", ["gpt2", "gpt2-untied", "llama", "llama-gqa", "llama-bias-untied"])
def test_analytic_params_match_the_model(variant: str) -> None:
    from transformers import AutoModelForCausalLM

    base = tiny_gpt2() if variant.startswith("gpt2") else tiny_llama(4, 2 if variant == "llama-gqa" else 4)
    cfg = base.config
    if "untied" in variant:
        cfg.tie_word_embeddings = False
    if "bias" in variant:
        cfg.attention_bias = cfg.mlp_bias = True
    model = AutoModelForCausalLM.from_config(cfg)
    assert analytic_params(cfg) == _count(model)


def test_dense_flops_by_hand() -> None:
    model = tiny_gpt2()  # E=32, I=64, L=2, V=61
    e, i, layers, ctx = 32, 64, 2, 16
    macs = layers * (e * 3 * e + e * e + e * i + i * e) + VOCAB * e
    cost = token_cost(model, ctx)
    assert cost.dense_flops == cost.effective_flops == 2 * macs + 4 * e * ctx * layers
    assert cost.params == _count(model) and cost.context == ctx


def test_structured_shrink_lowers_both_counts_masks_do_not() -> None:
    model = tiny_llama()
    dense = token_cost(model, 8)
    masks = masks_for_ratio(weight_scores(model), 0.5, "layer")
    masked = tiny_llama()
    params = dict(masked.named_parameters())
    apply_masks({n: params[n] for n in masks}, masks)
    assert token_cost(masked, 8) == dense  # zeros in dense kernels: no saving
    shrink_model(model, weight_scores(model), 0.5, 0.5)
    small = token_cost(model, 8)
    e, layers = 32, 2
    # half of each MLP (3 x 32 x 64 MACs) and half of q/k/v/o (4 x 32 x 32) go; attention width halves
    saved = 2 * layers * (3 * e * 32 + 4 * e * 16) + 4 * 16 * 8 * layers
    assert dense.dense_flops - small.dense_flops == saved and small.effective_flops == small.dense_flops


def test_sparse_kernel_effective_flops_follow_the_nonzeros() -> None:
    model = tiny_gpt2()
    scores = weight_scores(model)
    masks = masks_for_ratio(scores, 0.9, "layer")
    params = dict(model.named_parameters())
    apply_masks({n: params[n] for n in masks}, masks)
    nonzeros = sum(int(params[n].count_nonzero()) for n in masks)
    targeted = sum(params[n].numel() for n in masks)
    before = token_cost(model, 4)
    use_sparse_kernels(model, list(masks))
    after = token_cost(model, 4)
    assert after.dense_flops == before.dense_flops and after.params == before.params
    assert before.effective_flops - after.effective_flops == 2 * (targeted - nonzeros)


def test_an_image_text_models_vision_tower_and_projector_count_per_image_not_per_token() -> None:
    from torch import nn

    from ecobench.models.build import build_model
    from tests.test_multimodal import TINY, _digits

    d = _digits()
    model = build_model(TINY, d.vocab_size, d.context, 0)
    lm = sum(m.weight.numel() for n, m in model.named_modules() if isinstance(m, nn.Linear)
             and "vision_tower" not in n and "multi_modal_projector" not in n)
    cost = token_cost(model, d.context)
    layers, width = 1, 16  # TINY's language model
    assert cost.dense_flops == 2 * lm + 4 * width * d.context * layers  # the language model (lm_head included) only
    vc = model.config.vision_config
    patches = (vc.image_size // vc.patch_size) ** 2
    tower = sum(m.weight.numel() for n, m in model.named_modules() if isinstance(m, nn.Linear) and "vision_tower" in n)
    proj = sum(m.weight.numel() for n, m in model.named_modules() if isinstance(m, nn.Linear)
               and "multi_modal_projector" in n)
    assert cost.image_flops == 2 * (tower * (patches + 1) + proj * patches) + 4 * vc.hidden_size * (patches + 1) ** 2
