"""The dense model of a seed: trained once (with every recorder the suite's methods ask for), saved as safetensors
beside its recorded state, and loaded back for each cell.

`train.json`, written last, holds the sha256 of both files and of itself: a checkpoint that is missing, truncated or
damaged is found before use, said in one line, and trained again."""

from __future__ import annotations

import fnmatch
import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model

from ecobench.atomic import save_with, write_bytes, write_json, write_text
from ecobench.config.schema import Suite
from ecobench.data.dataset import TokenData
from ecobench.data.tokenizer import tokenizer_state
from ecobench.device import resolve_device
from ecobench.errors import CellFailed, ResultsError, UserError
from ecobench.families import load_data
from ecobench.footprint import Monitor
from ecobench.integrity import sha256_file
from ecobench.models.build import build_model, skeleton_like
from ecobench.prune.methods import REGISTRY
from ecobench.prune.targets import describe_targets, select_targets
from ecobench.record import digest_without
from ecobench.train import compile_warm, train

log = logging.getLogger(__name__)

MODEL_FILE = "model.safetensors"
RECORDED_FILE = "trajectory.safetensors"  # state recorded during training, keyed `<spec key>/<weight name>`
MARKER = "train.json"  # written last: its presence marks the checkpoint complete
CONFIG_FILE = "config.json"  # a pretrained model's transformers config: cells rebuild it without the original file


def phase_row(phase: str, monitor: Monitor, window: Any, **extra: Any) -> dict[str, Any]:
    """A phase's stored columns: its footprint (energy, carbon, water, provenance) and what it did."""
    return {"phase": phase, **monitor.columns(window.result), **extra}


def record_specs(suite: Suite) -> list[Any]:
    """What the suite's methods ask to record during dense training, each spec once."""
    specs = (REGISTRY[m.name].record(m) for m in suite.prune.methods if REGISTRY[m.name].record is not None)
    return list(dict.fromkeys(specs))


def _recorders(suite: Suite, targets: dict[str, torch.nn.Parameter]) -> list[Any]:
    """One recorder per kind of spec (specs of one kind share a schedule and a pass over the weights)."""
    by_kind: dict[type, list[Any]] = {}
    for spec in record_specs(suite):
        by_kind.setdefault(type(spec), []).append(spec)
    return [kind.recorder(targets, specs, suite.train.steps, suite.train.record_every) for kind, specs in by_kind.items()]


def _info_digest(info: dict) -> str:
    return digest_without(info, "info_sha256")


def checkpoint_problem(dense_dir: Path, fingerprint: str | None = None) -> str | None:
    """Why the seed's checkpoint cannot be used as it is (None: it is whole, matches its checksums and, when
    `fingerprint` is given, was trained for that suite)."""
    marker = dense_dir / MARKER
    try:
        info = json.loads(marker.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return f"{MARKER} missing"
    except (OSError, ValueError):
        return f"{MARKER} unreadable (truncated or damaged)"
    if not isinstance(info, dict) or info.get("status") != "ok":
        return f"{MARKER} is not a finished checkpoint"
    sums = info.get("sha256")
    if sums is None:  # written before checksums: at least every file must load
        return _loads_problem(dense_dir, info)
    if not isinstance(sums, dict) or info.get("info_sha256") != _info_digest(info):
        return f"{MARKER} damaged (its own checksum does not match)"
    if fingerprint is not None and info.get("suite_fingerprint") != fingerprint:
        return f"trained for another suite (fingerprint {info.get('suite_fingerprint')} != {fingerprint})"
    for name, want in sums.items():
        path = dense_dir / name
        if not path.is_file():
            return f"{name} missing"
        if sha256_file(path) != want:
            return f"{name} does not match its sha256 in {MARKER} (truncated or damaged)"
    return None


def _loads_problem(dense_dir: Path, info: dict) -> str | None:
    names = [MODEL_FILE] + ([RECORDED_FILE] if info.get("trajectory_checkpoints") else [])
    for name in names:
        try:
            load_file(str(dense_dir / name))
        except FileNotFoundError:
            return f"{name} missing"
        except (OSError, SafetensorError, ValueError):
            return f"{name} unreadable (truncated or damaged)"
    return None


def ensure_dense(suite: Suite, seed: int, dense_dir: Path, monitor: Monitor, progress: bool) -> dict:
    """Train the seed's dense model once (or reuse a checkpoint that is whole and matches its checksums)."""
    marker = dense_dir / MARKER
    if marker.exists() or (dense_dir / MODEL_FILE).exists():
        problem = checkpoint_problem(dense_dir, suite.fingerprint())
        if problem is None:
            return json.loads(marker.read_text())
        log.warning("%s: dense checkpoint of seed %d not usable: %s; training it again", dense_dir, seed, problem)
        for name in (MARKER, MODEL_FILE, RECORDED_FILE):
            (dense_dir / name).unlink(missing_ok=True)
    dense_dir.mkdir(parents=True, exist_ok=True)
    data = load_data(suite.data, suite.model)
    # built on the host (the same initial weights whatever the device), then moved with everything it records
    with torch.device("cpu"):
        model = build_model(suite.model, data.vocab_size, data.context, seed)
    model.to(resolve_device(suite.run.device))
    targets = select_targets(model, suite.prune.targets)
    recorders = _recorders(suite, targets)
    compiled = compile_row = None
    if suite.train.compile and suite.train.steps:  # compiled and warmed outside the train window, timed on its own
        with monitor.window(f"seed{seed}/dense/compile") as cw:
            compiled, _ = compile_warm(model, data, suite.train)
        compile_row = phase_row("compile", monitor, cw)
    try:
        with monitor.window(f"seed{seed}/dense/train") as w:
            res = train(model, data, suite.train, steps=suite.train.steps, seed=seed,
                        hooks=tuple(r.on_step for r in recorders), eval_every=suite.train.eval_interval,
                        progress=progress, forward=compiled)
    except CellFailed as err:
        info = {"status": "failed", "reason": str(err), "phase": err.phase, "step": err.step}
        write_json(dense_dir / "failed.json", info)
        return info
    model.to("cpu")  # checkpoints are written from host copies; load_dense moves them to the run's device
    save_with(lambda p: save_model(model, p), dense_dir / MODEL_FILE)
    if suite.model.pretrained:
        write_bytes(dense_dir / CONFIG_FILE, model.config.to_json_string().encode())
    if recorders:
        state = {k: t.detach().cpu() for r in recorders for k, t in r.state_tensors().items()}
        save_with(lambda p: save_file(state, p), dense_dir / RECORDED_FILE)
    write_text(dense_dir / "tokenizer.json", tokenizer_state(data.tokenizer))
    info = {
        "status": "ok",
        "suite_fingerprint": suite.fingerprint(),
        "train_loss": res.final_loss,
        "val_history": res.val_history,
        "targets": describe_targets(targets),
        "trajectory_checkpoints": max((len(r.schedule) for r in recorders), default=0),
        "trajectory_extra_bytes": sum(r.extra_bytes() for r in recorders),
        "row": phase_row("train", monitor, w, steps=res.steps, tokens=res.tokens,
                         tokens_per_s=res.tokens / w.result.wall_s if w.result.wall_s > 0 else None,
                         **({"recompiles": res.recompiles} if suite.train.compile else {})),
        **({"compile_row": compile_row} if compile_row is not None else {}),
        "sha256": {name: sha256_file(dense_dir / name) for name in (MODEL_FILE, RECORDED_FILE, CONFIG_FILE)
                   if name == MODEL_FILE or (name == RECORDED_FILE and recorders)
                   or (name == CONFIG_FILE and (dense_dir / CONFIG_FILE).is_file())},
    }
    info = json.loads(json.dumps(info, default=str))  # as read back, so that its checksum is of what is stored
    info["info_sha256"] = _info_digest(info)
    write_json(marker, info)
    return info


# GPT-2's causal-mask buffers: persistent in some transformers 4.x releases, absent from checkpoints of others.
# They are rebuilt by the model itself, so a checkpoint may lack them; nothing else may be missing.
OPTIONAL_BUFFERS = ("*.attn.bias", "*.attn.masked_bias")


def load_dense(suite: Suite, seed: int, dense_dir: Path, data: TokenData,
               device: torch.device | None = None) -> torch.nn.Module:
    """The seed's dense model from its checkpoint, every parameter and persistent buffer read from the file (tied
    tensors are saved once by safetensors' save_model and restored by load_model), on `device` (default: the
    suite's run.device)."""
    with torch.device("cpu"):  # read on the host, then moved
        if suite.model.pretrained and (dense_dir / CONFIG_FILE).is_file():
            model = skeleton_like((dense_dir / CONFIG_FILE).read_text())
        else:
            model = build_model(suite.model, data.vocab_size, data.context, seed)
    try:
        missing, unexpected = load_model(model, str(dense_dir / MODEL_FILE), strict=False)
    except (OSError, SafetensorError, ValueError) as err:
        raise ResultsError(f"{dense_dir / MODEL_FILE}: unreadable checkpoint ({err}); delete {dense_dir} and run "
                           "again to retrain it") from None
    buffers = {n for n, _ in model.named_buffers()}
    missing = sorted(m for m in missing if not (m in buffers and any(fnmatch.fnmatchcase(m, p) for p in OPTIONAL_BUFFERS)))
    if missing or unexpected:
        raise UserError(f"{dense_dir}: checkpoint does not match the model (missing {missing}, unexpected {sorted(unexpected)})")
    return model.to(device or resolve_device(suite.run.device))


def load_recorded(dense_dir: Path, device: torch.device | str = "cpu") -> dict[str, dict[str, torch.Tensor]]:
    """spec key -> weight name -> tensor, as recorded during the seed's dense training, read onto `device`."""
    path = dense_dir / RECORDED_FILE
    out: dict[str, dict[str, torch.Tensor]] = {}
    if path.is_file():
        try:
            state = load_file(str(path), device=str(device))
        except (OSError, SafetensorError, ValueError) as err:
            raise ResultsError(f"{path}: unreadable recorded state ({err}); delete {dense_dir} and run again to "
                               "retrain it") from None
        for k, t in state.items():
            spec, _, name = k.partition("/")
            out.setdefault(spec, {})[name] = t
    return out
