"""Pruning methods, one module each; importing this package registers the built-in ones."""

from ecobench.prune.methods import (  # noqa: F401 (registration)
    magnitude,
    movement,
    random,
    sparsegpt,
    taylor,
    trajectory,
    wanda,
)
from ecobench.prune.methods.base import (
    REGISTRY,
    LazyScores,
    Method,
    MethodOptions,
    ScoreInputs,
    Scores,
    method_names,
    register,
    unregister,
)

__all__ = ["REGISTRY", "LazyScores", "Method", "MethodOptions", "ScoreInputs", "Scores", "method_names", "register", "unregister"]
