"""Tokenizers: char (the paper's), byte, BPE trained locally with `tokenizers`, or a pretrained model's own.

char and BPE are fitted on the training split only (the text before the last `data.val_fraction`), so nothing
about the validation text leaks into the vocabulary. A character met only in validation maps to one unknown id
appended after the training characters (the identity then says `char+unk`); the shipped corpora have none, so
their vocabularies and token ids are what they were. BPE's training text is cut by characters, the token split by
tokens: the two cuts differ by a few tokens at most.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ecobench.config.schema import DataConfig, ModelConfig
from ecobench.data.cache import cache_dir, save

log = logging.getLogger(__name__)


class Tokenizer(Protocol):
    kind: str
    vocab_size: int

    def encode(self, text: str) -> np.ndarray: ...
    def decode(self, ids: list[int]) -> str: ...
    def identity(self) -> str: ...


UNKNOWN_CHAR = "\ufffd"  # how the unknown id decodes


@dataclass
class CharTokenizer:
    chars: list[str]
    kind: str = "char"
    unknown: bool = False  # one more id, after `chars`, for characters the training split never showed

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + self.unknown

    @classmethod
    def fit(cls, text: str, whole: str | None = None) -> CharTokenizer:
        """The characters of `text` (the training split); an unknown id when `whole` holds others."""
        chars = sorted(set(text))
        return cls(chars, unknown=whole is not None and bool(set(whole) - set(chars)))

    def encode(self, text: str) -> np.ndarray:
        stoi = {c: i for i, c in enumerate(self.chars)}
        unk = len(self.chars) if self.unknown else None
        return np.fromiter((stoi.get(c, unk) if unk is not None else stoi[c] for c in text), dtype=np.int32,
                           count=len(text))

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] if i < len(self.chars) else UNKNOWN_CHAR for i in ids)

    def identity(self) -> str:
        return "char+unk" if self.unknown else "char"


def training_text(text: str, val_fraction: float) -> str:
    """The text before the validation split (the split takes the last `val_fraction` of the token stream)."""
    return text[: len(text) - int(math.ceil(len(text) * val_fraction))]


class ByteTokenizer:
    kind = "byte"
    vocab_size = 256

    def encode(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32)

    def decode(self, ids: list[int]) -> str:
        return bytes(ids).decode("utf-8", errors="replace")

    def identity(self) -> str:
        return "byte"


class HFTokenizer:
    """A `tokenizers.Tokenizer` (trained BPE) or a transformers tokenizer (pretrained)."""

    def __init__(self, kind: str, tok, ident: str):
        self.kind, self._tok, self._ident = kind, tok, ident

    @property
    def vocab_size(self) -> int:
        return len(self._tok) if hasattr(self._tok, "__len__") else self._tok.get_vocab_size()

    def encode(self, text: str) -> np.ndarray:
        if self.kind == "bpe":
            return np.asarray(self._tok.encode(text).ids, dtype=np.int32)
        return np.asarray(self._tok(text, add_special_tokens=False)["input_ids"], dtype=np.int32)

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids)

    def identity(self) -> str:
        return self._ident


def _train_bpe(text: str, vocab_size: int, dest: Path):
    from tokenizers import Tokenizer as HFTok
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = HFTok(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(text.splitlines(keepends=True), trainer=trainer)
    save(dest, tok.to_str().encode("utf-8"))
    return tok


def build_tokenizer(data: DataConfig, model: ModelConfig, text: str, corpus_sha: str) -> Tokenizer:
    if data.tokenizer == "char":
        return CharTokenizer.fit(training_text(text, data.val_fraction), text)
    if data.tokenizer == "byte":
        return ByteTokenizer()
    if data.tokenizer == "bpe":
        from tokenizers import Tokenizer as HFTok

        # fitted on the training split: a new name, so tokens cached from a whole-corpus fit are never reused
        name = f"bpe-{data.vocab_size}-{corpus_sha[:16]}-train{data.val_fraction:g}"
        dest = cache_dir() / "tokenizers" / f"{name}.json"
        tok = None
        if dest.is_file():
            try:
                tok = HFTok.from_file(str(dest))
            except Exception as err:  # noqa: BLE001 -- a damaged cache entry (tokenizers raises its own): retrain
                log.warning("cached tokenizer %s is unreadable (%s); training it again", dest,
                            str(err).splitlines()[0] if str(err) else type(err).__name__)
        tok = tok or _train_bpe(training_text(text, data.val_fraction), data.vocab_size, dest)
        return HFTokenizer("bpe", tok, name)
    # pretrained: the model directory's own tokenizer
    from transformers import AutoTokenizer

    kw = {"gguf_file": model.gguf_file} if model.gguf_file else {}
    from ecobench.config.pretrained import LOADER_KW, pretrained_dir

    tok = AutoTokenizer.from_pretrained(str(pretrained_dir(model)), **kw, **LOADER_KW)
    return HFTokenizer("pretrained", tok, f"pretrained-{Path(model.pretrained or '').name}")


def tokenizer_state(tok: Tokenizer) -> str:
    """JSON kept beside the dense checkpoint, so a reader can decode what the model saw."""
    if isinstance(tok, CharTokenizer):
        return json.dumps({"kind": "char", "chars": tok.chars, **({"unknown": len(tok.chars)} if tok.unknown else {})})
    return json.dumps({"kind": tok.kind, "identity": tok.identity()})


def tokenizer_sha256(tok: Tokenizer) -> str:
    """A digest of what the tokenizer maps (a char vocabulary, a BPE's merges, a pretrained vocabulary): part of a
    results folder's binding, so a resume never reads tokens another tokenizer made."""
    if isinstance(tok, HFTokenizer) and tok.kind == "bpe":
        state = tok._tok.to_str()
    elif isinstance(tok, HFTokenizer):
        state = json.dumps(sorted(tok._tok.get_vocab().items()))
    else:
        state = tokenizer_state(tok)
    return hashlib.sha256(state.encode("utf-8")).hexdigest()
