"""What binds a results folder together: a manifest that is whole and names its suite by fingerprint, rows that
carry the same fingerprint, and checkpoints with checksums. Every check here only reads; a failure is one line."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from ecobench import safefile
from ecobench.config.base import fingerprint_of
from ecobench.errors import ResultsError
from ecobench.record import SCHEMA_VERSION, CellRecord, digest_without

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CELLS = "cells.jsonl"
MANIFEST_LIMIT = 200_000_000  # bytes: a manifest of 100,000 cells is a few MB
FIX_HINT = "restore it from a copy, or run the suite again into a new folder"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest_digest(m: dict[str, Any]) -> str:
    return digest_without(m, "manifest_sha256", 16)


def seal_manifest(m: dict[str, Any]) -> dict[str, Any]:
    """The manifest with a checksum of the rest (as read back), so that a changed byte is found on reading."""
    m = json.loads(json.dumps({k: v for k, v in m.items() if k != "manifest_sha256"}, default=str))
    return {**m, "manifest_sha256": manifest_digest(m)}


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The folder's manifest, checked whole: an object naming its suite, whose fingerprint matches the suite it
    stores (schema 3 on). Missing, unreadable or malformed: one ResultsError line."""
    p = Path(root) / MANIFEST
    if safefile.problem(p):
        raise ResultsError(f"{p}: {safefile.problem(p)}, not a regular file; a results folder holds its own files "
                           f"only; {FIX_HINT}")
    if not p.is_file():
        if os.path.lexists(Path(root) / CELLS):
            raise ResultsError(f"{root}: holds results ({CELLS}) but no {MANIFEST}, so nothing says which suite they "
                               f"belong to; {FIX_HINT}")
        raise ResultsError(f"{root}: not an ecobench results folder (no {MANIFEST})")
    try:
        m = json.loads(safefile.read_bytes(p, MANIFEST_LIMIT).decode("utf-8"))
    except (OSError, ValueError) as err:
        why = err.strerror if isinstance(err, OSError) else "not whole JSON (truncated or damaged?)"
        raise ResultsError(f"{p}: unreadable manifest: {why}; {FIX_HINT}") from None
    problem = _manifest_problem(m)
    if problem:
        raise ResultsError(f"{p}: broken manifest: {problem}; {FIX_HINT}")
    return m


def _manifest_problem(m: Any) -> str | None:
    if not isinstance(m, dict):
        return f"a JSON object expected, found {type(m).__name__}"
    version = m.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return f"schema_version: {version!r} is not a results schema"
    if version > SCHEMA_VERSION:
        return f"written by a newer ecobench (results schema {version}); upgrade ecobench to read it"
    for key, kind in (("suite_name", str), ("suite", dict), ("suite_fingerprint", str), ("cells", list)):
        if not isinstance(m.get(key), kind):
            return f"{key}: missing or not a {kind.__name__}"
    if version >= 3 and m.get("manifest_sha256") != manifest_digest(m):
        return "its checksum does not match (edited or corrupted)"
    if version >= 3 and fingerprint_of(m["suite"]) != m["suite_fingerprint"]:
        return (f"suite_fingerprint {m['suite_fingerprint']} is not the fingerprint of the suite it stores "
                f"({fingerprint_of(m['suite'])})")
    return None


def row_problem(rec: CellRecord, manifest: dict[str, Any], where: str) -> str | None:
    """Why this row does not belong to the folder of `manifest` (None when it does)."""
    if rec.schema_version >= 3 and (rec.suite_fingerprint is None or rec.row_sha256 is None):
        return f"{where}: row without a suite fingerprint or checksum (every row of results schema 3 has both)"
    if rec.suite_fingerprint is not None and rec.suite_fingerprint != manifest["suite_fingerprint"]:
        return (f"{where}: row of suite fingerprint {rec.suite_fingerprint}, but the manifest's suite is "
                f"{manifest['suite_fingerprint']}")
    if rec.cell.suite != manifest["suite_name"]:
        return f"{where}: row of suite {rec.cell.suite!r}, but the manifest's suite is {manifest['suite_name']!r}"
    if rec.key not in manifest["cells"] or rec.cell.key != rec.key:
        return f"{where}: cell {rec.key!r} is not a cell of the manifest's suite {manifest['suite_name']!r}"
    return None


def check_rows(rows: list[tuple[str, CellRecord]], manifest: dict[str, Any], force: bool = False) -> None:
    """Refuse rows (given with their `file:line`) that belong to another suite than the manifest, unless `force`,
    which keeps them with a warning."""
    problems = [p for where, rec in rows if (p := row_problem(rec, manifest, where))]
    if not problems:
        return
    head = f"{problems[0]} ({len(problems)} such row(s))"
    if not force:
        raise ResultsError(f"{head}: these results are not the manifest's; {FIX_HINT}, or pass --force to read "
                           "them anyway")
    log.warning("--force: reading rows that are not the manifest's: %s", head)
