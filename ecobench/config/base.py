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


EVAL_LATER = {"domains": [], "domain_batches": None}  # eval fields added after results folders existed, at default
# likewise train and run fields (left out at their default); train.log_every is always left out: it changes no number
LATER_DEFAULTS = (("train", "precision", "fp32"), ("train", "compile", False))
LATER_SECTIONS = (("run", {"device": "auto", "deterministic": False}),)


def fingerprint_of(resolved: dict[str, Any]) -> str:
    """The fingerprint of a resolved suite as dumped to JSON: as the manifest stores it, so readers recompute it
    without importing the schema (or torch). footprint.budget is left out: a ceiling on the cost, not what is
    computed, so raising it resumes the same folder; so is train.log_every (how often the loss is read). Fields
    added later (EVAL_LATER, LATER_DEFAULTS, LATER_SECTIONS) count only when set, so folders written before them
    keep their fingerprint."""
    d = dict(resolved)
    if isinstance(d.get("footprint"), dict):
        d["footprint"] = {k: v for k, v in d["footprint"].items() if k != "budget"}
    if isinstance(d.get("eval"), dict):
        d["eval"] = {k: v for k, v in d["eval"].items() if not (k in EVAL_LATER and v == EVAL_LATER[k])}
    if isinstance(d.get("train"), dict):
        d["train"] = {k: v for k, v in d["train"].items() if k != "log_every"
                      and not any(k == key and v == default for s, key, default in LATER_DEFAULTS if s == "train")}
    for section, default in LATER_SECTIONS:
        if d.get(section) == default:
            d.pop(section)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


# control characters (C0 but tab and newline, DEL, C1) and the Unicode marks that reorder text on screen (embeddings,
# overrides, isolates, LRM/RLM/ALM): a name holding them can show as another name, in a terminal or a report
UNSAFE_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: object) -> str:
    """`text` with every unsafe character written out as \\uXXXX, so what is shown is what is stored."""
    return UNSAFE_CHARS.sub(lambda m: f"\\u{ord(m.group()):04x}", str(text))
