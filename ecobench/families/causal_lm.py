"""The causal-LM family (gpt2, llama, a pretrained text model): next-token cross-entropy on token windows."""

from __future__ import annotations

import math

from ecobench.data.dataset import TokenData, load_data
from ecobench.families import CAUSAL_LM, Family, register
from ecobench.train import EvalResult, evaluate_tokens, lm_loss, prompts


def batch_loss(model, batch) -> object:
    x, y = batch  # (B, T) token ids, (B, T) next tokens
    return lm_loss(model, x, y)


def metrics(ev: EvalResult, data: TokenData) -> dict[str, float]:
    return {"loss": ev.loss, "bpc": ev.loss / math.log(2) / data.chars_per_token, "ppl": math.exp(min(ev.loss, 700))}


FAMILY = register(Family(
    name=CAUSAL_LM,
    load_data=lambda data, model, fetch=True: load_data(data, model, fetch),
    loss=batch_loss,
    evaluate=evaluate_tokens,
    metrics=metrics,
    prompts=prompts,
    parts=("language",),
))
