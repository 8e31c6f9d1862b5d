"""A tied output head is refused by name, and a tensor reached by several names is pruned once under its first."""

from __future__ import annotations

import pytest
import torch

from ecobench.config.schema import ModelConfig, TargetsConfig
from ecobench.errors import TargetsError
from ecobench.models.build import build_model
from ecobench.prune.targets import select_targets


def _tiny(family: str) -> torch.nn.Module:
    return build_model(ModelConfig(family=family, n_layer=1, n_head=2, n_embd=16), 50, 16, 0)


@pytest.mark.parametrize(("family", "head", "embedding"), [
    ("gpt2", "lm_head.weight", "transformer.wte.weight"),
    ("llama", "lm_head.weight", "model.embed_tokens.weight"),
])
def test_lm_head_tied_to_the_embedding_is_refused(family: str, head: str, embedding: str) -> None:
    model = _tiny(family)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight  # tied, as built
    with pytest.raises(TargetsError) as err:
        select_targets(model, TargetsConfig(lm_head=True))
    assert err.value.field == "prune.targets.lm_head"
    assert head in str(err.value) and embedding in str(err.value)


def test_an_untied_head_is_pruned_under_its_own_name() -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=1, n_head=2,
                                       tie_word_embeddings=False))
    targets = select_targets(model, TargetsConfig(blocks=False, lm_head=True))
    assert list(targets) == ["lm_head.weight"]
    assert targets["lm_head.weight"] is model.lm_head.weight


def test_a_tied_tensor_named_by_include_keeps_its_first_name() -> None:
    model = _tiny("gpt2")
    targets = select_targets(model, TargetsConfig(blocks=False, include=["lm_head.weight"]))
    assert list(targets) == ["transformer.wte.weight"]  # the row names the embedding that is zeroed
    both = select_targets(model, TargetsConfig(blocks=False, embeddings=True))
    assert "transformer.wte.weight" in both and "lm_head.weight" not in both


def test_validate_sees_the_tie_of_a_pretrained_checkpoint_from_its_config(tmp_path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    from ecobench.models.build import build_skeleton
    from ecobench.prune.targets import check_targets

    GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=1, n_head=2)).save_pretrained(tmp_path)
    skeleton = build_skeleton(ModelConfig(pretrained=str(tmp_path)), 0, 0)
    assert skeleton.lm_head.weight.device.type == "meta"  # structure only: no weights read
    with pytest.raises(TargetsError, match="prune.targets.lm_head"):
        check_targets(skeleton, TargetsConfig(lm_head=True))


def test_an_excluded_tensor_is_not_brought_back_by_an_alias() -> None:
    model = _tiny("gpt2")
    cfg = TargetsConfig(blocks=False, include=["lm_head.weight"], exclude=["transformer.wte.weight"])
    assert select_targets(model, cfg) == {}
