"""What a suite's structures ask of its model, checked before any work from the model's shape alone (a model built
on the meta device: no weights, no memory): a structured ratio that would empty a layer, GPT-2 heads, structured
pruning without per-layer scope, an N:M that does not divide a targeted input dimension."""

from __future__ import annotations

import logging

import torch
from torch import nn

from ecobench.config.schema import Suite
from ecobench.errors import StructureError
from ecobench.prune.layout import module_of, out_in_features
from ecobench.prune.shrink import check_structured
from ecobench.prune.structures import NM, parse_structure, structured_parts
from ecobench.prune.targets import select_targets

log = logging.getLogger(__name__)

# check_structured names the ratio it was given; the suite's field is the list
_SUITE_FIELD = {"prune.ratio": "prune.ratios"}


def meta_model(suite: Suite, vocab_size: int, context: int) -> nn.Module | None:
    """The suite's model on the meta device (shapes only); None when a pretrained checkpoint's config cannot be read
    (loading it later says why)."""
    from ecobench.models.build import build_model

    with torch.device("meta"):
        if not suite.model.pretrained:
            return build_model(suite.model, vocab_size, context, 0)
        from transformers import AutoConfig, AutoModelForCausalLM

        from ecobench.config.pretrained import LOADER_KW
        from ecobench.models.pretrained import pretrained_problem

        if pretrained_problem(suite.model):
            return None  # said in one line by check_suite
        kw = {"gguf_file": suite.model.gguf_file} if suite.model.gguf_file else {}
        try:
            config = AutoConfig.from_pretrained(suite.model.pretrained, **kw, **LOADER_KW)
            return AutoModelForCausalLM.from_config(config)
        except Exception:  # noqa: BLE001 -- a user's checkpoint: build_model reports it in one line when loaded
            return None


def structure_problems(suite: Suite, model: nn.Module) -> list[tuple[str, str]]:
    """(suite field, message) for every structure this model cannot take; empty when all can be applied."""
    prune = suite.prune
    problems: list[tuple[str, str]] = []
    names = list(select_targets(model, prune.targets))
    for text in prune.structures:
        mlp, heads = structured_parts(prune.structured, getattr(getattr(model, "config", None), "model_type", None))
        if text == "structured" and heads != prune.structured.heads:
            log.warning("prune.structured.heads: a GPT-2 cannot be loaded with fewer heads, so `structured` removes "
                        "MLP neurons only here (set structured.heads: false to say so in the suite)")
        st = parse_structure(text, mlp, heads)
        try:
            if isinstance(st, NM):
                for n in names:
                    inp = out_in_features(module_of(model, n))[1]
                    if inp % st.m:
                        raise StructureError(
                            "prune.structures", f"{text}: {n} has {inp} inputs, not divisible by M={st.m}")
            elif st.name == "structured":
                if not (mlp or heads):
                    raise StructureError("prune.structured.mlp", "a GPT-2 cannot remove heads, and structured.mlp is "
                                         "false: nothing is left to remove; set mlp: true or use llama")
                ratios = [r for r in prune.ratios if r > 0] or [0.0]
                scope = "layer" if "layer" in prune.scopes else "global"
                for r in sorted(ratios, reverse=True):  # the largest ratio is the first to empty a layer
                    check_structured(model.config, r if mlp else 0.0, r if heads else 0.0, scope)
        except StructureError as err:
            field = _SUITE_FIELD.get(err.field, err.field)
            problems.append((field, str(err).removeprefix(f"{err.field}: ")))
    return problems
