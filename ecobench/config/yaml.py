"""A safe YAML loader that records the line of every key path and refuses duplicate keys, unsafe tags and
alias bombs, so every later problem can be reported as `file:line: field: message`."""

from __future__ import annotations

import re
from typing import Any

import yaml

from ecobench.errors import SuiteError

MAX_SUITE_VALUES = 100_000  # keys and values after YAML aliases are expanded


class SuiteLoader(yaml.SafeLoader):
    """SafeLoader that records the line of every key path and refuses duplicate keys."""


# YAML 1.1 reads `3e-4` (no dot) as a string; suites mean a number, as YAML 1.2 and JSON do
SuiteLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def _construct(loader: SuiteLoader, node: yaml.Node, path: tuple, lines: dict, problems: list[str]) -> Any:
    # aliases may share nodes: refuse a node inside itself, and cap the expanded size ("billion laughs")
    loader.ecobench_nodes = getattr(loader, "ecobench_nodes", 0) + 1
    if loader.ecobench_nodes > MAX_SUITE_VALUES:
        raise yaml.constructor.ConstructorError(
            None, None, f"the suite expands to more than {MAX_SUITE_VALUES:,} values (YAML aliases?)", node.start_mark
        )
    active = loader.__dict__.setdefault("ecobench_active", set())
    if id(node) in active:
        raise yaml.constructor.ConstructorError(None, None, "a YAML alias refers to itself", node.start_mark)
    active.add(id(node))
    try:
        return _construct_node(loader, node, path, lines, problems)
    finally:
        active.discard(id(node))


def _construct_node(loader: SuiteLoader, node: yaml.Node, path: tuple, lines: dict, problems: list[str]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in (
        "tag:yaml.org,2002:map",
        "tag:yaml.org,2002:seq",
    ):
        return loader.construct_object(node, deep=True)  # SafeLoader refuses python/* and unknown tags
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                problems.append(f"{key_node.start_mark.line + 1}: {dotted(path) or '(top)'}: keys must be strings, got {key!r}")
                continue
            if key in out:
                problems.append(f"{key_node.start_mark.line + 1}: {dotted(path + (key,))}: duplicate key")
                continue
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _construct(loader, value_node, path + (key,), lines, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, v, path + (i,), lines, problems) for i, v in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def dotted(path: tuple) -> str:
    s = ""
    for p in path:
        s += f"[{p}]" if isinstance(p, int) else (f".{p}" if s else str(p))
    return s


def parse_yaml(text: str, source: str, problems_out: list[str] | None = None) -> tuple[Any, dict[tuple, int]]:
    """YAML -> (data, {key path: line}). Raises SuiteError for syntax errors, unsafe tags and duplicate keys;
    with `problems_out`, duplicate and non-string keys go there instead (the first value is kept) so that they
    are reported together with the schema's problems."""
    loader = None
    try:
        loader = SuiteLoader(text)  # its reader refuses control characters (NUL, ...) here, as a YAMLError
        node = loader.get_single_node()
        if node is None:
            raise SuiteError(f"{source}: the file is empty", [f"{source}: the file is empty"])
        problems: list[str] = []
        lines: dict[tuple, int] = {}
        data = _construct(loader, node, (), lines, problems)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        what = (err.problem or str(err)).strip()
        if "python/" in what or "could not determine a constructor" in what:
            what = f"unsafe or unknown YAML tag ({what}); suites are plain data"
        raise SuiteError(f"{where}: {what}", [f"{where}: {what}"]) from err
    except yaml.reader.ReaderError as err:  # a character YAML does not allow (NUL, other control characters)
        line = text.count("\n", 0, max(0, err.position)) + 1
        char = err.character if isinstance(err.character, int) else ord(err.character)
        msg = f"{source}:{line}: character #x{char:04x} is not allowed in YAML; a suite is plain text"
        raise SuiteError(msg, [msg]) from err
    except yaml.YAMLError as err:
        msg = f"{source}: " + "; ".join(part.strip() for part in str(err).splitlines() if part.strip())
        raise SuiteError(msg, [msg]) from err
    except RecursionError as err:
        msg = f"{source}: the YAML is nested too deeply"
        raise SuiteError(msg, [msg]) from err
    finally:
        if loader is not None:
            loader.dispose()
    if problems:
        msgs = [f"{source}:{p}" for p in problems]
        if problems_out is None:
            raise SuiteError(msgs[0], msgs)
        problems_out += msgs
    return data, lines
