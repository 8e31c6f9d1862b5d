"""A dense checkpoint must hold every parameter of the model: a missing bias is refused, not left at its init."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file, save_model

from ecobench.config.load import suite_from_text
from ecobench.data.dataset import TokenData
from ecobench.data.tokenizer import ByteTokenizer
from ecobench.dense import MODEL_FILE, load_dense
from ecobench.errors import UserError
from ecobench.models.build import build_model

SUITE = """\
name: ckpt
seeds: [0]
model: {family: FAMILY, n_layer: 1, n_head: 2, n_embd: 16}
prune: {methods: [{name: magnitude}], ratios: [0.5]}
"""


def _data() -> TokenData:
    z = torch.zeros(100, dtype=torch.long)
    return TokenData(train=z, val=z, tokenizer=ByteTokenizer(), context=16, chars_per_token=1.0,
                     corpus_sha256="", description="")


def _saved(tmp_path: Path, family: str) -> tuple:
    suite = suite_from_text(SUITE.replace("FAMILY", family)).suite
    model = build_model(suite.model, 256, 16, seed=5)
    save_model(model, str(tmp_path / MODEL_FILE))  # as ensure_dense saves it (tied tensors once)
    return suite, model


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_a_complete_checkpoint_loads_every_weight(tmp_path: Path, family: str) -> None:
    suite, model = _saved(tmp_path, family)
    loaded = load_dense(suite, 0, tmp_path, _data())  # built from another seed: every value must come from the file
    want = model.state_dict()
    assert all(torch.equal(t, want[n]) for n, t in loaded.state_dict().items())


def test_a_missing_bias_parameter_is_refused(tmp_path: Path) -> None:
    suite, _ = _saved(tmp_path, "gpt2")
    path = tmp_path / MODEL_FILE
    tensors = load_file(str(path))
    del tensors["transformer.h.0.attn.c_attn.bias"]  # a parameter whose name contains "bias"
    save_file(tensors, str(path))
    with pytest.raises(UserError, match=r"missing \['transformer.h.0.attn.c_attn.bias'\]"):
        load_dense(suite, 0, tmp_path, _data())
