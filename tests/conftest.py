"""Shared fixtures: an isolated cache, and one real run of the smoke suite that report tests read."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

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


def shared_run(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """The results folder `<name>/<name>` made once by `make(folder)` and read by every test that asks for it: once
    per `make test` when ECOBENCH_TEST_RUNS names a folder (both tiers read it), else once per pytest session; with
    pytest-xdist the first worker to ask makes it and the others wait on a file lock. Tests never change it (they
    change copies), so sharing it is sharing a read-only input."""
    if os.environ.get("ECOBENCH_TEST_RUNS"):
        root = Path(os.environ["ECOBENCH_TEST_RUNS"])
    elif os.environ.get("PYTEST_XDIST_WORKER"):
        root = tmp_path_factory.getbasetemp().parent  # this session's folder, above every worker's own
    else:
        root = tmp_path_factory.getbasetemp()
    home = root / "shared-runs" / name
    home.parent.mkdir(parents=True, exist_ok=True)
    out = home / name
    with FileLock(str(home.parent / f"{name}.lock")):
        if not (home / ".made").exists():
            shutil.rmtree(home, ignore_errors=True)  # a half-made one (its maker failed or was killed)
            home.mkdir()
            make(out)
            (home / ".made").touch()
    return out


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder written by the real runner from suites/smoke.yaml (about 12 s, once: `shared_run`)."""

    def make(out: Path) -> None:
        proc = run_cli("run", str(SUITES / "smoke.yaml"), "--out", str(out), "-q", timeout=RUN_TIMEOUT_S)
        assert proc.returncode == 0, proc.stderr

    return shared_run(tmp_path_factory, "smoke", make)
