"""The base of every config object: strict types, unknown keys rejected, immutable once loaded."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict


class Config(BaseModel):
    """Suite sections derive from this so that a typo is an error, never a silently ignored key."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)  # no inf/nan numbers


# Fields added after results schema 3, with their defaults: at their default they are left out of the fingerprint,
# so a folder written before they existed still resumes. A field added later goes here (dotted path, default).
LATER_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("eval.metric", "loss"),
    ("eval.domains", []),
    ("eval.domain_batches", None),
    ("data.split_seed", 0),
    ("model.image_size", 8),
    ("model.patch_size", 4),
    ("model.vision_layers", 2),
    ("prune.targets.parts", None),
    ("train.precision", "fp32"),
    ("train.compile", False),
    ("eval.precision", None),
    ("run", {"device": "auto", "deterministic": False}),
    ("footprint.detect", None),
    ("footprint.min_window_s", None),
    ("footprint.on_contention", "flag"),
    ("footprint.quiet", {"max_other_cpu": 0.25, "retries": 3, "backoff_s": 2.0}),
)
# a ceiling on the cost; how often the loss is read; the claims a run is judged by (they read results, compute none:
# adding claims to a finished suite keeps its folders, and `ecobench claims --suite` judges them)
NEVER_COUNTED = ("footprint.budget", "train.log_every", "claims")


def _drop(d: dict[str, Any], path: str, only_if: Any = ...) -> dict[str, Any]:
    """`d` without the value at the dotted `path` (only where it equals `only_if`, when given); copies, never edits."""
    head, _, rest = path.partition(".")
    if head not in d:
        return d
    if rest:
        return d | {head: _drop(d[head], rest, only_if)} if isinstance(d[head], dict) else d
    if only_if is not ... and d[head] != only_if:
        return d
    return {k: v for k, v in d.items() if k != head}


def fingerprint_of(resolved: dict[str, Any]) -> str:
    """The fingerprint of a resolved suite as dumped to JSON: as the manifest stores it, so readers recompute it
    without importing the schema (or torch). What changes no computed number (NEVER_COUNTED) is left out, so raising
    the budget resumes the same folder; so are fields added later, at their default (LATER_DEFAULTS)."""
    d = dict(resolved)
    for path in NEVER_COUNTED:
        d = _drop(d, path)
    for path, default in LATER_DEFAULTS:
        d = _drop(d, path, default)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


# control characters (C0 but tab and newline, DEL, C1) and the Unicode marks that reorder text on screen (embeddings,
# overrides, isolates, LRM/RLM/ALM): a name holding them can show as another name, in a terminal or a report
UNSAFE_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: object) -> str:
    """`text` with every unsafe character written out as \\uXXXX, so what is shown is what is stored."""
    return UNSAFE_CHARS.sub(lambda m: f"\\u{ord(m.group()):04x}", str(text))
