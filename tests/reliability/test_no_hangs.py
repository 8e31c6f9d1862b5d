"""Nothing hangs (issue 22, class 5): a FIFO or a device where a file is expected is refused before it is read
(results files, the lock, a suite, a corpus, an image), and every network wait has a deadline (a corpus URL that
drips bytes, a Ray address that accepts TCP but is not Ray). Each case exits 0 or 2 with one line, writes nothing,
changes no file, and ends well within its bound. Network cases talk only to a server on 127.0.0.1 started here."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .conftest import copy_folder, one_line_error, run_inprocess, tiny_args


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail, rather than hang, a command that blocks longer than `seconds`."""
    import signal

    def hung(*_):
        raise AssertionError(f"the command hung (more than {seconds:.0f} s)")

    old = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _state(root: Path) -> dict[str, str]:
    """Every entry under `root`, without opening a FIFO: a file's sha256, a link's target, or its kind."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = os.lstat(p)
        key = str(p.relative_to(root))
        if stat.S_ISREG(st.st_mode):
            out[key] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            out[key] = f"-> {os.readlink(p)}"
        elif not stat.S_ISDIR(st.st_mode):
            out[key] = f"mode {stat.S_IFMT(st.st_mode):o}"
    return out


def _refused_or_fine(rc: int, err: str) -> str | None:
    assert rc in (0, 2), err
    assert "Traceback" not in err
    return one_line_error(err) if rc == 2 else None


# ----------------------------------------------------------------------------- results folders


def _fifo(p: Path) -> None:
    p.unlink(missing_ok=True)
    os.mkfifo(p)


def _dev_zero(p: Path) -> None:
    p.unlink(missing_ok=True)
    p.symlink_to("/dev/zero")


FOLDER_DAMAGE = {
    "rows are a FIFO": ("cells.jsonl", _fifo),
    "rows are /dev/zero": ("cells.jsonl", _dev_zero),
    "manifest is a FIFO": ("manifest.json", _fifo),
    "manifest is /dev/zero": ("manifest.json", _dev_zero),
    "lock is a FIFO": ("lock.json", _fifo),
    "lock is /dev/zero": ("lock.json", _dev_zero),
    "checkpoint is a FIFO": ("dense/seed-0/model.safetensors", _fifo),
    "checkpoint marker is /dev/zero": ("dense/seed-0/train.json", _dev_zero),
}
COMMANDS = ["run", "compare", "statement", "plot", "report"]
RENDERS = ("plot", "report")  # ~2 s each: one render per kind of damage to the files they never read (below)
READ_BY_ALL = ("cells.jsonl", "manifest.json")


def _args(command: str, r: Path, out: Path) -> list[str]:
    return {"run": tiny_args(r), "compare": ["compare", str(r)], "statement": ["statement", str(r)],
            "plot": ["plot", str(r), "--out", str(out / "figs"), "--format", "svg"],
            "report": ["report", str(r), "--out", str(out / "r.html")]}[command]


@pytest.mark.parametrize(("damage", "command"), [(d, c) for d in FOLDER_DAMAGE for c in COMMANDS
                                                 if c not in RENDERS or FOLDER_DAMAGE[d][0] in READ_BY_ALL])
def test_a_results_folder_with_a_fifo_or_device(damage: str, command: str, tiny_run: Path, tmp_path: Path,
                                                capsys) -> None:
    _damaged_folder_command(tiny_run, tmp_path, [FOLDER_DAMAGE[damage]], command, capsys)


@pytest.mark.parametrize("command", RENDERS)
@pytest.mark.parametrize("how", [_fifo, _dev_zero], ids=["FIFOs", "/dev/zero"])
def test_plot_and_report_never_open_the_lock_or_a_checkpoint(how, command: str, tiny_run: Path, tmp_path: Path,
                                                             capsys) -> None:
    """The lock, the checkpoint and its marker made FIFOs (or /dev/zero) at once: plot and report do not read them."""
    damage = [(name, how) for name, _ in FOLDER_DAMAGE.values() if name not in READ_BY_ALL]
    _damaged_folder_command(tiny_run, tmp_path, list(dict.fromkeys(damage)), command, capsys)


def _damaged_folder_command(tiny_run: Path, tmp_path: Path, damage: list, command: str, capsys) -> None:
    r = copy_folder(tiny_run, tmp_path / "R")
    for name, how in damage:
        how(r / name)
    out = tmp_path / "out"
    out.mkdir()
    before = _state(tmp_path)
    with deadline(60):
        rc, _, err = run_inprocess(_args(command, r, out), capsys)
    line = _refused_or_fine(rc, err)
    name = damage[0][0]
    reads = {"run": True}.get(command, name in READ_BY_ALL)
    if reads:  # a command that reads (or, for run, writes beside) the damaged file refuses it, naming it
        assert len(damage) == 1 and line is not None and name in line and "not a regular file" in line, err
    if rc == 2 or command in ("run", "compare", "statement"):
        assert _state(tmp_path) == before


# ----------------------------------------------------------------------------- suites and data

BASE = """\
name: tiny
seeds: [0]
data:
  corpus: {corpus}
  path: {path}
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
LLAVA = "  family: llava\n  vision_layers: 1\n  image_size: 8\n  patch_size: 4\n"


def _jsonl(tmp: Path, second_image: str) -> Path:
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 10, 10)).save(tmp / "im0.png")
    path = tmp / "qa.jsonl"
    path.write_text('{"image": "im0.png", "question": "q?", "answer": "3"}\n'
                    f'{{"image": "{second_image}", "question": "q?", "answer": "1"}}\n')
    return path


def _data_case(case: str, tmp: Path) -> tuple[Path, str]:
    """(suite file, what the one error line says) of a data case."""
    suite = tmp / "suite.yaml"
    text = BASE.format(corpus="path", path=tmp / "corpus.txt")
    if case == "suite is a FIFO":
        os.mkfifo(suite)
        return suite, "cannot read suite: it is a FIFO, not a regular file"
    if case == "suite is /dev/zero":
        suite.symlink_to("/dev/zero")
        return suite, "cannot read suite: it is a device or socket, not a regular file"
    if case == "corpus is a FIFO":
        os.mkfifo(tmp / "corpus.txt")
        expect = "data.path: no file matches"
    elif case == "corpus is /dev/zero":
        (tmp / "corpus.txt").symlink_to("/dev/zero")
        expect = "data.path: no file matches"
    elif case == "tinyshakespeare copy is a FIFO":
        os.mkfifo(tmp / "corpus.txt")
        text = BASE.format(corpus="tinyshakespeare", path=tmp / "corpus.txt")
        expect = "data.path: no such file"
    elif case == "JSONL is a FIFO":
        os.mkfifo(tmp / "qa.jsonl")
        text = BASE.format(corpus="path", path=tmp / "qa.jsonl").replace("model:\n", "model:\n" + LLAVA)
        expect = "data.path: no such file"
    else:  # an image of the JSONL
        path = _jsonl(tmp, "im1.png")
        if case == "JSONL image is a FIFO":
            os.mkfifo(tmp / "im1.png")
        else:
            (tmp / "im1.png").symlink_to("/dev/zero")
        text = BASE.format(corpus="path", path=path).replace("model:\n", "model:\n" + LLAVA)
        expect = f"{path}:2: image 'im1.png' is not a regular file"
    suite.write_text(text)
    return suite, expect


DATA_CASES = ["suite is a FIFO", "suite is /dev/zero", "corpus is a FIFO", "corpus is /dev/zero",
              "tinyshakespeare copy is a FIFO", "JSONL is a FIFO", "JSONL image is a FIFO", "JSONL image is /dev/zero"]


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", DATA_CASES)
def test_data_that_is_a_fifo_or_device(case: str, command: str, tmp_path: Path, capsys, monkeypatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    suite, expect = _data_case(case, work)
    before = _state(tmp_path)
    out = tmp_path / "out"
    extra = ["--out", str(out), "-q"] if command == "run" else []
    with deadline(60):
        rc, _, err = run_inprocess([command, str(suite), *extra], capsys)
    assert rc == 2, err
    assert expect in one_line_error(err), err
    assert not out.exists() and _state(tmp_path) == before


# ----------------------------------------------------------------------------- network waits


@contextmanager
def local_server(handle) -> Iterator[int]:
    """A TCP server on 127.0.0.1 (a free port) running `handle(conn)` per connection in a thread; closed after."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conns.append(conn)
            threading.Thread(target=lambda c=conn: _quietly(handle, c, stop), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for c in conns:
            c.close()
        srv.close()


def _quietly(handle, conn: socket.socket, stop: threading.Event) -> None:
    try:
        handle(conn, stop)
    except OSError:
        pass


def _drip(conn: socket.socket, stop: threading.Event) -> None:
    """An HTTP server that promises 10,000 bytes and sends one every 0.2 s."""
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\nContent-Type: text/plain\r\n\r\n")
    while not stop.wait(0.2):
        conn.sendall(b"x")


def _silent(conn: socket.socket, stop: threading.Event) -> None:
    """Accepts, reads, never answers."""
    while not stop.wait(0.1):
        pass


def _banner(conn: socket.socket, stop: threading.Event) -> None:
    """Another protocol's greeting (an SSH server)."""
    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
    stop.wait(30)


@pytest.mark.parametrize(("server", "says"), [(_drip, "not whole after 2 s"), (_silent, "timed out")])
def test_a_corpus_url_that_drips_or_stalls_meets_a_deadline(server, says: str, tmp_path: Path, capsys,
                                                            monkeypatch) -> None:
    import ecobench.data.corpus as corpus

    monkeypatch.setattr(corpus, "FETCH_DEADLINE_S", 2.0)
    monkeypatch.setattr(corpus, "READ_TIMEOUT_S", 1.0)
    monkeypatch.setenv("ECOBENCH_CACHE", str(tmp_path / "cache"))
    suite = tmp_path / "url.yaml"
    with local_server(server) as port:
        suite.write_text(BASE.replace("  corpus: {corpus}\n  path: {path}\n",
                                      f"  corpus: tinyshakespeare\n  url: http://127.0.0.1:{port}/t.txt\n"))
        start = time.monotonic()
        with deadline(30):
            rc, _, err = run_inprocess(["run", str(suite), "--out", str(tmp_path / "out"), "-q"], capsys)
    assert rc == 2, err
    line = one_line_error(err)
    assert "data.url: cannot fetch" in line and says in line, line
    assert time.monotonic() - start < 15
    assert not (tmp_path / "out").exists()
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


@pytest.mark.parametrize(("server", "says"), [(_silent, "no answer"), (_banner, "it answered b'SSH-2.0-O'")])
def test_a_ray_address_that_is_not_ray_meets_a_deadline(server, says: str, tmp_path: Path, capsys,
                                                        monkeypatch) -> None:
    pytest.importorskip("ray")
    import ecobench.executors.probe as probe

    monkeypatch.setattr(probe, "PROBE_S", 2.0)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    out = tmp_path / "out"
    with local_server(server) as port:
        start = time.monotonic()
        with deadline(30):
            rc, _, err = run_inprocess([*tiny_args(out), "--executor", "ray", "--address", f"127.0.0.1:{port}"],
                                       capsys)
    assert rc == 2, err
    line = one_line_error(err)
    assert f"127.0.0.1:{port} accepts connections but is not a Ray cluster" in line and says in line, line
    assert time.monotonic() - start < 15
    assert not out.exists()


def test_the_probe_accepts_an_http2_server() -> None:
    """The positive side without a cluster: a server that answers the preface with SETTINGS passes (a real Ray
    GCS does: tests/executors/test_ray.py joins one by --address)."""
    from ecobench.executors.probe import EMPTY_SETTINGS, PREFACE, check_ray_address

    def h2(conn: socket.socket, stop: threading.Event) -> None:
        got = b""
        while len(got) < len(PREFACE) and not stop.is_set():
            got += conn.recv(64)
        conn.sendall(EMPTY_SETTINGS)
        stop.wait(5)

    with local_server(h2) as port:
        check_ray_address(f"127.0.0.1:{port}", timeout_s=5)
    with pytest.raises(ConnectionError, match="nothing answers"):
        check_ray_address(f"127.0.0.1:{port}", timeout_s=2)  # the server is gone


def test_a_fifo_in_the_kernel_cache_is_a_miss(tmp_path: Path, monkeypatch) -> None:
    from ecobench import kernels

    monkeypatch.setenv("ECOBENCH_CACHE", str(tmp_path))
    path = kernels._cache_path("k")
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    with deadline(10):
        assert kernels.cached("k") is None
