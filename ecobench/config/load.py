"""Loading a suite file: read (bounded, UTF-8), parse (safe YAML with lines), apply `--set`, validate; every
problem is reported at once in one SuiteError, before any work."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from ecobench.config.errors import OVERRIDDEN, format_errors, where_in
from ecobench.config.overrides import apply_overrides
from ecobench.config.schema import MAX_CELLS, Suite
from ecobench.config.yaml import parse_yaml
from ecobench.errors import SuiteError

MAX_SUITE_BYTES = 1_000_000  # a suite is a page of YAML; anything bigger is a mistake (or an attack)


@dataclass(frozen=True)
class SuiteFile:
    """A validated suite with where it came from, so later checks (data, sensors) can cite file and line."""

    suite: Suite
    source: str
    lines: dict

    def where(self, field: str) -> str:
        """`file:line` of the deepest part of a dotted field path that the file spells out."""
        parts = tuple(field.split("."))
        for k in range(len(parts), 0, -1):
            if parts[:k] in self.lines:
                return where_in(self.source, self.lines[parts[:k]])
        return self.source


def load_suite(path: str | Path, overrides: list[str] | None = None) -> SuiteFile:
    """Read, parse and validate a suite file; every problem is reported in one SuiteError."""
    path = Path(path)
    source = str(path)
    try:
        st = path.stat()
    except OSError as err:
        raise SuiteError(f"{source}: cannot read suite: {err.strerror}") from err
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block the read, a device (/dev/zero) never end it
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device or socket"
        raise SuiteError(f"{source}: cannot read suite: it is {kind}, not a regular file")
    if st.st_size > MAX_SUITE_BYTES:
        raise SuiteError(f"{source}: the file is {st.st_size / 1e6:.1f} MB; a suite is at most {MAX_SUITE_BYTES // 1000} kB")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_SUITE_BYTES + 1)  # bounded even if the file grew since
    except OSError as err:
        raise SuiteError(f"{source}: cannot read suite: {err.strerror or err}") from err
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            what = "it looks like UTF-16; save it as UTF-8"
        else:
            what = f"byte 0x{raw[err.start]:02x} cannot be decoded; save it as UTF-8"
        raise SuiteError(f"{source}:{line}: the suite is not UTF-8 text ({what})") from err
    return suite_from_text(text, source, overrides)


def suite_from_text(text: str, source: str = "<suite>", overrides: list[str] | None = None) -> SuiteFile:
    yaml_problems: list[str] = []
    data, lines = parse_yaml(text, source, yaml_problems)
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise SuiteError(f"{source}:1: the suite must be a mapping of sections (name, seeds, ...), got a {kind}")
    problems = yaml_problems + apply_overrides(data, overrides or [], source)
    for item in overrides or []:
        path = tuple(int(p) if p.isascii() and p.isdigit() else p for p in item.partition("=")[0].split("."))
        for k in [k for k in lines if k[: len(path)] == path]:
            del lines[k]
        lines[path] = OVERRIDDEN
    try:
        suite = Suite.model_validate(data)
    except ValidationError as err:
        problems += format_errors(err, lines, source, data)
        suite = None
    if suite is not None and suite.grid_too_large():
        problems.append(f"{where_in(source, lines.get(('prune',)))}: prune: the sweep has more than {MAX_CELLS:,} "
                        "cells (seeds x methods x scopes x ratios); split it into several suites")
    if problems:
        raise SuiteError(problems[0], problems)
    return SuiteFile(suite, source, lines)
