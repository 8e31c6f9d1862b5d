"""The base of every config object: strict types, unknown keys rejected, immutable once loaded."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Config(BaseModel):
    """Suite sections derive from this so that a typo is an error, never a silently ignored key."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)  # no inf/nan numbers
