"""Shared fixtures: an isolated cache, and one real run of the smoke suite that report tests read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import ecobench.suites  # noqa: F401 (registers the methods and grid data that suites are validated against)

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "suites"
RUN_TIMEOUT_S = 1200  # a whole suite in a subprocess: ~20 s alone, minutes on a machine shared with other builds


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ["ECOBENCH_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["HF_HUB_OFFLINE"] = "1"


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """`ecobench ...` in a subprocess, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "ecobench", *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder written by the real runner from suites/smoke.yaml (about 20 s, once per test session)."""
    out = tmp_path_factory.mktemp("runs") / "smoke"
    proc = run_cli("run", str(SUITES / "smoke.yaml"), "--out", str(out), "-q", timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    return out
