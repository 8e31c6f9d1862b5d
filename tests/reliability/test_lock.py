"""One writer per results folder: a second run stops at once naming the holder; a dead holder's lock is taken over."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecobench.errors import LockedError
from ecobench.store import LOCK, Lock
from tests.conftest import ROOT

from .conftest import run_inprocess, tiny_args


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def _write_lock(path: Path, **holder) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"since": "2025-01-01T00:00:00Z", **holder}))


@pytest.mark.slow
def test_second_run_stops_at_once_naming_the_holder(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    log = tmp_path / "log"
    with open(log, "wb") as f:
        first = subprocess.Popen([sys.executable, "-m", "ecobench", *tiny_args(out)], cwd=ROOT, stdout=f,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not (out / LOCK).exists():
            assert first.poll() is None, log.read_text()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        t0 = time.monotonic()
        rc, _, err = run_inprocess(tiny_args(out), capsys)
        elapsed = time.monotonic() - t0
        assert rc == 2
        assert f"pid {first.pid} on {socket.gethostname()}" in err
        assert "another ecobench run holds this results folder" in err and "Traceback" not in err
        assert elapsed < 10, f"the second run took {elapsed:.1f} s to refuse"
        assert json.loads((out / LOCK).read_text())["pid"] == first.pid  # the refused run left the lock alone
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    lock = Lock(out / LOCK)  # its holder is dead now: the lock is taken over
    lock.acquire()
    assert json.loads((out / LOCK).read_text())["pid"] == os.getpid()
    lock.release()
    assert not (out / LOCK).exists()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path, caplog) -> None:
    dead = _dead_pid()
    _write_lock(tmp_path / LOCK, pid=dead, host=socket.gethostname())
    lock = Lock(tmp_path / LOCK)
    with caplog.at_level(logging.WARNING):
        lock.check()  # not held: no error
        lock.acquire()
    assert f"taking over a stale lock of dead process {dead}" in caplog.text
    held = json.loads((tmp_path / LOCK).read_text())
    assert held["pid"] == os.getpid() and held["host"] == socket.gethostname()
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK]  # no temporary or stale files left behind
    lock.release()


def test_live_holder_is_refused_with_pid_and_host(tmp_path: Path) -> None:
    _write_lock(tmp_path / LOCK, pid=os.getppid(), host=socket.gethostname())
    for attempt in (Lock(tmp_path / LOCK).check, Lock(tmp_path / LOCK).acquire):
        with pytest.raises(LockedError, match=rf"pid {os.getppid()} on {socket.gethostname()}"):
            attempt()


def test_lock_of_another_host_is_never_presumed_dead(tmp_path: Path) -> None:
    _write_lock(tmp_path / LOCK, pid=_dead_pid(), host="some-other-node")
    with pytest.raises(LockedError, match="on some-other-node"):
        Lock(tmp_path / LOCK).acquire()


def test_unreadable_lock_is_debris_only_once_old(tmp_path: Path) -> None:
    path = tmp_path / LOCK
    path.write_text("")  # what a crash between create and write left, before locks were linked into place
    with pytest.raises(LockedError):
        Lock(path).acquire()  # fresh: perhaps a writer at work
    old = time.time() - 60
    os.utime(path, (old, old))
    lock = Lock(path)
    lock.acquire()
    assert json.loads(path.read_text())["pid"] == os.getpid()
    lock.release()


def test_release_leaves_another_holders_lock(tmp_path: Path) -> None:
    _write_lock(tmp_path / LOCK, pid=os.getppid(), host=socket.gethostname())
    Lock(tmp_path / LOCK).release()
    assert (tmp_path / LOCK).exists()


def test_refused_run_writes_nothing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    _write_lock(out / LOCK, pid=os.getppid(), host=socket.gethostname())
    rc, _, err = run_inprocess(tiny_args(out), capsys)
    assert rc == 2 and f"pid {os.getppid()}" in err
    assert sorted(p.name for p in out.iterdir()) == [LOCK]
