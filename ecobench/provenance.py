"""What the manifest records about the run besides the suite: versions, hardware, git commit, sessions."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import torch

from ecobench import __version__
from ecobench.config.load import SuiteFile
from ecobench.data.dataset import TokenData
from ecobench.data.tokenizer import tokenizer_sha256
from ecobench.device import describe, resolve_device
from ecobench.record import SCHEMA_VERSION
from ecobench.sweep import expand


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)  # noqa: S607 (git from PATH)
        if out.returncode == 0:
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,  # noqa: S607 (git from PATH)
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "ecobench": __version__}
    for pkg in ("torch", "transformers", "tokenizers", "codecarbon", "nvidia-ml-py", "numpy", "pandas", "safetensors"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out


def data_record(data: TokenData) -> dict[str, Any]:
    """What the manifest says of the data; its two digests bind the folder (store.data_problem) as the suite does."""
    return {"description": data.description, "corpus_sha256": data.corpus_sha256,
            "tokenizer": data.tokenizer.identity(), "tokenizer_sha256": tokenizer_sha256(data.tokenizer),
            "vocab_size": data.vocab_size, "train_tokens": data.train.numel(),
            "val_tokens": data.val.numel()}  # image-question data: padded sequences


def build_manifest(sf: SuiteFile, argv: list[str], data: TokenData) -> dict[str, Any]:
    suite = sf.suite
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    compute = describe(resolve_device(suite.run.device), suite.train.precision, suite.run.deterministic,
                       suite.train.compile)
    session = {
        "compute": compute,  # per session too: a resumed run may compute elsewhere (run.device: auto)
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": argv,
        "pid": os.getpid(),
        "host": socket.gethostname(),
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "suite_name": suite.name,
        "suite_file": sf.source,
        "suite_fingerprint": suite.fingerprint(),
        "suite": suite.model_dump(mode="json"),
        "cells": [c.key for c in expand(suite)],
        "data": data_record(data),
        "versions": _versions(),
        "hardware": {"cpu": _cpu_model(), "cpu_count": os.cpu_count(), "gpus": gpus, "platform": platform.platform()},
        "torch_threads": torch.get_num_threads(),
        "compute": compute,
        "git_commit": _git_commit(),
        "sessions": [session],
    }
