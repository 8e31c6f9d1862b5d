"""Shared fixtures: an isolated cache, and one real run of the smoke suite that report tests read."""

from __future__ import annotations

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    # one torch thread per worker, inherited by the runs it starts: two workers of two spinning threads each on two
    # cores stall one another (a smoke run took 80 s instead of 10)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

import ecobench.suites  # noqa: F401 (registers the methods and grid data that suites are validated against)

if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch

    torch.set_num_threads(1)

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


def shared_run(tmp_path_factory: pytest.TempPathFactory | None, name: str, make: Callable[[Path], None],
               held: threading.Event | None = None) -> Path:
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
        if held is not None:
            held.set()  # the lock is ours: whoever asks next waits for the folder
        if not (home / ".made").exists():
            shutil.rmtree(home, ignore_errors=True)  # a half-made one (its maker failed or was killed)
            home.mkdir()
            make(out)
            (home / ".made").touch()
    return out


def _make_smoke(out: Path, env: dict | None = None) -> None:
    proc = run_cli("run", str(SUITES / "smoke.yaml"), "--out", str(out), "-q", timeout=RUN_TIMEOUT_S, env=env)
    assert proc.returncode == 0, proc.stderr


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Under `make test` (ECOBENCH_TEST_RUNS, pytest-xdist) the controller starts the smoke run in the background
    before the workers start, holding its lock until it is made: the workers run other tests meanwhile instead of
    one making it while the other waits for it (~30 s of each tier's start)."""
    runs = os.environ.get("ECOBENCH_TEST_RUNS")
    if not runs or os.environ.get("PYTEST_XDIST_WORKER") or not session.config.getoption("numprocesses", None):
        return
    held = threading.Event()
    env = {"ECOBENCH_CACHE": str(Path(runs) / "cache"), "OMP_NUM_THREADS": "1"}  # never the user's own cache

    def make() -> None:
        shared_run(None, "smoke", lambda out: _make_smoke(out, env), held)

    threading.Thread(target=make, daemon=True).start()
    held.wait(timeout=60)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files whose tests read the smoke run go last (order otherwise kept): with the smoke run made in the
    background (pytest_sessionstart), the workers run the other files first instead of waiting for it. Within each
    part, files with a test marked `early` (long ones) go first: the last file a worker takes is then a short one."""
    def file(item: pytest.Item) -> str:
        return item.nodeid.split("::")[0]

    reads = {file(item) for item in items if "smoke_run" in getattr(item, "fixturenames", ())}
    early = {file(item) for item in items if item.get_closest_marker("early")}
    items.sort(key=lambda item: (file(item) in reads, file(item) not in early))


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder written by the real runner from suites/smoke.yaml as shipped (about 30 s, once:
    `shared_run`)."""
    return shared_run(tmp_path_factory, "smoke", _make_smoke)
