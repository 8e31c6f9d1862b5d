"""What a model costs per token, analytically: parameters, and FLOPs as dense kernels and as the kernels that run.

FLOPs per token = 2 x MACs of every Linear/Conv1D (lm_head included) + attention scores and values: 2 x 2 x
heads x head_dim x `context` per layer (QK^T and AV against `context` cached positions). Embedding lookups, norms,
activations and softmax are left out (a few % of a small model). "Effective" counts what the running kernel
multiplies: a smaller dense model (structured) is simply smaller; unstructured or N:M zeros in a dense kernel save
nothing; a sparse kernel (execution.py's wrappers, which say how many weights they store) does 2 x stored weights.

An image-text model's vision tower and projector run once per image, not per text token: they are left out of the
per-token figures and counted per image instead (`image_flops`: their matmuls over the image's patch positions,
and the tower's attention over them).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ecobench.prune.layout import is_conv1d, out_in_features


@dataclass(frozen=True)
class TokenCost:
    params: int  # unique parameters (tied tensors once)
    dense_flops: float  # per token, every matmul at its full shape
    effective_flops: float  # per token, what the kernels that run multiply
    context: int  # attended positions the attention FLOPs assume
    image_flops: float = 0.0  # per image: vision tower + projector (image-text models; 0 for text models)


PER_IMAGE = ("vision_tower", "multi_modal_projector")  # submodules of an image-text model that run once per image


def _per_image(name: str) -> bool:
    return any(part in PER_IMAGE for part in name.split("."))


def _image_flops(model: nn.Module) -> float:
    """Forward FLOPs of one image through the vision tower (every patch position, CLS included) and the projector
    (the image tokens it emits), attention over the patches included."""
    vc = getattr(model.config, "vision_config", None)
    if vc is None:
        return 0.0
    patches = (vc.image_size // vc.patch_size) ** 2
    tower = proj = 0
    for name, m in model.named_modules():
        if (isinstance(m, nn.Linear) or is_conv1d(m)) and _per_image(name):
            out_f, in_f = out_in_features(m)
            if "multi_modal_projector" in name.split("."):
                proj += out_f * in_f
            else:
                tower += out_f * in_f
    positions = patches + 1
    attention = 4 * vc.hidden_size * positions * positions * vc.num_hidden_layers
    return 2.0 * (tower * positions + proj * patches) + attention


def _attention(config) -> tuple[int, int]:
    """(layers, heads x head_dim) of a gpt2 or llama config; of an image-text model, its language model's (the
    vision encoder's attention runs once per image, over its patches, not per token: left out, as norms are)."""
    config = getattr(config, "text_config", None) or config
    if config.model_type == "gpt2":
        return config.n_layer, config.n_embd
    hd = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return config.num_hidden_layers, config.num_attention_heads * hd


def analytic_params(config) -> int:
    """Parameter count from a gpt2 or llama config alone (what a shrunk config promises)."""
    tied = getattr(config, "tie_word_embeddings", True)
    if config.model_type == "gpt2":
        e, i = config.n_embd, config.n_inner if config.n_inner is not None else 4 * config.n_embd
        block = 2 * e + (3 * e * e + 3 * e) + (e * e + e) + 2 * e + (e * i + i) + (i * e + e)
        return config.vocab_size * e * (1 if tied else 2) + config.n_positions * e + config.n_layer * block + 2 * e
    e, i = config.hidden_size, config.intermediate_size
    layers, qd = _attention(config)
    kvd = qd // config.num_attention_heads * config.num_key_value_heads
    attn = e * qd + 2 * e * kvd + qd * e + ((qd + 2 * kvd + e) if config.attention_bias else 0)
    mlp = 3 * e * i + ((2 * i + e) if config.mlp_bias else 0)
    return config.vocab_size * e * (1 if tied else 2) + layers * (attn + mlp + 2 * e) + e


def token_cost(model: nn.Module, context: int) -> TokenCost:
    """Cost per token of `model` as it stands (after any shrink or sparse-kernel swap), attending `context` positions."""
    dense = effective = 0
    for name, m in model.named_modules():
        if _per_image(name):
            continue  # once per image: image_flops
        if isinstance(m, nn.Linear) or is_conv1d(m):
            full = out_in_features(m)
            dense += full[0] * full[1]
            effective += full[0] * full[1]
        elif hasattr(m, "stored_weights"):  # a sparse-kernel wrapper from execution.py
            dense += m.out_features * m.in_features
            effective += m.stored_weights
    layers, width = _attention(model.config)
    attn = 4 * width * context * layers
    params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    params += sum(m.out_features * m.in_features for m in model.modules() if hasattr(m, "stored_weights"))
    return TokenCost(params, 2 * dense + attn, 2 * effective + attn, context, _image_flops(model))
