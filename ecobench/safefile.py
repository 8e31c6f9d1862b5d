"""Reading and appending only regular files, never through a symbolic link, never blocking.

A FIFO, a device (`/dev/zero`) or a link where ecobench expects its own file would hang a reader, feed it without
end, or send a write elsewhere. Every open here refuses a final-component link (O_NOFOLLOW), never blocks on
opening (O_NONBLOCK), checks the opened file is regular (fstat, so nothing can swap it between check and use), and
reads at most a bound."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from ecobench.errors import UnsafePathError

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
NONBLOCK = getattr(os, "O_NONBLOCK", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)
READ_LIMIT = 2_000_000_000  # bytes: no file ecobench reads whole is larger (a results table of 100,000 cells is ~1 GB)


def kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def problem(path: Path | str) -> str | None:
    """Why `path` is not a regular file ecobench may read or replace (None: it is one, or it does not exist)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as err:
        return err.strerror or str(err)
    return None if stat.S_ISREG(st.st_mode) else f"is {kind(st.st_mode)}"


def check(path: Path | str, hint: str = "") -> None:
    """Refuse in one line a `path` that exists and is not a regular file (a link, FIFO, device, folder)."""
    why = problem(path)
    if why:
        raise UnsafePathError(f"{path}: {why}, not a regular file{hint}")


def _open(path: Path | str, flags: int, hint: str) -> int:
    try:
        fd = os.open(path, flags | NOFOLLOW | NONBLOCK | CLOEXEC, 0o644)
    except OSError as err:
        if err.errno == errno.ELOOP:  # O_NOFOLLOW met a link
            raise UnsafePathError(f"{path}: is a symbolic link, not a regular file{hint}") from None
        why = problem(path)  # e.g. ENXIO: a FIFO opened for writing with no reader
        if why:
            raise UnsafePathError(f"{path}: {why}, not a regular file{hint}") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UnsafePathError(f"{path}: is {kind(st.st_mode)}, not a regular file{hint}")
    return fd


def read_bytes(path: Path | str, limit: int = READ_LIMIT, hint: str = "") -> bytes:
    """The whole of a regular file of at most `limit` bytes (FileNotFoundError when it is missing)."""
    fd = _open(path, os.O_RDONLY, hint)
    try:
        os.set_blocking(fd, True)
        size = os.fstat(fd).st_size
        if size > limit:
            raise UnsafePathError(f"{path}: {size:,} bytes, more than the {limit:,} ecobench reads{hint}")
        chunks, got = [], 0
        while got <= limit:
            chunk = os.read(fd, min(1 << 24, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > limit:
            raise UnsafePathError(f"{path}: more than the {limit:,} bytes ecobench reads{hint}")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: Path | str, limit: int = READ_LIMIT, hint: str = "") -> str:
    return read_bytes(path, limit, hint).decode("utf-8")


def open_append(path: Path | str, hint: str = "") -> int:
    """A descriptor appending to the regular file `path` (created if missing), refusing a link, a FIFO, a device,
    and a file with other hard links (appending would change the other names' file too)."""
    return _sole_name(_open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, hint), path, "appending", hint)


def open_update(path: Path | str, hint: str = "") -> int:
    """A descriptor to read and truncate the existing regular file `path`, with the same refusals as open_append."""
    return _sole_name(_open(path, os.O_RDWR, hint), path, "changing it", hint)


def _sole_name(fd: int, path: Path | str, doing: str, hint: str) -> int:
    """`fd`, blocking again, when its file has no other hard link; else closed and refused (`doing` says how a write
    through it would reach the other names)."""
    st = os.fstat(fd)
    if st.st_nlink > 1:
        os.close(fd)
        raise UnsafePathError(f"{path}: has {st.st_nlink} hard links; {doing} would change the other names' file "
                              f"too{hint}")
    os.set_blocking(fd, True)
    return fd
