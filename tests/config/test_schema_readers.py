"""No silently ignored settings: every field of the suite schema is read somewhere outside the schema itself."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from ecobench.config.base import Config
from ecobench.config.overrides import unwrap
from ecobench.config.schema import Suite
from ecobench.prune.methods import REGISTRY

PACKAGE = Path(__file__).resolve().parents[2] / "ecobench"


def _config_classes() -> set[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    todo: list[type[BaseModel]] = [Suite, *(m.options for m in REGISTRY.values())]
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        for f in cls.model_fields.values():
            inner = unwrap(f.annotation)
            if inner is not None and issubclass(inner, Config):
                todo.append(inner)
    return seen


def _readers_source() -> str:
    """Every module but the schema's own definitions (validators there do not count as readers)."""
    skip = {PACKAGE / "config" / "schema.py", PACKAGE / "footprint" / "config.py"}
    return "\n".join(p.read_text() for p in PACKAGE.rglob("*.py") if p not in skip)


def test_every_schema_field_has_a_reader() -> None:
    source = _readers_source()
    unread = []
    for cls in _config_classes():
        for name in cls.model_fields:
            if not re.search(rf"\.{name}\b|[\"']{name}[\"']", source):
                unread.append(f"{cls.__name__}.{name}")
    assert unread == [], f"schema fields nothing reads: {unread}"


def test_the_walk_sees_nested_sections_and_method_options() -> None:
    names = {c.__name__ for c in _config_classes()}
    assert {"Suite", "DataConfig", "PruneConfig", "TargetsConfig", "FootprintConfig", "SiteConfig",
            "TrajectoryOptions", "MagnitudeOptions"} <= names


def test_bias_is_not_a_setting() -> None:
    """`model.bias` was accepted and never used; it is now an unknown key."""
    from ecobench.config.load import suite_from_text
    from ecobench.errors import SuiteError

    text = "name: s\nseeds: [0]\nmodel: {bias: false}\nprune: {methods: [{name: magnitude}], ratios: [0.5]}\n"
    try:
        suite_from_text(text, "s.yaml")
    except SuiteError as err:
        assert err.problems == ["s.yaml:3: model.bias: unknown key"]
    else:
        raise AssertionError("model.bias was accepted")
