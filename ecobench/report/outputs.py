"""Where compare, statement, plot and report may write, checked before any work: never into a results folder (its
own files or beside them), never over a folder with a file or a file with a folder, never through a symbolic link,
a FIFO or a device, never over a file with other hard links, and only where a file can be made. Each problem is one
line. The files themselves are written by the one atomic writer (ecobench.atomic)."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from ecobench import safefile
from ecobench.errors import UserError
from ecobench.integrity import CELLS, MANIFEST
from ecobench.store import NAME_MAX, PATH_MAX


def _results_folder(path: Path) -> Path | None:
    """The results folder `path` is, or lies inside (a folder holding a manifest or cells file)."""
    for d in (path, *path.parents):
        if os.path.lexists(d / MANIFEST) or os.path.lexists(d / CELLS):
            return d
    return None


def _nearest_existing(path: Path) -> Path:
    base = path
    while not base.exists() and base != base.parent:
        base = base.parent
    return base


def _can_create_in(folder: Path) -> str | None:
    """Why no file can be made in `folder` (None: one can). Tries for real: permissions, read-only mounts, root."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".ecobench-probe-")
    except OSError as err:
        return err.strerror or str(err)
    os.close(fd)
    os.unlink(name)
    return None


def _file_problem(path: Path) -> str | None:
    """Why the existing `path` must not be replaced by an output file (None: it may, or it does not exist)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as err:
        return f"cannot check it: {err.strerror or err}"
    if stat.S_ISLNK(st.st_mode):
        return f"is a symbolic link (to {os.readlink(path)}); ecobench does not write through links: remove it"
    if stat.S_ISDIR(st.st_mode):
        return "exists and is not a file (a folder?); give a file name"
    if not stat.S_ISREG(st.st_mode):
        return f"is {safefile.kind(st.st_mode)}, not a file; give a file name"
    if st.st_nlink > 1:
        return f"has {st.st_nlink} hard links (another name shares its bytes); remove it or give another name"
    return None


def check_output(out: str | Path, kind: str, runs: list[str | Path], option: str,
                 names: tuple[str, ...] = ()) -> Path:
    """`out` as a place to write a file (`kind` 'file') or a folder of files ('dir', to hold `names`); a UserError
    line if not."""
    out = Path(out)
    where = f"{option} {out}"
    for part in out.parts:
        if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise UserError(f"{where}: path too long (a name of more than {NAME_MAX} bytes)")
    if len(str(out.absolute()).encode("utf-8", "surrogateescape")) >= PATH_MAX:
        raise UserError(f"{where}: path too long (at most {PATH_MAX - 1} bytes)")
    resolved = out.resolve()
    inside = _results_folder(resolved if kind == "dir" else resolved.parent)
    for run in runs:
        r = Path(run).resolve()
        if resolved == r or r in resolved.parents:
            inside = r
    if inside is not None:
        raise UserError(f"{where}: inside the results folder {inside}; write outputs outside results folders")
    if kind == "file":
        why = _file_problem(out)
        if why:
            raise UserError(f"{where}: {why}")
    if kind == "dir" and out.is_dir():
        for name in names:
            why = _file_problem(out / name)
            if why:
                raise UserError(f"{where}: {out / name} {why}")
    if out.exists() or out.is_symlink():
        if kind == "dir" and not out.is_dir():
            raise UserError(f"{where}: exists and is not a folder; give a folder for the figures")
        if kind == "file" and not os.access(out, os.W_OK):
            raise UserError(f"{where}: cannot write: the file is read-only")
    base = _nearest_existing(out if kind == "dir" else out.parent)
    if not base.is_dir():
        raise UserError(f"{where}: cannot write: {base} is not a folder")
    why = _can_create_in(base)
    if why:
        raise UserError(f"{where}: cannot write in {base}: {why}")
    return out
