"""The results folder: manifest, one append-only JSON line per finished cell, dense checkpoints, and a lock.

Crash safety: every file but cells.jsonl is written whole then renamed; a cell's line is one O_APPEND write, and
a torn last line (a crash mid-write) is cut off when the folder is next opened, so the cell simply runs again.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecobench import safefile
from ecobench.atomic import write_json
from ecobench.config.base import visible
from ecobench.errors import LockedError, ResultsError, UnsafePathError
from ecobench.integrity import CELLS, MANIFEST, check_rows, read_manifest, seal_manifest
from ecobench.record import CellRecord, parse_record, seal_row

log = logging.getLogger(__name__)

LOCK = "lock.json"
NAME_MAX = 255  # bytes per path component on the common file systems
PATH_MAX = 4096


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False  # os.kill(0 or -1, ...) would address a whole process group
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # beyond a pid_t: no such process can exist
        return False
    except PermissionError:
        return True
    return True


LOCK_LIMIT = 65_536  # bytes: a lock is a line of JSON
ONLY_OWN_FILES = "; a results folder holds its own regular files only (remove it, or use another --out)"
STALE_UNREADABLE_S = 10.0  # an unreadable lock file older than this is debris of a crash, not a writer at work


@dataclass
class Lock:
    """One writer per results folder: a lock file naming pid and host, written whole then linked into place."""

    path: Path

    def acquire(self) -> None:
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        for _ in range(5):
            if self._create(me):
                return
            holder = self._holder()
            if holder is None:
                continue  # vanished between our calls: try again
            if holder.get("directory"):
                raise LockedError(self._held_message(holder))
            if self._stale(holder, me["host"]):
                log.warning("taking over a stale lock of dead process %s", holder.get("pid"))
                # rename-then-remove so that two processes racing for the stale lock cannot both win
                stale = self.path.with_name(f"{LOCK}.stale.{os.getpid()}")
                try:
                    os.rename(self.path, stale)
                    os.unlink(stale)
                except FileNotFoundError:
                    pass
                continue
            raise LockedError(self._held_message(holder)) from None
        raise LockedError(f"{self.path}: could not take the lock")

    def check(self) -> None:
        """Refuse now, before slow set-up, if a live process holds the lock (acquire() still decides for real)."""
        holder = self._holder()
        if holder is not None and (holder.get("directory") or not self._stale(holder, socket.gethostname())):
            raise LockedError(self._held_message(holder))

    def _create(self, me: dict) -> bool:
        """Write the lock beside its place, then hard-link it in: no one ever sees it empty or half written."""
        tmp = self.path.with_name(f".{LOCK}.{os.getpid()}.tmp")
        if os.path.lexists(tmp):
            tmp.unlink()  # debris of a crashed run with our pid (or a planted link): never written through
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | safefile.NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(me))
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
        finally:
            tmp.unlink(missing_ok=True)
        try:  # a filesystem without hard links: O_EXCL, then write (a crash between leaves an unreadable lock)
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | safefile.NOFOLLOW, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        return True

    def _stale(self, holder: dict, host: str) -> bool:
        pid = holder.get("pid")
        if not isinstance(pid, int):
            try:
                return time.time() - self.path.lstat().st_mtime > STALE_UNREADABLE_S
            except FileNotFoundError:
                return True
        return holder.get("host") == host and not _pid_alive(pid)

    def _held_message(self, holder: dict) -> str:
        if holder.get("directory"):
            return f"{self.path}: is a folder, not an ecobench lock file; remove it and re-run"
        if not isinstance(holder.get("pid"), int):  # unreadable: taken over once STALE_UNREADABLE_S old
            return (f"{self.path.parent}: the lock file {self.path} is unreadable (being written, or damaged); "
                    f"re-run in {STALE_UNREADABLE_S:.0f} s to take it over, or remove it if no ecobench run is at work")
        return (
            f"{self.path.parent}: another ecobench run holds this results folder "
            f"(pid {holder.get('pid')} on {visible(holder.get('host'))}, since {visible(holder.get('since'))}); "
            f"wait for it, or remove {self.path} if that process is gone"
        )

    def _holder(self) -> dict | None:
        """Who holds the lock (None: nobody). A lock that is not ecobench's JSON object (`null`, a list, damaged
        bytes) holds as an unreadable one: stale once older than STALE_UNREADABLE_S."""
        unknown = {"pid": "?", "host": "?", "since": "?"}
        if self.path.is_dir() and not self.path.is_symlink():
            return unknown | {"directory": True}
        try:
            holder = json.loads(safefile.read_bytes(self.path, LOCK_LIMIT, ONLY_OWN_FILES).decode("utf-8"))
        except FileNotFoundError:
            return None
        except UnsafePathError as err:
            raise LockedError(str(err)) from None
        except (OSError, ValueError):
            return unknown
        return holder if isinstance(holder, dict) else unknown

    def release(self) -> None:
        holder = self._holder()
        if holder and holder.get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)


class RunStore:
    def __init__(self, root: Path, manifest: dict | None = None):
        self.root = root
        self.lock = Lock(root / LOCK)
        self.session_index = 0  # this invocation's entry in the manifest's `sessions`
        self.manifest = manifest or {}

    @property
    def cells_path(self) -> Path:
        return self.root / CELLS

    def dense_dir(self, seed: int) -> Path:
        return self.root / "dense" / f"seed-{seed}"

    # -- creation and resume -------------------------------------------------------------------------------

    @classmethod
    def open(cls, root: Path, manifest: dict, fingerprint: str, legacy_fingerprint: str | None = None) -> RunStore:
        """Create the folder, or resume it when its manifest is whole and for the same suite (see `resumable`).
        Takes the lock; checks it is writable."""
        root = Path(root)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ResultsError(f"{root}: cannot create the results folder: {err.strerror}") from err
        if not os.access(root, os.W_OK):
            raise ResultsError(f"{root}: the results folder is not writable")
        _check_space(root)
        check_entries(root)
        store = cls(root)
        store.lock.acquire()
        try:
            old = resumable(root, fingerprint, legacy_fingerprint)
            if old is not None and (problem := data_problem(old, manifest)):
                raise ResultsError(f"{root}: {problem}")
            if old is not None:
                if old["suite_fingerprint"] != fingerprint:  # schema 2, same suite: bind it to the new fingerprint
                    log.warning("%s: written by an older ecobench (results schema %s); its manifest now carries the "
                                "suite fingerprint of results schema 3", root, old["schema_version"])
                    old |= {"suite_fingerprint": fingerprint, "suite": manifest["suite"],
                            "schema_version": manifest["schema_version"]}
                old.setdefault("sessions", []).append(manifest["sessions"][-1])
                store.session_index = len(old["sessions"]) - 1
                store.manifest = seal_manifest(old)
            else:
                store.session_index = len(manifest["sessions"]) - 1
                store.manifest = seal_manifest(manifest)
            write_json(root / MANIFEST, store.manifest)
            store.repair()
            store.finished()  # every row whole and of this suite, or refuse now
        except BaseException:
            store.lock.release()
            raise
        return store

    @staticmethod
    def preflight(root: Path, fingerprint: str, legacy_fingerprint: str | None = None,
                  data: dict | None = None) -> None:
        """Before any slow set-up, and creating nothing: refuse a results folder that cannot be created or
        written, whose disk is full, that another live run holds, or that holds another suite's results (or
        results without a whole manifest). open() checks again for real."""
        root = Path(root)
        _check_path_length(root)
        base = root
        while not base.exists() and base != base.parent:
            base = base.parent
        if not base.is_dir():
            raise ResultsError(f"{root}: cannot create the results folder: {base} is not a folder")
        if not os.access(base, os.W_OK):
            raise ResultsError(f"{root}: the results folder is not writable ({base} is read-only to this user)")
        _check_space(root if root.exists() else base)
        if root.is_dir():
            check_entries(root)
        Lock(root / LOCK).check()
        old = resumable(root, fingerprint, legacy_fingerprint) if root.is_dir() else None
        if old is not None:
            check_rows(read_rows(root / CELLS), old)
            if data is not None and (problem := data_problem(old, {"data": data})):
                raise ResultsError(f"{root}: {problem}")

    def close(self) -> None:
        self.lock.release()

    def update_manifest(self, update: Callable[[dict], None]) -> None:
        """Read the manifest, let `update` change it in place, write it whole (atomically). Lock held."""
        mpath = self.root / MANIFEST
        m = json.loads(safefile.read_text(mpath, hint=ONLY_OWN_FILES))
        update(m)
        self.manifest = seal_manifest(m)
        write_json(mpath, self.manifest)

    # -- cells --------------------------------------------------------------------------------------------

    def repair(self) -> int:
        """Cut a torn last line left by a crash mid-write; return the bytes removed."""
        p = self.cells_path
        if not os.path.lexists(p):
            return 0
        fd = safefile.open_update(p, ONLY_OWN_FILES)  # never a link to, or another name of, a file elsewhere
        try:
            size = os.fstat(fd).st_size
            data = os.pread(fd, size, 0)
            if not data or data.endswith(b"\n"):
                return 0
            keep = data.rfind(b"\n") + 1
            os.ftruncate(fd, keep)
            os.fsync(fd)
        finally:
            os.close(fd)
        log.warning("%s: removed a torn last line (%d bytes) left by an interrupted write", p, len(data) - keep)
        return len(data) - keep

    def finished(self) -> dict[str, CellRecord]:
        """The rows so far, each whole and of this folder's suite (else one ResultsError line)."""
        rows = read_rows(self.cells_path)
        check_rows(rows, self.manifest)
        return {rec.key: rec for _, rec in rows}

    def append(self, record: CellRecord) -> None:
        """Append one row, bound to the folder's suite by its fingerprint."""
        fp = self.manifest["suite_fingerprint"]
        if record.suite_fingerprint not in (None, fp):
            raise ValueError(f"a row of suite {record.suite_fingerprint} appended to a folder of suite {fp}")
        record = record.model_copy(update={"suite_fingerprint": fp, "row_sha256": None})
        obj = json.loads(json.dumps(record.to_json_dict(), default=_json_default, allow_nan=True))  # as read back
        line = (json.dumps(seal_row(obj), allow_nan=True) + "\n").encode("utf-8")
        fd = safefile.open_append(self.cells_path, ONLY_OWN_FILES)
        try:
            n = os.write(fd, line)
            if n != len(line):
                raise OSError(errno.EIO, f"short write to {self.cells_path}")
            os.fsync(fd)
        finally:
            os.close(fd)


def check_entries(root: Path) -> None:
    """Refuse in one line a results folder whose own files (manifest, rows, lock, dense checkpoints) include a
    symbolic link, a FIFO or a device, or whose rows file has other hard links: `run` would read without end, or
    write through them into files elsewhere. Reads nothing but directory entries."""
    root = Path(root)
    names = [root / MANIFEST, root / CELLS, root / LOCK]
    dense = root / "dense"
    if os.path.lexists(dense):
        if dense.is_symlink() or not dense.is_dir():
            raise UnsafePathError(f"{dense}: {safefile.problem(dense) or 'is not a folder'}{ONLY_OWN_FILES}")
        for seed in sorted(dense.iterdir())[:100_000]:
            if seed.is_symlink() or not seed.is_dir():
                names.append(seed)
                continue
            names += sorted(seed.iterdir())[:1000]
    for p in names:
        why = safefile.problem(p)
        if why and not p.name.startswith("."):  # dot files are writers' temporaries, never read
            raise UnsafePathError(f"{p}: {why}, not a regular file{ONLY_OWN_FILES}")
    try:
        links = os.lstat(root / CELLS).st_nlink
    except FileNotFoundError:
        links = 1
    if links > 1:
        raise UnsafePathError(f"{root / CELLS}: has {links} hard links; appending would change the other names' file "
                              "too (copy the folder rather than hard-linking it)")


def _check_space(path: Path, need_bytes: int = 50_000_000) -> None:
    st = os.statvfs(path)
    free = st.f_bavail * st.f_frsize
    if free < need_bytes:
        raise ResultsError(f"{path}: only {free / 1e6:.1f} MB free; ecobench needs at least {need_bytes / 1e6:.0f} MB")


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    return str(o)


def resumable(root: Path, fingerprint: str, legacy_fingerprint: str | None = None) -> dict | None:
    """The manifest of a folder `run` may resume into (None: a new folder). Refuses in one line a folder that holds
    results but no manifest, a manifest that is unreadable or broken, or one of another suite. Reads only."""
    root = Path(root)
    if not os.path.lexists(root / MANIFEST):
        debris = [n for n in (CELLS, "dense") if os.path.lexists(root / n)]
        if debris:
            raise ResultsError(f"{root}: holds results ({', '.join(debris)}) but no {MANIFEST}, so nothing says which "
                               f"suite they belong to; use another --out (or restore {MANIFEST})")
        foreign = sorted(p.name for p in root.iterdir() if not _ours(p.name)) if root.is_dir() else []
        if foreign:
            raise ResultsError(f"{root}: is not empty and not an ecobench results folder (it holds "
                               f"{', '.join(map(repr, foreign[:3]))}{', ...' if len(foreign) > 3 else ''}); "
                               "give an empty or new folder as --out")
        return None
    old = read_manifest(root)
    same = old["suite_fingerprint"] == fingerprint or (
        old["schema_version"] < 3 and legacy_fingerprint is not None and old["suite_fingerprint"] == legacy_fingerprint)
    if not same:
        raise ResultsError(f"{root}: this folder holds results of a different suite ({old['suite_name']!r}, "
                           f"fingerprint {old['suite_fingerprint']} != {fingerprint}); use another --out")
    return old


def _ours(name: str) -> bool:
    """What a folder being created holds before its manifest: the lock, and the temporary files of atomic writes."""
    return name == LOCK or (name.startswith((f".{LOCK}.", f".{MANIFEST}.")) and name.endswith(".tmp"))


def data_problem(old: dict, new: dict) -> str | None:
    """Why the data loaded now is not the data a folder's earlier sessions used (None: the same, or unrecorded).
    The corpus and the tokenizer bind a folder as its suite does: an edited `data.path` file would put new rows
    beside rows of the old data, measured against a dense model trained on the old one."""
    was, now = old.get("data") or {}, new.get("data") or {}
    for key, what in (("corpus_sha256", "corpus"), ("tokenizer_sha256", "tokenizer")):
        if was.get(key) and now.get(key) and was[key] != now[key]:
            return (f"the {what} changed since this folder's earlier sessions (sha256 {was[key]} then, {now[key]} "
                    "now); restore it, or run into a new --out")
    return None


def _check_path_length(path: Path) -> None:
    """A path the file system cannot hold is one line now, not an OSError later."""
    long = [p for p in Path(path).parts if len(p.encode("utf-8", "surrogateescape")) > NAME_MAX]
    if long:
        raise ResultsError(f"{path}: path too long: the name {long[0][:40]!r}... has "
                           f"{len(long[0].encode('utf-8', 'surrogateescape'))} bytes (at most {NAME_MAX})")
    if len(str(Path(path).absolute()).encode("utf-8", "surrogateescape")) >= PATH_MAX:
        raise ResultsError(f"{path}: path too long (at most {PATH_MAX - 1} bytes)")


def read_cells(path: Path) -> list[CellRecord]:
    """Parse cells.jsonl, ignoring a torn last line. Never unpickles: it is JSON."""
    return [rec for _, rec in read_rows(path)]


def read_rows(path: Path) -> list[tuple[str, CellRecord]]:
    """(`file:line`, record) for each row of cells.jsonl, ignoring a torn last line; a malformed row is one
    ResultsError naming its file and line."""
    if not os.path.lexists(path):
        return []
    out = []
    try:
        raw = safefile.read_bytes(path, hint=ONLY_OWN_FILES)
    except FileNotFoundError:
        return []
    except OSError as err:
        raise ResultsError(f"{path}: unreadable: {err.strerror}") from None
    lines = raw.split(b"\n")  # bytes: a torn line may end inside a UTF-8 character
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            obj = json.loads(line.decode("utf-8"))
            if not (isinstance(obj, dict) and isinstance(obj.get("key"), str)):
                raise ValueError("not a cell record")
        except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            if i == len(lines) - 1:
                continue  # torn last line: that cell did not finish
            raise ResultsError(f"{path}:{i + 1}: corrupt results line") from None
        out.append((f"{path}:{i + 1}", parse_record(obj, f"{path}:{i + 1}")))
    return out
