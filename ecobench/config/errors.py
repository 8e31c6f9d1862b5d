"""pydantic's validation errors -> `file:line: field.path: message` lines, with "did you mean" for near misses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from ecobench.config.base import visible
from ecobench.config.methods import OPTIONS
from ecobench.config.overrides import did_you_mean, unwrap
from ecobench.config.schema import PruneConfig, Suite
from ecobench.config.yaml import dotted

OVERRIDDEN = "--set"  # in `lines`: this value came from a --set override, not from the file


def shown(value: Any, limit: int = 100) -> str:
    """A value as the message shows it: its repr, cut short (a --set value may expand to thousands of items)."""
    text = visible(repr(value)) if not isinstance(value, (list, dict)) or len(value) < 1000 else \
        f"a {type(value).__name__} of {len(value):,} items"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def where_in(source: str, line: int | str | None) -> str:
    if line == OVERRIDDEN:
        return f"{source} (--set)"
    return f"{source}:{line}" if line else source


_TYPE_WORDS = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
               "list": "a list", "dict": "a mapping"}


def _is_union_branch(x: Any) -> bool:
    """pydantic names the branch of a plain union in the loc (`literal['layer','global']`, `int`, `list[...]`)."""
    return isinstance(x, str) and (not x.isidentifier() or x in _TYPE_WORDS)


def _literal_choices(expected: str) -> list[str]:
    """pydantic's "'a', 'b' or 'c'" -> ['a', 'b', 'c'], the candidates for "did you mean"."""
    return [c.strip().strip("'") for c in expected.replace(" or ", ",").split(",") if c.strip()]


def _merge_union(errors: list[dict]) -> dict:
    """One error for a value that matched no branch of a union: `expected 'layer' or 'global' or a list, got ...`."""
    wants, cands = [], []
    for e in errors:
        if e["type"] == "literal_error":
            expected = e.get("ctx", {}).get("expected", "")
            wants.append(expected)
            cands += _literal_choices(expected)
        elif e["type"].endswith("_type"):
            base = e["type"].removesuffix("_type").replace("string", "str")
            wants.append(_TYPE_WORDS.get(base, base))
        else:
            wants.append(e["msg"].removeprefix("Value error, "))
    got = errors[0].get("input")
    hint = did_you_mean(got, cands) if isinstance(got, str) else ""
    return {"type": "union_merged", "msg": f"expected {' or '.join(dict.fromkeys(wants))}, got {shown(got)}{hint}"}


def format_errors(err: ValidationError, lines: dict[tuple, int], source: str, data: Any) -> list[str]:
    items: list[tuple[tuple, tuple, Any]] = []  # (loc, raw loc, error or [errors of one union])
    unions: dict[tuple, list] = {}
    for e in err.errors(include_url=False):
        raw = e["loc"]
        loc = tuple(raw)
        cut = next((i for i, x in enumerate(loc) if i > 0 and _is_union_branch(x)), None)
        if cut is None:
            items.append((loc, raw, e))
            continue
        field, rest = loc[:cut], loc[cut + 1 :]
        if field not in unions:
            unions[field] = []
            items.append((field, raw, unions[field]))
        unions[field].append((field + rest, raw, e))
    out = []
    for loc, raw, e in items:
        if isinstance(e, list):
            # a branch that matched the value's shape reports the real problem inside it; else merge the branches
            deeper = [x for x in e if len(x[0]) > len(loc)]
            todo = deeper or [(loc, raw, _merge_union([x[2] for x in e]))]
        else:
            todo = [(loc, raw, e)]
        out += [_format_one(*x, lines, source, data) for x in todo]
    return list(dict.fromkeys(out))


def _format_one(loc: tuple, raw: tuple, e: dict, lines: dict[tuple, int], source: str, data: Any) -> str:
    line = None
    for k in range(len(loc), -1, -1):
        if loc[:k] in lines:
            line = lines[loc[:k]]
            break
    where = where_in(source, line)
    field = dotted(loc) or "(top)"
    msg = e["msg"]
    if e["type"] == "extra_forbidden":
        parent_model = _model_at(raw[:-1], data)
        cands = list(parent_model.model_fields) if parent_model else []
        msg = f"unknown key{did_you_mean(loc[-1], cands)}"
    elif e["type"] == "union_tag_invalid":
        tag = e.get("ctx", {}).get("tag")
        names = list(OPTIONS)
        msg = f"unknown method {shown(tag)}{did_you_mean(tag, names)}; known: {', '.join(names)}"
        field = dotted(loc + ("name",))
    elif e["type"] == "union_tag_not_found":
        msg = f"each method needs a `name` (one of {', '.join(OPTIONS)})"
    elif e["type"] == "literal_error":
        got = e.get("input")
        expected = e.get("ctx", {}).get("expected", "")
        cands = _literal_choices(expected)
        msg = f"{shown(got)} is not one of {expected}{did_you_mean(got, cands)}"
    elif e["type"] == "missing":
        msg = "required field is missing"
    elif e["type"] == "value_error":
        msg = msg.removeprefix("Value error, ")
    elif e["type"] == "too_short" and e.get("ctx", {}).get("actual_length") == 0:
        msg = "must not be empty"
    elif e["type"] in ("model_type", "dict_type"):
        msg = f"expected a mapping (indented `key: value` lines), got {shown(e.get('input'))}"
    elif e["type"] == "string_pattern_mismatch" and loc == ("name",):
        msg = f"a suite name cannot contain '/', '\\' or NUL (it names the results folder), got {shown(e.get('input'))}"
    elif "input" in e and (e["type"].endswith("_type") or e["type"] in _BOUNDS):
        msg = f"{msg}, got {shown(e['input'])}"
    return f"{where}: {field}: {msg}"


_BOUNDS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number")


def _model_at(loc: tuple, data: Any) -> Any:
    """The config class at a raw error location; a method entry's class follows its `name` in the data."""
    cur: Any = Suite
    node: Any = data
    for part in loc:
        node = node[part] if isinstance(node, (dict, list)) and _has(node, part) else None
        if isinstance(part, int):
            if cur == "methods":
                name = node.get("name") if isinstance(node, dict) else None
                cur = OPTIONS.get(name) if isinstance(name, str) else None
            continue
        if cur is PruneConfig and part == "methods":
            cur = "methods"
            continue
        if isinstance(cur, type) and issubclass(cur, BaseModel) and part in cur.model_fields:
            cur = unwrap(cur.model_fields[part].annotation)
        else:
            return None
    return cur if isinstance(cur, type) else None


def _has(node: dict | list, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(part, int) and 0 <= part < len(node)
