"""What a suite asks of its task family, checked before any work: image data needs an image-text model (and a text
corpus a text model), metrics and target parts exist for the family, methods and structures can serve it."""

from __future__ import annotations

from ecobench.config.schema import Suite
from ecobench.domains import domain_problem
from ecobench.families import CAUSAL_LM, family_name, get

TEXT_METRICS = ("loss",)


def family_problems(suite: Suite, batch_methods: frozenset[str]) -> list[tuple[str, str]]:
    """(suite field, message) for every way the suite's data, metric, targets, methods or structures do not fit the
    task family of its model; empty when they fit. `batch_methods`: the names of the methods that read calibration
    batches or their gradients (the runner reads them from the method registry, which families do not import)."""
    family = family_name(suite.model)
    image_data = suite.data.corpus == "digits-vqa"
    out: list[tuple[str, str]] = []
    if family == CAUSAL_LM:
        if image_data:
            if suite.model.pretrained:
                out.append(("model.pretrained", f"{suite.model.pretrained} is not an image-text model (its config.json "
                            "has no vision_config); data.corpus 'digits-vqa' needs one"))
            else:
                out.append(("data.corpus", "'digits-vqa' is image + question data: it needs a vision-language model "
                            "(model.family: llava, or model.pretrained: an image-text-to-text folder)"))
        if suite.eval.metric not in TEXT_METRICS:
            out.append(("eval.metric", f"{suite.eval.metric!r} scores answers to questions about images; a text "
                        "model's metric is 'loss'"))
        if problem := domain_problem(suite):
            out.append(("eval.domains", problem))
        parts = set(suite.prune.targets.parts or []) - set(get(family).parts)
        if parts:
            out.append(("prune.targets.parts", f"{sorted(parts)}: a text model has one part, language (vision and "
                        "projector are parts of an image-text model)"))
        return out
    # the vision-language family
    if suite.data.corpus not in ("digits-vqa", "path"):
        out.append(("data.corpus", f"{suite.data.corpus!r} is text; a vision-language model reads 'digits-vqa' or "
                    "'path' (a JSONL file of image, question, answer)"))
    if suite.data.tokenizer not in ("char", "pretrained"):
        out.append(("data.tokenizer", f"a vision-language model reads 'char' (trained from scratch) or 'pretrained', "
                    f"not {suite.data.tokenizer!r}"))
    if suite.model.pretrained and suite.data.tokenizer != "pretrained":
        out.append(("data.tokenizer", "a pretrained image-text model reads its own tokenizer: data.tokenizer: "
                    "pretrained"))
    for i, m in enumerate(suite.prune.methods):
        if m.name in batch_methods:
            out.append(("prune.methods", f"[{i}] {m.display} reads calibration batches of text windows; image-question "
                        "batches are not wired into it yet (trajectory, magnitude, movement and random are)"))
    if suite.eval.domains:
        out.append(("eval.domains", "extra domains are text corpora; an image-text model is evaluated on its "
                    "image-question data only"))
    if "structured" in suite.prune.structures:
        out.append(("prune.structures", "structured pruning rewrites gpt2 and llama configs; an image-text model "
                    "takes unstructured or N:M"))
    return out
