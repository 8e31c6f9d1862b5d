"""Token streams: corpus -> tokens (cached on disk by corpus checksum and tokenizer) -> train/val batches."""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from ecobench.config.schema import DataConfig, ModelConfig
from ecobench.data.cache import cache_dir, save
from ecobench.data.corpus import load_corpus
from ecobench.data.tokenizer import Tokenizer, build_tokenizer
from ecobench.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class TokenData:
    train: torch.Tensor  # (N_train,) int64 token ids
    val: torch.Tensor  # (N_val,) int64 token ids
    tokenizer: Tokenizer
    context: int
    chars_per_token: float  # to turn nats/token into bits per character
    corpus_sha256: str
    description: str
    family: str = "causal-lm"  # the task family whose loss and metrics read these batches (ecobench/families)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def batch(self, batch_size: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Random windows of the train split, as nanoGPT draws them; `gen` makes the order reproducible."""
        ix = torch.randint(len(self.train) - self.context - 1, (batch_size,), generator=gen, device="cpu")  # host
        x = torch.stack([self.train[i : i + self.context] for i in ix.tolist()])  # (B, T)
        y = torch.stack([self.train[i + 1 : i + 1 + self.context] for i in ix.tolist()])  # (B, T)
        return x, y

    def val_windows(self) -> int:
        return (len(self.val) - 1) // self.context

    def val_window_starts(self, count: int | None) -> list[int]:
        """Which of the non-overlapping validation windows are evaluated: all, or `count` spread evenly over the
        whole split (window i * n // count), so a partial evaluation samples the split rather than its first
        corner. Depends only on the data, so every cell is evaluated on the same tokens."""
        n = self.val_windows()
        if count is None or count >= n:
            return list(range(n))
        return [i * n // count for i in range(count)]

    def val_batches(self, batch_size: int, max_batches: int | None):
        """Batches of validation windows (see `val_window_starts`): at most `max_batches` of `batch_size`."""
        windows = self.val_window_starts(None if max_batches is None else max_batches * batch_size)
        for start in range(0, len(windows), batch_size):
            idx = windows[start : start + batch_size]
            x = torch.stack([self.val[i * self.context : (i + 1) * self.context] for i in idx])  # (B, T)
            y = torch.stack([self.val[i * self.context + 1 : (i + 1) * self.context + 1] for i in idx])  # (B, T)
            yield x, y


def _tokens_cached(tok: Tokenizer, text: str, corpus_sha: str) -> np.ndarray:
    key = hashlib.sha256(f"{corpus_sha}|{tok.identity()}".encode()).hexdigest()[:24]
    path = cache_dir() / "tokens" / f"{key}.npy"
    if path.is_file():
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            log.warning("token cache %s is unreadable; rebuilding", path)
    ids = tok.encode(text)
    dtype = np.uint16 if tok.vocab_size <= 65535 else np.int32
    buf = io.BytesIO()
    np.save(buf, ids.astype(dtype), allow_pickle=False)
    save(path, buf.getvalue())
    return ids


@functools.lru_cache(maxsize=4)
def load_data(data: DataConfig, model: ModelConfig, fetch: bool = True) -> TokenData:
    """Corpus -> tokens -> split. Raises DataError naming the field when the data cannot serve the suite (or, with
    `fetch=False`, when it would have to be downloaded)."""
    corpus = load_corpus(data, fetch)
    tok = build_tokenizer(data, model, corpus.text, corpus.sha256)
    ids = torch.from_numpy(_tokens_cached(tok, corpus.text, corpus.sha256).astype(np.int64))
    n_val = int(math.ceil(len(ids) * data.val_fraction))
    train, val = ids[: len(ids) - n_val], ids[len(ids) - n_val :]
    need = data.context + 2
    if len(train) < need or len(val) < need:
        raise DataError(
            "data.context",
            f"context {data.context} is longer than the data: {len(train)} train / {len(val)} validation tokens "
            f"(each split needs at least {need})",
        )
    return TokenData(
        train=train,
        val=val,
        tokenizer=tok,
        context=data.context,
        chars_per_token=len(corpus.text) / max(1, len(ids)),
        corpus_sha256=corpus.sha256,
        description=corpus.description,
    )
