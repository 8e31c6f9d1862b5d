"""The on-disk cache of downloaded corpora, trained tokenizers and tokenized arrays."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`$ECOBENCH_CACHE`, else `$XDG_CACHE_HOME/ecobench`, else `~/.cache/ecobench`."""
    root = os.environ.get("ECOBENCH_CACHE")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "ecobench")
    p = Path(root)
    p.mkdir(parents=True, exist_ok=True)
    return p
