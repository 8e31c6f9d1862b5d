"""Issue 22, class 6: bad input or environment ends in one line and exit 2 (or a warning and a run), never a
traceback: odd `--set` keys and values, numbers beyond what any machine holds (checked before anything is
allocated), damaged or unwritable caches, decompression bombs, symlink loops, a non-UTF-8 terminal, old manifests,
lock files that are not ecobench's, a disk that fills mid-run, Ray options that cannot work."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

from .conftest import TINY_CELLS, cell_lines, copy_folder, ecobench, run_inprocess, tiny_args, write_manifest
from .hostile import Case, both, run_case, suite

TEXT = "hello world. " * 400  # the corpus hostile.suite() writes


def _bpe_cache_damaged(tmp: Path) -> None:
    sha = hashlib.sha256(TEXT.encode()).hexdigest()
    (tmp / "cache" / "tokenizers").mkdir(parents=True)
    for name in (f"bpe-1024-{sha[:16]}-train0.1", f"bpe-1024-{sha[:16]}"):  # fitted on the training split; before
        (tmp / "cache" / "tokenizers" / f"{name}.json").write_bytes(b'{"version": "1.0", "model": {"vocab": [}}\x00')


def _a_file(tmp: Path) -> None:
    (tmp / "afile").write_text("not a folder")


def _loop(name: str):
    def setup(tmp: Path) -> None:
        os.symlink(tmp / name, tmp / name)

    return setup


def _images(*sizes: tuple[int, int]):
    """A JSONL of image-question-answer lines over images of these sizes (1-bit PNGs: small files, any size)."""

    def setup(tmp: Path) -> None:
        from PIL import Image

        lines = []
        for i, size in enumerate(sizes):
            Image.new("1", size).save(tmp / f"im{i}.png", optimize=False)
            lines.append(json.dumps({"image": f"im{i}.png", "question": "what digit?", "answer": "1"}))
        (tmp / "corpus.txt").write_text("\n".join(lines) + "\n")

    return setup


LLAVA = ("  n_embd: 16", "  n_embd: 16\n  family: llava")

CATALOGUE = [
    # --set
    Case("set_key_superscript_digit", ["validate", "{tmp}/s.yaml", "--set", "seeds.²=1"],
         "--set seeds.²: each part of a key is a field name or a list index", setup=suite()),
    Case("set_key_empty_part", ["validate", "{tmp}/s.yaml", "--set", "train..steps=1"], "each part of a key",
         setup=suite()),
    Case("set_value_nested_too_deeply", ["validate", "{tmp}/s.yaml", "--set", "train.steps=" + "[" * 5000],
         "--set train.steps: cannot parse value", setup=suite()),
    # numbers beyond any machine
    Case("seed_2_64", ["validate", "{tmp}/s.yaml"], "seeds: seeds must be at most 4,294,967,295",
         setup=suite(("seeds: [0]", "seeds: [18446744073709551616]"))),
    Case("seed_2_64_minus_1", ["validate", "{tmp}/s.yaml"], "seeds: seeds must be at most",
         setup=suite(("seeds: [0]", "seeds: [18446744073709551615]"))),
    Case("n_embd_1e11", ["validate", "{tmp}/s.yaml"], "model.n_embd: the model (",
         setup=suite(("n_embd: 16", "n_embd: 100000000000"))),
    Case("batch_size_1e11_forecast", ["validate", "{tmp}/s.yaml", "--forecast"],
         "train.batch_size: a training batch (100,000,000,000 x 16 tokens) needs at least",
         setup=suite(("batch_size: 4", "batch_size: 100000000000"))),
    Case("batch_size_1e15_beyond_any_count", ["validate", "{tmp}/s.yaml", "--forecast"],
         "train.batch_size: Input should be less than or equal to 1099511627776, got 1000000000000000",
         setup=suite(("batch_size: 4", "batch_size: 1000000000000000"))),
    Case("intermediate_huge", ["validate", "{tmp}/s.yaml", "--set", "model.intermediate=100000000000"],
         "model.intermediate: the model (", setup=suite()),
    Case("threads_beyond_any_machine", ["validate", "{tmp}/s.yaml", "--set", "train.threads=1000000000000"],
         "train.threads: Input should be less than or equal to 1024", setup=suite()),
    Case("max_chars_beyond_an_index", ["validate", "{tmp}/s.yaml", "--set", "data.max_chars=" + "9" * 30],
         "data.max_chars: Input should be less than or equal to 1099511627776", setup=suite()),
    Case("steps_beyond_any_run", ["validate", "{tmp}/s.yaml", "--set", "train.steps=" + "9" * 30],
         "train.steps: Input should be less than or equal to", setup=suite()),
    Case("idle_seconds_beyond_a_day", ["validate", "{tmp}/s.yaml", "--set", "footprint.idle_seconds=1e300"],
         "footprint.idle_seconds: Input should be less than or equal to 86400", setup=suite()),
    Case("eval_batches_beyond_any_split", ["validate", "{tmp}/s.yaml", "--set", "eval.batches=" + "9" * 30],
         "eval.batches: ", setup=suite()),
    Case("eval_batch_size_huge", ["validate", "{tmp}/s.yaml", "--set", "eval.batch_size=100000000000"],
         "eval.batch_size: an evaluation batch", setup=suite()),
    # caches
    Case("bpe_cache_damaged", ["validate", "{tmp}/s.yaml"], "unreadable", rc=0, env={"ECOBENCH_CACHE": "{tmp}/cache"},
         setup=both(suite(("  context: 16", "  context: 16\n  tokenizer: bpe")), _bpe_cache_damaged),
         written=("cache",)),
    Case("cache_folder_cannot_be_made", ["validate", "{tmp}/s.yaml"], "working without a cache", rc=0,
         env={"ECOBENCH_CACHE": "{tmp}/afile/cache"}, setup=both(suite(), _a_file)),
    Case("home_is_a_file", ["validate", "{tmp}/s.yaml"], "working without a cache", rc=0,
         env={"ECOBENCH_CACHE": "", "HOME": "{tmp}/afile", "XDG_CACHE_HOME": "{tmp}/afile/.cache"},
         setup=both(suite(), _a_file)),
    # images
    Case("png_over_the_pixel_cap", ["validate", "{tmp}/s.yaml"], "pixels; at most 16,777,216",
         setup=both(suite(LLAVA), _images((8, 8), (5000, 5000)))),
    Case("png_decompression_bomb", ["validate", "{tmp}/s.yaml"], "cannot be decoded (DecompressionBombError",
         setup=both(suite(LLAVA), _images((8, 8), (14000, 14000)))),
    # symlink loops
    Case("loop_as_corpus", ["validate", "{tmp}/s.yaml"], "data.path: no file matches",
         setup=both(suite(("path: {tmp}/corpus.txt", "path: {tmp}/loop")), _loop("loop"))),
    Case("loop_as_suite", ["validate", "{tmp}/loop"], "cannot read suite", setup=_loop("loop")),
    Case("loop_as_out", ["run", "{tmp}/s.yaml", "--out", "{tmp}/loop", "-q"], "loop",
         setup=both(suite(), _loop("loop"))),
    Case("loop_as_pretrained", ["validate", "{tmp}/s.yaml"], "model.pretrained: no such directory",
         setup=both(suite(("  n_layer: 1", "  pretrained: {tmp}/loop\n  n_layer: 1")), _loop("loop"))),
    Case("loop_as_compared_run", ["compare", "{tmp}/loop"], "a symlink loop", setup=_loop("loop")),
    Case("loop_as_plot_folder", ["plot", "{tmp}/loop", "--out", "{tmp}/figs"], "a symlink loop", setup=_loop("loop")),
    # Ray options
    Case("ray_port_beyond_65535", ["run", "{tmp}/s.yaml", "--executor", "ray", "--address", "127.0.0.1:99999999999"],
         "--address 127.0.0.1:99999999999: port 99999999999 is not a TCP port", setup=suite()),
    Case("ray_shared_dir_is_a_file", ["run", "{tmp}/s.yaml", "--executor", "ray", "--shared-dir", "{tmp}/afile"],
         "--shared-dir", setup=both(suite(), _a_file)),
]


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda c: c.id)
def test_environment_catalogue(case: Case, tmp_path: Path, capsys, monkeypatch, caplog) -> None:
    run_case(case, tmp_path, capsys, monkeypatch, caplog)


def _one_error(rc: int, err: str, expect: str) -> None:
    assert rc == 2 and "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expect in errors[0], err


def test_compare_accuracy_on_a_text_run(tiny_run: Path, capsys) -> None:
    rc, _, err = run_inprocess(["compare", str(tiny_run), "--metric", "accuracy"], capsys)
    _one_error(rc, err, "--metric accuracy: these runs hold no accuracy")


def test_statement_of_an_older_manifest_with_a_null_site_factor(tiny_run: Path, tmp_path: Path, capsys) -> None:
    run = copy_folder(tiny_run, tmp_path / "r")
    m = json.loads((run / "manifest.json").read_text())
    for key in ("carbon_intensity_g_per_kwh", "wue_l_per_kwh", "ewif_l_per_kwh"):
        m["footprint"]["site"][key] = None
    write_manifest(run, m)
    rc, out, err = run_inprocess(["statement", str(run)], capsys)
    assert "Traceback" not in err
    if rc == 2:  # a total that cannot be computed without the factor: said in one line
        _one_error(rc, err, str(run))
    else:
        assert "unrecorded" in out


@pytest.mark.parametrize("lock", ["dir", "list", "null", "pid_beyond_os_kill"])
def test_lock_files_that_are_not_ecobenchs(lock: str, tiny_run: Path, tmp_path: Path, capsys) -> None:
    """A lock that is a folder is refused in one line; one that is not a JSON object (or names a pid no process can
    have) is an unreadable or stale lock: refused with a hint while fresh, taken over once stale; never a traceback."""
    run = copy_folder(tiny_run, tmp_path / "r")
    path = run / "lock.json"
    if lock == "dir":
        path.mkdir()
    else:
        path.write_text({"list": "[1, 2]", "null": "null",
                         "pid_beyond_os_kill": json.dumps({"pid": 2**80, "host": socket.gethostname()})}[lock])
    rc, _, err = run_inprocess(tiny_args(run), capsys)
    assert "Traceback" not in err
    if lock == "dir":
        _one_error(rc, err, "lock.json: is a folder, not a")
    elif lock == "pid_beyond_os_kill":
        assert rc == 0, err  # no process has that pid: a stale lock, taken over
    else:
        _one_error(rc, err, "is unreadable (being written, or damaged); re-run in 10 s")
        old = path.stat().st_mtime - 60
        os.utime(path, (old, old))
        rc, _, err = run_inprocess(tiny_args(run), capsys)
        assert rc == 0 and "Traceback" not in err, err


def test_disk_that_fills_mid_run(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC on the third row: one line naming the cause and how to resume; every row written is whole; the resume
    finishes the sweep."""
    from ecobench.store import RunStore

    real = RunStore.append
    calls = {"n": 0}

    def append(self, record) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.cells_path))
        real(self, record)

    monkeypatch.setattr(RunStore, "append", append)
    out = tmp_path / "r"
    rc, _, err = run_inprocess(tiny_args(out), capsys)
    _one_error(rc, err, "No space left on device; free some space and re-run the same command")
    assert len(cell_lines(out)) == 2
    monkeypatch.setattr(RunStore, "append", real)
    assert ecobench(tiny_args(out)) == 0
    assert len(cell_lines(out)) == TINY_CELLS


@pytest.mark.slow
@pytest.mark.parametrize("command", ["compare", "statement"])
def test_non_utf8_terminal(command: str, tiny_run: Path, tmp_path: Path) -> None:
    """LC_ALL=C, PYTHONUTF8=0: 'Δ', '±' and 'µ' become escapes, not a UnicodeEncodeError."""
    proc = run_cli(command, str(tiny_run), env={"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0",
                                                 "PYTHONIOENCODING": ""})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout


@pytest.mark.slow  # a fresh interpreter (~2.5 s)
def test_a_reader_that_closes_the_pipe_early_ends_the_command_quietly() -> None:
    """`ecobench doctor | head -1`: the reader gone before the first line, the command ends as one killed by SIGPIPE
    would (141), without a traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "ecobench", "doctor"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdout.close()  # before the command has written anything
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err


@pytest.mark.slow
def test_non_ascii_output_path_under_the_c_locale(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "sté.txt"
    proc = run_cli("statement", str(tiny_run), "-o", str(out), env={"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert out.stat().st_size > 0
