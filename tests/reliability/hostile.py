"""The contract every hostile-input catalogue (issue 22) checks, after test_malformed_suites.py's pattern: each case
exits 0 or 2; a refusal is one `error:` line naming what is wrong; no traceback; nothing written (no file under the
case's folder created or changed, none outside it either); every command finishes within a bound."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import run_inprocess

BOUND_S = 120.0  # every command of a catalogue, on a loaded 2-core machine (most take well under a second)


@dataclass
class Case:
    id: str
    args: list[str]  # ecobench arguments; {tmp} is the case's folder
    expect: str  # a piece of the error line (rc 2) or of the output (rc 0)
    rc: int = 2
    setup: Callable[[Path], None] | None = None  # builds the case's files under its folder
    written: tuple[str, ...] = ()  # paths (relative to the folder) the command may write
    env: dict[str, str] = field(default_factory=dict)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under `root` with its size and mtime (symlinks not followed; loops and FIFOs are fine)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns)
    return out


def run_case(case: Case, tmp: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
             caplog: pytest.LogCaptureFixture | None = None) -> tuple[str, str]:
    """Set the case up under `tmp`, run it in-process, check the contract; (stdout, stderr)."""
    monkeypatch.chdir(tmp)
    for k, v in case.env.items():
        monkeypatch.setenv(k, v.replace("{tmp}", str(tmp)))
    if case.setup:
        case.setup(tmp)
    before = snapshot(tmp)
    tic = time.monotonic()
    rc, out, err = run_inprocess([a.replace("{tmp}", str(tmp)) for a in case.args], capsys)
    elapsed = time.monotonic() - tic
    assert_contract(case, rc, out, err + (caplog.text if caplog is not None else ""), elapsed)
    after = snapshot(tmp)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k)
                     and not any(k == w or k.startswith(w + os.sep) for w in case.written))
    assert changed == [], f"written: {changed}"
    return out, err


def assert_contract(case: Case, rc: int, out: str, err: str, elapsed: float) -> None:
    assert "Traceback" not in err + out, err
    assert rc == case.rc, f"exit {rc}, expected {case.rc}\n{err}"
    assert elapsed < BOUND_S, f"took {elapsed:.0f} s"
    if rc == 2:
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, err
        others = [line for line in err.splitlines()
                  if line.strip() and not line.startswith(("error:", "WARNING"))]
        assert others == [], f"the error spans more than one line:\n{err}"
        assert case.expect in errors[0], f"\nexpected: {case.expect}\ngot:      {errors[0]}"
        assert "\n" not in errors[0]
    else:
        assert case.expect in out + err, f"expected {case.expect!r} in\n{out}\n{err}"


SUITE = """\
name: tiny
seeds: [0]
data:
  corpus: path
  path: {tmp}/corpus.txt
  context: 16
model:
  n_layer: 1
  n_head: 2
  n_embd: 16
train:
  steps: 4
  batch_size: 4
prune:
  methods:
    - name: magnitude
  ratios: [0, 0.5]
footprint:
  idle_seconds: 0
"""


def suite(*edits: tuple[str, str], extra: str = "", name: str = "s.yaml") -> Callable[[Path], None]:
    """A setup writing the small suite above (with `edits` as (old, new) replacements and `extra` appended) to
    `name`, and its corpus."""

    def setup(tmp: Path) -> None:
        text = SUITE
        for old, new in edits:
            assert old in text, old
            text = text.replace(old, new, 1)
        (tmp / "corpus.txt").write_text("hello world. " * 400)
        (tmp / name).write_text((text + extra).replace("{tmp}", str(tmp)))

    return setup


def both(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        for s in setups:
            s(tmp)

    return setup
