"""Tiny GPT-2 and Llama models built straight from transformers configs (as models/build.py does)."""

from __future__ import annotations

import torch
from torch import nn

VOCAB = 61


def tiny_gpt2(n_inner: int = 64, n_head: int = 4, seed: int = 0) -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=VOCAB, n_positions=32, n_embd=32, n_layer=2, n_head=n_head, n_inner=n_inner,
                     activation_function="gelu_pytorch_tanh", bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(cfg).eval()


def tiny_llama(heads: int = 4, kv_heads: int = 4, seed: int = 0) -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=32,
                      tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, pad_token_id=0)
    return LlamaForCausalLM(cfg).eval()


def weight_scores(model: nn.Module) -> dict[str, torch.Tensor]:
    """|w| of every Linear/Conv1D weight inside the blocks (the default targets), as magnitude scores."""
    return {n: p.detach().abs().clone() for n, p in model.named_parameters()
            if p.dim() == 2 and (".h." in n or ".layers." in n)}
