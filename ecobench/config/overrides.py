"""`--set dotted.key=value` overrides: checked against the schema (with "did you mean"), values parsed as YAML."""

from __future__ import annotations

import difflib
import re
from typing import Any, get_args

from pydantic import BaseModel

from ecobench.config.base import visible
from ecobench.config.methods import OPTIONS
from ecobench.config.schema import PruneConfig, Suite
from ecobench.config.yaml import parse_yaml
from ecobench.errors import SuiteError


def unwrap(ann: Any) -> Any:
    """The config class inside Optional[...] / list[...], or None for plain values."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for a in get_args(ann):
        u = unwrap(a)
        if u is not None:
            return u
    return None


def apply_overrides(data: dict, overrides: list[str], source: str) -> list[str]:
    """Apply `dotted.key=value` overrides (values parsed as YAML) in place; return problems."""
    problems = []
    for item in overrides:
        key, eq, raw = item.partition("=")
        if not eq or not key:
            problems.append(f"{source}: --set {item}: expected dotted.key=value")
            continue
        parts = key.split(".")
        if any(_is_index(p) != (p.isdigit()) or not p for p in parts):  # '²' is a digit to str.isdigit, not to int()
            problems.append(f"{source}: --set {visible(key)}: each part of a key is a field name or a list index "
                            "(ASCII digits)")
            continue
        ok, candidates = _schema_has_path(parts)
        if not ok:
            hint = did_you_mean(parts[-1], candidates)
            problems.append(f"{source}: --set {key}: unknown key{hint}")
            continue
        value, problem = _parse_value(raw)
        if problem:
            problems.append(f"{source}: --set {key}: {problem}")
            continue
        cur: Any = data
        for i, p in enumerate(parts[:-1]):
            nxt = parts[i + 1]
            if isinstance(cur, list):
                idx = int(p)
                if idx >= len(cur):
                    problems.append(f"{source}: --set {key}: index {idx} out of range")
                    break
                cur = cur[idx]
            else:
                if not isinstance(cur.get(p), (dict, list)):
                    cur[p] = [] if nxt.isdigit() else {}
                cur = cur[p]
        else:
            last = parts[-1]
            if isinstance(cur, list):
                idx = int(last)
                if idx >= len(cur):
                    problems.append(f"{source}: --set {key}: index {idx} out of range")
                    continue
                cur[idx] = value
            else:
                cur[last] = value
    return problems


def _is_index(part: str) -> bool:
    return part.isascii() and part.isdigit()


def _parse_value(raw: str) -> tuple[Any, str | None]:
    """A `--set` value, parsed by the suite file's loader: the same refusals (duplicate keys, unsafe tags, alias
    bombs, nesting too deep), each as one line."""
    if not raw.strip():
        return "", None
    problems: list[str] = []
    try:
        value, _ = parse_yaml(raw, "", problems)
    except SuiteError as err:
        problems.append(str(err))
    if problems:
        why = re.sub(r"^:?\d*:? *", "", problems[0])
        return None, f"cannot parse value {_short(repr(raw), 60)}: {_short(why)}"
    return value, None


def _short(text: str, limit: int = 200) -> str:
    text = visible(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _schema_has_path(parts: list[str]) -> tuple[bool, list[str]]:
    """Walk the schema along a path that may hold list indices; method options accept any method's field."""
    cur: Any = Suite
    for i, part in enumerate(parts):
        if part.isdigit():
            continue
        if not (isinstance(cur, type) and issubclass(cur, BaseModel)):
            return False, []
        if cur is PruneConfig and part == "methods" and i + 1 < len(parts):
            fields = {f for options in OPTIONS.values() for f in options.model_fields}
            rest = [p for p in parts[i + 1 :] if not p.isdigit()]
            if not rest or (len(rest) == 1 and rest[0] in fields):  # a whole entry, or one option of it
                return True, []
            return False, sorted(fields)
        if part not in cur.model_fields:
            return False, list(cur.model_fields)
        cur = unwrap(cur.model_fields[part].annotation)
    return True, []


def did_you_mean(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
