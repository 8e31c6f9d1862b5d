"""Names the file system and the page can hold (validate refuses the rest); the report writes out control and
direction characters; SIGTERM releases the lock like SIGINT; compare's mismatch lines read 'this run's value !=
the first run's'."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecobench.report.html import esc
from ecobench.store import LOCK
from tests.conftest import ROOT

from .conftest import (
    SMOKE,
    copy_folder,
    one_line_error,
    run_inprocess,
    set_args,
    tiny_args,
    write_manifest,
    write_rows,
)


@pytest.mark.parametrize(("sets", "why"), [
    (["name=" + "a" * 250], "at most 238"),  # reproduction 5: validated, then 'File name too long' in run
    (["name=" + "é" * 120], "at most 238"),  # 240 bytes: bytes count, not characters
    (["name=smo\u202eekat"], "U+202E"),
    (["name=a\u2066b"], "U+2066"),
    (["name=\"a\\x1bb\""], "U+001B"),  # a YAML escape: a raw control character is refused by YAML itself
    (["model.name=m\u202bx"], "U+202B"),
])
def test_validate_refuses_names_that_cannot_be_held(capsys, sets: list[str], why: str) -> None:
    rc, _, err = run_inprocess(["validate", str(SMOKE), *set_args(sets)], capsys)
    assert rc == 2 and why in one_line_error(err)


def test_the_longest_valid_name_runs(tmp_path: Path, capsys) -> None:
    name = "a" * 238
    rc, _, err = run_inprocess(["validate", str(SMOKE), *set_args([f"name={name}"])], capsys)
    assert rc == 0, err
    assert len(f"{name}-20250101T000000Z".encode()) == 255


def test_the_report_writes_out_direction_and_control_characters(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """Reproduction 7: a suite name with direction overrides reached the HTML raw."""
    out = copy_folder(tiny_run, tmp_path / "r")
    m = json.loads((out / "manifest.json").read_text())
    m["suite_file"] = "evil\u202eLMTH.yaml\x07"
    write_manifest(out, m)
    rc, _, err = run_inprocess(["report", str(out), "--out", str(tmp_path / "r.html")], capsys)
    assert rc == 0, err
    page = (tmp_path / "r.html").read_text()
    assert "\u202e" not in page and "\x07" not in page and "evil\\u202eLMTH.yaml\\u0007" in page
    assert esc("a\u2067<b>") == "a\\u2067&lt;b&gt;"


def test_compare_mismatch_prints_this_run_then_the_first(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """Reproduction 7: the two values of a mismatch were printed in reverse order."""
    from ecobench.config.base import fingerprint_of

    other = copy_folder(tiny_run, tmp_path / "other")
    m = json.loads((other / "manifest.json").read_text())
    m["suite"]["train"]["lr"] = 0.5
    m["suite_fingerprint"] = fingerprint_of(m["suite"])
    write_manifest(other, m)
    rows = [json.loads(x) for x in (other / "cells.jsonl").read_text().splitlines()]
    write_rows(other, [{**r, "suite_fingerprint": m["suite_fingerprint"]} for r in rows])
    lr = json.loads((tiny_run / "manifest.json").read_text())["suite"]["train"]["lr"]
    rc, _, err = run_inprocess(["compare", str(tiny_run), str(other)], capsys)
    assert rc == 2 and f"other vs ref: train.lr: 0.5 != {lr!r}" in err


@pytest.mark.slow
def test_sigterm_releases_the_lock(tmp_path: Path) -> None:
    """Reproduction 7: SIGTERM left the lock behind."""
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "ecobench", *tiny_args(out)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 180
        while not (out / LOCK).exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143 and "terminated; re-run the same command to resume" in err, err
    assert "Traceback" not in err and not (out / LOCK).exists()


def test_sigterm_inside_a_finalizer_still_terminates() -> None:
    """A SIGTERM that lands in a `__del__` (seen in CI: regex's Group.__del__) must not be swallowed with a printed
    traceback: it sets the flag, and the next check stops the run."""
    from ecobench import signals

    class Finalised:
        def __del__(self):
            signals.on_sigterm(signal.SIGTERM, sys._getframe())

    previous = signals.install()
    try:
        Finalised()  # collected at once: the handler runs inside __del__ and must not raise there
        assert signals.requested()
        with pytest.raises(signals.Terminated):
            signals.check()
        with pytest.raises(signals.Terminated):  # outside a finalizer it raises at once
            signals.on_sigterm(signal.SIGTERM, sys._getframe())
    finally:
        signals.restore(previous)
        signals.install()  # clears the flag for the tests that follow
        signals.restore(previous)
