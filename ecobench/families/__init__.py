"""Task families: what a model learns from and is judged by (DESIGN.md §9 "Families").

A family provides the data loader (suite data + model config -> a data object with `batch(batch_size, gen)` and
validation batches), the batch-to-loss function the one training loop calls, evaluation with its metrics, and the
prompts of the inference workload. `model.family` names the architecture; the task family follows from it (or, for a
pretrained folder, from its config). Families register themselves as lm-eval's tasks do; the modules are imported on
first use, so the training loop can import this package without importing every family's dependencies.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ecobench.config.schema import DataConfig, ModelConfig

CAUSAL_LM = "causal-lm"
VISION_LANGUAGE = "vision-language"
MODULES = {CAUSAL_LM: "ecobench.families.causal_lm", VISION_LANGUAGE: "ecobench.families.vision_language"}
ARCHITECTURES = {"gpt2": CAUSAL_LM, "llama": CAUSAL_LM, "llava": VISION_LANGUAGE}


@dataclass(frozen=True)
class Family:
    name: str
    load_data: Callable[..., Any]  # (DataConfig, ModelConfig, fetch) -> data object
    loss: Callable[..., Any]  # (model, batch) -> scalar loss tensor; a batch is a tuple or a dict of tensors
    evaluate: Callable[..., Any]  # (model, data, batch_size, max_batches, phase) -> train.EvalResult
    metrics: Callable[..., dict[str, float]]  # (EvalResult, data) -> the record's quality metrics, `loss` first
    prompts: Callable[..., Any]  # (data, batch_size, prompt_len, start) -> the prefill batch of the inference workload
    parts: tuple[str, ...]  # what `prune.targets.parts` may name for this family


REGISTRY: dict[str, Family] = {}

# the module names that hold each part of an image-text model (transformers' llava and most of its kin)
PART_MODULES = {"vision": ("vision_tower", "vision_model"), "projector": ("multi_modal_projector", "mm_projector"),
                "language": ("language_model",)}
PARTS = tuple(PART_MODULES)  # in model order
DEFAULT_PARTS = ("vision", "language")


def part_of(name: str) -> str | None:
    """The part a parameter name belongs to (vision, projector, language), or None (a text model's names)."""
    pieces = name.split(".")
    for part, keys in PART_MODULES.items():
        if any(k in pieces for k in keys):
            return part
    return None


def register(family: Family) -> Family:
    REGISTRY[family.name] = family
    return family


def get(name: str) -> Family:
    if name not in REGISTRY:
        importlib.import_module(MODULES[name])
    return REGISTRY[name]


def family_name(model: ModelConfig) -> str:
    """The task family of a model config: from `family`, or from a pretrained folder's config.json (a config with a
    `vision_config` and a `text_config` is an image-text-to-text model)."""
    if not model.pretrained or model.gguf_file:
        return ARCHITECTURES[model.family] if not model.pretrained else CAUSAL_LM
    from ecobench.config.pretrained import pretrained_dir, read_config
    from ecobench.errors import UnsafePathError

    d = pretrained_dir(model)
    try:
        config = read_config(d / "config.json") if d is not None else {}
    except (OSError, ValueError, UnsafePathError):
        return CAUSAL_LM  # unreadable: the causal-LM loader says why, in one line
    return VISION_LANGUAGE if isinstance(config, dict) and "vision_config" in config else CAUSAL_LM


def of_model(model: ModelConfig) -> Family:
    return get(family_name(model))


def of_data(data: Any) -> Family:
    """The family whose loader made `data` (each data object names it)."""
    return get(getattr(data, "family", CAUSAL_LM))


def load_data(data: DataConfig, model: ModelConfig, fetch: bool = True) -> Any:
    """The suite's data, as its model's family reads it."""
    return of_model(model).load_data(data, model, fetch)
