"""Method options in the suite: the base every method's options derive from, and the options models by method name.

The methods themselves live in `ecobench.prune.methods`; registering one there also records its options model here,
so the schema validates `prune.methods` entries without importing a single method (the config layer stays the
ground: it imports nothing of the library). Whoever validates a suite imports the methods first (the runner and the
command line do).
"""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from ecobench.config.base import Config


class MethodOptions(Config):
    """Options every method takes. A method's own class adds `name: Literal["<its name>"]` and its fields."""

    name: str
    label: str | None = None  # the method's name in results (default: the method name)

    @field_validator("label")
    @classmethod
    def _not_reserved(cls, v: str | None) -> str | None:
        if v in ("dense", "dense+recover"):
            raise ValueError(f"label {v!r} names a reference cell; choose another")
        return v

    @property
    def display(self) -> str:
        return self.label or self.name

    def cut_points(self, ratios: list[float], scopes: list[str]) -> list[tuple[str, float | None, float | None]]:
        """(scope, ratio, multiplier) of each cell this method contributes to a seed; ratio 0 is the dense cell."""
        return [(scope, r, None) for scope in scopes for r in ratios if r > 0]

    def problems(self, suite: Any) -> list[tuple[str, str]]:
        """Problems this method sees in the rest of the suite (a Suite): (dotted suite field, message) each.
        `runner.check_suite` reports them with the file and line of that field, before any work."""
        return []


# method name -> its options model; filled by `ecobench.prune.methods.register`, read by the schema and its errors
OPTIONS: dict[str, type[MethodOptions]] = {}


def registered_options() -> dict[str, type[MethodOptions]]:
    """OPTIONS, refusing to answer while it is empty: validating a suite before any method is registered is a
    programming error (import `ecobench.prune.methods` first), not the user's unknown method."""
    if not OPTIONS:
        raise RuntimeError("no pruning method is registered: import ecobench.prune.methods before validating a suite")
    return OPTIONS
