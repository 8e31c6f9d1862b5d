"""The one atomic writer: write beside the target, fsync, rename. Readers see the old file or the whole new one,
never a half-written one, whatever kills the process.

The rename replaces the name, never what it points to: a target that is a symbolic link, a FIFO, a device or a
folder is refused (lstat) rather than written through or replaced, and a hard-linked target's other names keep
their file untouched."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ecobench import safefile


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; on success it is fsynced and renamed over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    safefile.check(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY | safefile.NOFOLLOW | safefile.NONBLOCK)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        safefile.check(path)  # still not a link or FIFO put there while we wrote
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    safefile.check(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:  # the descriptor mkstemp made (O_EXCL): nothing can be swapped in
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        safefile.check(path)
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode("utf-8"))


def save_with(save: Callable[[str], None], path: Path) -> None:
    """For libraries that write to a path themselves (safetensors, matplotlib): `save(tmp_path)` then rename."""
    with atomic_path(path) as tmp:
        save(str(tmp))
