"""char and BPE tokenizers are fitted on the training split only: the validation text leaks nothing into them."""

from __future__ import annotations

import math

from ecobench.config.schema import DataConfig, ModelConfig
from ecobench.data.corpus import load_corpus
from ecobench.data.tokenizer import UNKNOWN_CHAR, CharTokenizer, build_tokenizer, training_text


def test_a_character_seen_only_in_validation_is_unknown_to_the_char_tokenizer() -> None:
    text = "abcab" * 40 + "xyz" * 5  # the last 10% (ceil(215 x 0.1) = 22 chars) holds x, y and z
    tok = build_tokenizer(DataConfig(tokenizer="char", val_fraction=0.1), ModelConfig(), text, "0" * 64)
    assert tok.chars == ["a", "b", "c"] and tok.unknown and tok.vocab_size == 4 and tok.identity() == "char+unk"
    ids = tok.encode("abxz").tolist()
    assert ids == [0, 1, 3, 3] and tok.decode(ids) == f"ab{UNKNOWN_CHAR}{UNKNOWN_CHAR}"
    assert len(training_text(text, 0.1)) == len(text) - math.ceil(len(text) * 0.1)


def test_a_corpus_whose_validation_holds_no_new_character_keeps_its_vocabulary() -> None:
    data = DataConfig(corpus="shakespeare", tokenizer="char", max_chars=200_000)  # the smoke suite's corpus
    text = load_corpus(data).text
    tok = build_tokenizer(data, ModelConfig(), text, "0" * 64)
    assert tok == CharTokenizer(sorted(set(text))) and tok.identity() == "char"  # the same ids as before
