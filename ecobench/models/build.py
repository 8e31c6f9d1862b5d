"""Build the model a suite names: a decoder-only transformer from a transformers config, or a local checkpoint."""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a model hub at run time

import torch
from torch import nn

from ecobench.config.pretrained import LOADER_KW, pretrained_dir
from ecobench.config.schema import ModelConfig
from ecobench.errors import UserError
from ecobench.models.pretrained import pretrained_problem


def build_model(cfg: ModelConfig, vocab_size: int, context: int, seed: int) -> nn.Module:
    """A fresh model; weights initialised from `seed` so every cell of a seed starts from the same dense model."""
    torch.manual_seed(seed)
    if cfg.pretrained:
        problem = pretrained_problem(cfg)
        if problem:
            raise UserError(f"{problem[0]}: {problem[1]}")
        # GGUF is dequantized to float32 by transformers' loader; otherwise safetensors only (never a pickle)
        kw = {"gguf_file": cfg.gguf_file} if cfg.gguf_file else {"use_safetensors": True}
        try:
            return auto_class(cfg).from_pretrained(str(pretrained_dir(cfg)), dtype=torch.float32, **kw, **LOADER_KW)
        except Exception as err:  # a user's checkpoint: any failure to read it is theirs to fix, in one line
            raise UserError(f"model.pretrained: cannot load {cfg.pretrained}: {str(err).splitlines()[0]}") from err
    inter = cfg.intermediate or 4 * cfg.n_embd
    if cfg.family == "llava":
        return _llava(cfg, vocab_size, context, inter)
    if cfg.family == "gpt2":
        from transformers import GPT2Config, GPT2LMHeadModel

        config = GPT2Config(
            vocab_size=vocab_size,
            n_positions=context,
            n_embd=cfg.n_embd,
            n_layer=cfg.n_layer,
            n_head=cfg.n_head,
            n_inner=inter,
            resid_pdrop=cfg.dropout,
            embd_pdrop=cfg.dropout,
            attn_pdrop=cfg.dropout,
            # the same tanh GELU as GPT-2's default gelu_new, as one fused kernel: about 2x faster evaluation on CPU
            activation_function="gelu_pytorch_tanh",
            bos_token_id=0,
            eos_token_id=0,
        )
        model = GPT2LMHeadModel(config)
    else:
        from transformers import LlamaForCausalLM

        config = _llama_config(cfg, vocab_size, context, inter)
        model = LlamaForCausalLM(config)
    return model


def _llama_config(cfg: ModelConfig, vocab_size: int, context: int, inter: int, end: int = 0):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=cfg.n_embd,
        intermediate_size=inter,
        num_hidden_layers=cfg.n_layer,
        num_attention_heads=cfg.n_head,
        num_key_value_heads=cfg.n_head,
        max_position_embeddings=context,
        attention_dropout=cfg.dropout,
        tie_word_embeddings=True,
        bos_token_id=0,
        eos_token_id=end,
        pad_token_id=0,
    )


def _llava(cfg: ModelConfig, vocab_size: int, context: int, inter: int) -> nn.Module:
    """The shape of Phi-3-vision, small: a CLIP ViT, a two-layer projector and a Llama language model. Token ids 0, 1,
    2 are padding, the image placeholder and the end of an answer (families/vision_language.py's char tokenizer)."""
    from transformers import CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration

    from ecobench.families.vision_language import END_ID, IMAGE_ID

    vision = CLIPVisionConfig(
        hidden_size=cfg.n_embd,
        intermediate_size=inter,
        num_hidden_layers=cfg.vision_layers,
        num_attention_heads=cfg.n_head,
        image_size=cfg.image_size,
        patch_size=cfg.patch_size,
        num_channels=3,
        attention_dropout=cfg.dropout,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=_llama_config(cfg, vocab_size, context, inter, END_ID),
        image_token_index=IMAGE_ID,
        image_seq_length=(cfg.image_size // cfg.patch_size) ** 2,
        vision_feature_layer=-1,  # the last block's features (no layer is left unused, hence none untrained)
        vision_feature_select_strategy="default",  # the patch features, without CLS
        tie_word_embeddings=True,
    )
    return LlavaForConditionalGeneration(config)


def is_image_text(config: dict) -> bool:
    return "vision_config" in config and "text_config" in config


def auto_class(cfg: ModelConfig):
    """transformers' Auto class of the suite's task family (text: causal LM; vision-language: image-text-to-text)."""
    from ecobench.families import VISION_LANGUAGE, family_name

    if family_name(cfg) == VISION_LANGUAGE:
        from transformers import AutoModelForImageTextToText

        return AutoModelForImageTextToText
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM


def build_skeleton(cfg: ModelConfig, vocab_size: int, context: int) -> nn.Module:
    """The model's structure on the meta device (no weights, no memory): what `validate` inspects. A pretrained
    checkpoint is read for its config only."""
    if not cfg.pretrained:
        with torch.device("meta"):
            return build_model(cfg, vocab_size, context, 0)
    from transformers import AutoConfig

    problem = pretrained_problem(cfg)
    if problem:
        raise UserError(f"{problem[0]}: {problem[1]}")
    kw = {"gguf_file": cfg.gguf_file} if cfg.gguf_file else {}
    try:
        config = AutoConfig.from_pretrained(str(pretrained_dir(cfg)), **kw, **LOADER_KW)
        with torch.device("meta"):
            return auto_class(cfg).from_config(config)
    except Exception as err:  # a user's checkpoint: any failure to read it is theirs to fix, in one line
        raise UserError(f"model.pretrained: cannot load {cfg.pretrained}: {str(err).splitlines()[0]}") from err


def count_params(model: nn.Module) -> int:
    """Unique parameters (tied tensors counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def skeleton_like(config_json: str) -> nn.Module:
    """A model of a saved transformers config (config.to_json_string()), to load a saved dense checkpoint into
    without reading the original pretrained file again (a GGUF is dequantized on every read: slow)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

    d = json.loads(config_json)
    auto = AutoModelForImageTextToText if is_image_text(d) else AutoModelForCausalLM
    config = AutoConfig.for_model(d.pop("model_type"), **d)  # a model type transformers ships, or a KeyError
    return auto.from_config(config, dtype=torch.float32)
