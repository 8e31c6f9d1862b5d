"""The method registry: a pruning method is one module declaring its name, options, needs and score function.

`validate`'s description, the sweep and the runner read `REGISTRY`; the suite schema, `--set` and "did you mean"
hints read the options models that `register` records in `ecobench.config.methods` (the config layer imports no
method). Adding a method touches its own module (and its test) only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ecobench.config.methods import OPTIONS, MethodOptions  # methods subclass MethodOptions from here too

if TYPE_CHECKING:
    import torch
    from torch import nn

# What a method may read. `weights`: the dense model's final weights; `recorded`: state recorded during dense
# training (a RecordSpec); `calibration`: activations of calibration batches; `gradients`: gradients of them.
NEEDS = ("weights", "recorded", "calibration", "gradients")


@dataclass
class ScoreInputs:
    """Everything a score function may read; what a method does not `need` is left empty."""

    weights: dict[str, torch.Tensor]  # targeted weights of the dense model (not modified)
    recorded: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # RecordSpec key -> name -> tensor
    seed: int = 0
    model: nn.Module | None = None  # the dense model, for methods that read activations or gradients
    calibration: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)  # (x, y) token batches
    targets: dict[str, nn.Parameter] = field(default_factory=dict)  # the live targeted weights (prune hooks edit them)
    scope: str = "layer"  # the cell's scope: a method may hold less memory when no cut reads all its scores at once
    structure: str = "unstructured"  # the cell's structure ('unstructured', 'N:M', 'structured'), for prune hooks


class LazyScores(MutableMapping):
    """name -> score, each computed on first access by `compute(name)`, which may return the scores of a group of
    names at once (all kept until deleted). The prune phase pops each score once its mask is made, so under layer
    scope a method's scores never all exist at once: the peak holds one group's scores, not every tensor's (a
    global cut reads them all, and then holds them all, as an eager dict would)."""

    def __init__(self, names: list[str], compute: Callable[[str], dict[str, torch.Tensor]]):
        self._names = list(names)
        self._compute = compute
        self._done: dict[str, torch.Tensor] = {}

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self._done:
            if name not in self._names:
                raise KeyError(name)
            self._done.update((n, s) for n, s in self._compute(name).items() if n in self._names)
        return self._done[name]

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._done.pop(name, None)

    def __setitem__(self, name: str, value: torch.Tensor) -> None:
        if name not in self._names:
            self._names.append(name)
        self._done[name] = value

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)


@dataclass
class Scores:
    """What the score phase hands the prune phase. Higher = more important; a score never prunes."""

    rank: MutableMapping[str, torch.Tensor]  # the values cut at a quantile (sparsity threshold); may be LazyScores
    spread: dict[str, torch.Tensor] | None = None  # std threshold: tensors whose std(|.|) sets t
    # layer scope, unstructured: cut each output row to the ratio on its own (Wanda); name -> the output dim
    rows: dict[str, int] | None = None


@dataclass(frozen=True)
class Method:
    name: str
    options: type[MethodOptions]
    score: Callable[[Any, ScoreInputs], Scores] | None  # None only with a `prune` hook
    summary: str  # one line for `validate` and the docs
    needs: frozenset[str] = frozenset({"weights"})
    record: Callable[[Any], Any] | None = None  # options -> RecordSpec to record during dense training, or None
    # a method that changes the kept weights as it prunes (SparseGPT) replaces the score -> mask path:
    # (options, inputs, ratio, scope) -> keep-masks, the targeted weights already rewritten and masked
    prune: Callable[[Any, ScoreInputs, float, str], dict[str, torch.Tensor]] | None = None

    RESERVED: ClassVar[frozenset[str]] = frozenset({"dense", "dense+recover"})  # reference cells' method names


def recorded_training_problems(name: str, suite: Any) -> list[tuple[str, str]]:
    """A method recorded during dense training (trajectory, movement) has nothing to read without training."""
    if suite.train.steps == 0:
        why = "; a pretrained model needs a recorded fine-tuning phase" if suite.model.pretrained else ""
        return [("train.steps", f"{name} is recorded during training{why}: set train.steps > 0")]
    return []


REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.name in REGISTRY or method.name in Method.RESERVED:
        raise ValueError(f"a method named {method.name!r} is already registered")
    if method.score is None and method.prune is None:
        raise ValueError(f"method {method.name!r} needs a score function or a prune hook")
    unknown = set(method.needs) - set(NEEDS)
    if unknown:
        raise ValueError(f"method {method.name!r} needs unknown inputs {sorted(unknown)}; known: {NEEDS}")
    REGISTRY[method.name] = method
    OPTIONS[method.name] = method.options  # what the suite schema validates its entries with
    return method


def unregister(name: str) -> None:
    """For tests that register a method of their own."""
    REGISTRY.pop(name, None)
    OPTIONS.pop(name, None)


def method_names() -> list[str]:
    return list(REGISTRY)
