"""Report fixtures: a second real run (two seeds, fewer ratios) and helpers to make edited copies of a run."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ecobench.config.base import fingerprint_of
from ecobench.integrity import seal_manifest
from ecobench.record import seal_row
from tests.conftest import RUN_TIMEOUT_S, SUITES, run_cli
from tests.reliability.conftest import run_inprocess


@pytest.fixture(scope="session")
def seeds_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke suite under another name with seeds 1 and 2 and ratios 0 and 0.5: comparable with `smoke_run`
    (only name, seeds and ratios differ) and with two seeds per group for the mean/std checks (~30 s)."""
    out = tmp_path_factory.mktemp("runs") / "seeds"
    proc = run_cli("run", str(SUITES / "smoke.yaml"), "--out", str(out), "-q",
                   "--set", "name=smoke-seeds", "--set", "seeds=[1, 2]", "--set", "prune.ratios=[0, 0.5]",
                   timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture
def cli(capsys: pytest.CaptureFixture):
    """`ecobench ARGS` in this process, answering as `run_cli` does (returncode, stdout, stderr): the report commands
    without a fresh interpreter's imports each time (seconds of CPU per call)."""

    def call(*args: str) -> subprocess.CompletedProcess:
        rc, out, err = run_inprocess(list(args), capsys)
        return subprocess.CompletedProcess(list(args), rc, out, err)

    return call


def copy_run(src: Path, dst: Path, suite_edit=None, cell_edit=None) -> Path:
    """A copy of a real run with its manifest's suite and/or its cell records edited (results the runner wrote,
    changed only where a test needs a value the schema will not produce)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("dense", "lock.json"))
    mpath = dst / "manifest.json"
    m = json.loads(mpath.read_text())
    if suite_edit:
        suite_edit(m)
        m["suite_fingerprint"] = fingerprint_of(m["suite"])  # as a run of the edited suite would have it
    mpath.write_text(json.dumps(seal_manifest(m)))
    if cell_edit or suite_edit:
        cpath = dst / "cells.jsonl"
        recs = [json.loads(line) for line in cpath.read_text().splitlines() if line.strip()]
        for r in recs:
            r["suite_fingerprint"] = m["suite_fingerprint"]
            if cell_edit:
                cell_edit(r)
        cpath.write_text("".join(json.dumps(seal_row(r)) + "\n" for r in recs))
    return dst
