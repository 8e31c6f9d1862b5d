"""The on-disk cache of downloaded corpora, trained tokenizers and tokenized arrays."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ecobench.atomic import write_bytes

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """`$ECOBENCH_CACHE`, else `$XDG_CACHE_HOME/ecobench`, else `~/.cache/ecobench`."""
    root = os.environ.get("ECOBENCH_CACHE")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "ecobench")
    p = Path(root)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # read-only HOME or cache: everything is derived again, uncached (see save())
        log.warning("cache folder %s cannot be created (%s); working without a cache (set ECOBENCH_CACHE to a "
                    "writable folder)", p, err.strerror or err)
    return p


def save(path: Path, data: bytes) -> bool:
    """Write a cache entry atomically; a cache that cannot be written costs time, never the run (False, a warning)."""
    try:
        write_bytes(path, data)
        return True
    except OSError as err:
        log.warning("cannot write the cache entry %s (%s); it will be computed again next time", path,
                    err.strerror or err)
        return False
