"""Runs a suite: per seed, train the dense model once; per cell, score -> prune -> recover -> eval -> inference,
each phase inside its own footprint window. Only this driver writes the results folder.

A cell is a pure function of (suite, cell, dense checkpoint folder) returning one record, so cells can later run
in other processes or on other machines.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, load_model, save_file, save_model
from tqdm.auto import tqdm

from ecobench import __version__
from ecobench.data.dataset import TokenData, load_data
from ecobench.data.tokenizer import tokenizer_state
from ecobench.errors import CellFailed, DataError, SensorError, SuiteError, UserError
from ecobench.footprint import Monitor
from ecobench.models.build import build_model, count_params
from ecobench.prune.masks import apply_masks, overall_sparsity, zeros_per_tensor
from ecobench.prune.scores import ScoreInputs, make_masks, score
from ecobench.prune.targets import describe_targets, select_targets
from ecobench.prune.trajectory import TrajectoryRecorder, TrajectorySpec
from ecobench.store import CELLS, MANIFEST, SCHEMA_VERSION, RunStore, read_cells, write_json_atomic
from ecobench.suite import Cell, Suite, SuiteFile, TrajectoryMethod, expand, method_by_label
from ecobench.train import evaluate, generate_tokens, train

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- checks before any work


def check_suite(sf: SuiteFile) -> TokenData:
    """Everything that can be checked without training: the data loads, fits the context, the model exists."""
    suite = sf.suite
    problems = []
    if suite.model.pretrained and not Path(suite.model.pretrained).expanduser().is_dir():
        problems.append(f"{sf.where('model.pretrained')}: model.pretrained: no such directory: {suite.model.pretrained}")
    if suite.data.tokenizer == "pretrained" and not suite.model.pretrained:
        problems.append(f"{sf.where('data.tokenizer')}: data.tokenizer: 'pretrained' needs model.pretrained")
    data = None
    if not problems:
        try:
            data = load_data(suite.data, suite.model)
        except DataError as err:
            problems.append(f"{sf.where(err.field)}: {err}")
    if problems:
        raise SuiteError(problems[0], problems)
    return data


# ----------------------------------------------------------------------------- manifest


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


def build_manifest(sf: SuiteFile, argv: list[str], data: TokenData) -> dict[str, Any]:
    suite = sf.suite
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    session = {
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
        "data": {"description": data.description, "corpus_sha256": data.corpus_sha256, "tokenizer": data.tokenizer.identity(),
                 "vocab_size": data.vocab_size, "train_tokens": len(data.train), "val_tokens": len(data.val)},
        "versions": _versions(),
        "hardware": {"cpu": _cpu_model(), "cpu_count": os.cpu_count(), "gpus": gpus, "platform": platform.platform()},
        "torch_threads": torch.get_num_threads(),
        "git_commit": _git_commit(),
        "sessions": [session],
    }


def default_out(suite: Suite, root: Path = Path("results")) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return root / f"{suite.name}-{stamp}"


def find_resumable(suite: Suite, root: Path = Path("results")) -> Path | None:
    """The newest unfinished run of this same suite under results/, so re-running the command resumes it."""
    if not root.is_dir():
        return None
    want = {c.key for c in expand(suite)}
    for d in sorted(root.glob(f"{suite.name}-*"), reverse=True):
        try:
            m = json.loads((d / MANIFEST).read_text())
        except (OSError, ValueError):
            continue
        if m.get("suite_fingerprint") != suite.fingerprint():
            continue
        done = {r["key"] for r in read_cells(d / CELLS)}
        return d if not want <= done else None
    return None


# ----------------------------------------------------------------------------- dense model


def _trajectory_specs(suite: Suite) -> list[TrajectorySpec]:
    return list(dict.fromkeys(TrajectorySpec.of(m) for m in suite.prune.methods if isinstance(m, TrajectoryMethod)))


def _save_atomic(save, obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    save(obj, str(tmp))
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _phase_row(phase: str, monitor: Monitor, w, **extra: Any) -> dict[str, Any]:
    return {"phase": phase, **monitor.columns(w.result), **extra}


def ensure_dense(suite: Suite, seed: int, dense_dir: Path, monitor: Monitor, progress: bool) -> dict:
    """Train the seed's dense model once (or reuse a complete checkpoint). `train.json`, written last, marks it complete."""
    marker = dense_dir / "train.json"
    if marker.is_file():
        try:
            info = json.loads(marker.read_text())
            if (dense_dir / "model.safetensors").is_file():
                return info
        except (OSError, ValueError):
            pass
        log.warning("%s: incomplete dense checkpoint; retraining", dense_dir)
    dense_dir.mkdir(parents=True, exist_ok=True)
    data = load_data(suite.data, suite.model)
    model = build_model(suite.model, data.vocab_size, data.context, seed)
    targets = select_targets(model, suite.prune.targets)
    specs = _trajectory_specs(suite)
    recorder = TrajectoryRecorder(targets, specs, suite.train.steps, suite.train.record_every) if specs else None
    hooks = (recorder.on_step,) if recorder else ()
    try:
        with monitor.window(f"seed{seed}/dense/train") as w:
            res = train(model, data, suite.train, steps=suite.train.steps, seed=seed, hooks=hooks,
                        eval_every=suite.train.eval_interval, progress=progress)
    except CellFailed as err:
        info = {"status": "failed", "reason": str(err), "phase": err.phase, "step": err.step}
        write_json_atomic(dense_dir / "failed.json", info)
        return info
    _save_atomic(save_model, model, dense_dir / "model.safetensors")
    if recorder:
        _save_atomic(save_file, recorder.state_tensors(), dense_dir / "trajectory.safetensors")
    (dense_dir / "tokenizer.json").write_text(tokenizer_state(data.tokenizer))
    info = {
        "status": "ok",
        "train_loss": res.final_loss,
        "val_history": res.val_history,
        "targets": describe_targets(targets),
        "trajectory_checkpoints": len(recorder.schedule) if recorder else 0,
        "trajectory_extra_bytes": recorder.extra_bytes() if recorder else 0,
        "row": _phase_row("train", monitor, w, steps=res.steps, tokens=res.tokens,
                          tokens_per_s=res.tokens / w.result.wall_s if w.result.wall_s > 0 else None),
    }
    write_json_atomic(marker, info)
    return info


def load_dense(suite: Suite, seed: int, dense_dir: Path, data: TokenData) -> torch.nn.Module:
    model = build_model(suite.model, data.vocab_size, data.context, seed)
    missing, unexpected = load_model(model, str(dense_dir / "model.safetensors"), strict=False)
    if unexpected or [m for m in missing if "bias" not in m and "masked_bias" not in m]:
        raise UserError(f"{dense_dir}: checkpoint does not match the model (missing {missing}, unexpected {unexpected})")
    return model


def load_trajectory(dense_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    path = dense_dir / "trajectory.safetensors"
    out: dict[str, dict[str, torch.Tensor]] = {}
    if path.is_file():
        for k, t in load_file(str(path)).items():
            spec, name = k.split("/", 1)
            out.setdefault(spec, {})[name] = t
    return out


# ----------------------------------------------------------------------------- one cell


def _cell_fields(suite: Suite, cell: Cell) -> dict[str, Any]:
    method = None if cell.is_dense else method_by_label(suite, cell.method)
    return {
        "suite": suite.name,
        "key": cell.key,
        "model": suite.model.label,
        "seed": cell.seed,
        "method": cell.method,
        "method_name": "dense" if method is None else method.name,
        "method_options": "" if method is None else json.dumps(method.model_dump(exclude={"name", "label"}), sort_keys=True),
        "scope": cell.scope,
        "ratio": cell.ratio,
        "multiplier": cell.multiplier,
    }


def run_cell(suite: Suite, cell: Cell, dense_dir: Path, dense: dict, monitor: Monitor, progress: bool = True) -> dict:
    """Score, prune, recover, evaluate and time one cell of the sweep; return its record (one results line)."""
    rec: dict[str, Any] = {"schema": SCHEMA_VERSION, "key": cell.key, "cell": _cell_fields(suite, cell), "phases": []}
    phases: list[dict] = rec["phases"]
    if dense.get("status") != "ok":
        rec.update(status="failed", reason=f"dense training failed: {dense.get('reason')}", metrics={})
        return rec
    data = load_data(suite.data, suite.model)
    model = load_dense(suite, cell.seed, dense_dir, data)
    targets = select_targets(model, suite.prune.targets)
    name = cell.key

    @contextmanager
    def window(phase: str, **extra: Any) -> Iterator[dict]:
        info: dict[str, Any] = {}
        with monitor.window(f"{name}/{phase}") as w:
            yield info
        phases.append(_phase_row(phase, monitor, w, **extra, **info))

    try:
        if cell.is_dense:
            phases.append(dense["row"])
        else:
            method = method_by_label(suite, cell.method)
            with window("score"):
                inputs = ScoreInputs(
                    weights={n: p.detach() for n, p in targets.items()},
                    trajectory=load_trajectory(dense_dir) if method.name == "trajectory" else {},
                    seed=cell.seed,
                )
                scores = score(method, inputs)
            with window("prune"):
                masks = make_masks(scores, cell.ratio, cell.scope, cell.multiplier)
                apply_masks(targets, masks)
            del scores, inputs
            steps = suite.prune.recover_steps
            if steps:
                lr = suite.prune.recover_lr or suite.train.lr / 10
                held = {n: (targets[n], masks[n]) for n in targets}
                with window("recover", steps=steps, tokens=steps * suite.train.batch_size * data.context):
                    train(model, data, suite.train, steps=steps, seed=cell.seed + 1_000_003, phase="recover",
                          constant_lr=lr, masks=held, progress=progress)
        eval_bs = suite.eval.batch_size or 4 * suite.train.batch_size
        max_batches = None if suite.eval.batches == "all" else suite.eval.batches
        with window("eval") as info:
            ev = evaluate(model, data, eval_bs, max_batches)
            info.update(tokens=ev.tokens, tokens_per_s=ev.tokens / ev.wall_s if ev.wall_s > 0 else None)
        if suite.eval.inference_tokens:
            bs = suite.eval.inference_batch_size
            generate_tokens(model, data, min(64, suite.eval.inference_tokens), bs)  # warm-up, outside the window
            with window("inference") as info:
                t0 = time.perf_counter()
                made = generate_tokens(model, data, suite.eval.inference_tokens, bs)
                wall = time.perf_counter() - t0
                info.update(tokens=made, tokens_per_s=made / wall, latency_ms_per_token=1000 * wall / (made / bs))
            row = phases[-1]
            if row.get("energy_kwh") is not None:
                row["energy_kwh_per_1k_tokens"] = row["energy_kwh"] / made * 1000
        counts = zeros_per_tensor({k: p.detach() for k, p in targets.items()})
        frac, zeros, n = overall_sparsity(counts)
        nonzero = sum(int((p != 0).sum()) for p in {id(p): p for p in model.parameters()}.values())
        rec["metrics"] = {
            "loss": ev.loss,
            "bpc": ev.loss / math.log(2) / data.chars_per_token,
            "ppl": math.exp(min(ev.loss, 700)),
            "sparsity": frac,
            "sparsity_target": cell.ratio,
            "pruned_weights": zeros,
            "targeted_weights": n,
            "params_total": count_params(model),
            "params_nonzero": nonzero,
            "recover_steps": 0 if cell.is_dense else suite.prune.recover_steps,
            "eval_tokens": ev.tokens,
            "dense_train_loss": dense["train_loss"],
            "layer_sparsity": {k: z / m for k, (z, m) in counts.items()},
        }
        rec["status"], rec["reason"] = "ok", None
    except CellFailed as err:
        rec.update(status="failed", reason=str(err), failed_phase=err.phase, failed_step=err.step, metrics={})
    return rec


# ----------------------------------------------------------------------------- the sweep


def summary_table(df) -> str:
    """Loss (mean over seeds) and sparsity reached, by method x ratio."""
    import pandas as pd

    ok = df[(df["status"] == "ok")].drop_duplicates("key")
    if ok.empty:
        return "(no finished cells)"
    ok = ok.assign(target=[f"{r:g}" if r == r and r is not None else f"std{m:g}" for r, m in zip(ok["ratio"], ok["multiplier"])])
    dense = ok[ok["method"] == "dense"]
    pruned = ok[ok["method"] != "dense"]
    parts = []
    if not dense.empty:
        parts.append(f"dense loss: {dense['loss'].mean():.4f} (n={len(dense)} seeds)")
    if not pruned.empty:
        pruned = pruned.assign(row=pruned["method"] + "/" + pruned["scope"])
        order = sorted(pruned["target"].unique(), key=lambda t: (t.startswith("std"), float(t.removeprefix("std"))))
        loss = pruned.pivot_table(index="row", columns="target", values="loss", aggfunc="mean")[order]
        spars = pruned.pivot_table(index="row", columns="target", values="sparsity", aggfunc="mean")[order]
        with pd.option_context("display.width", 200, "display.max_columns", 50):
            parts.append("validation loss (nats/token), mean over seeds, by target ratio:\n" + loss.round(4).to_string())
            parts.append("sparsity reached:\n" + spars.round(3).to_string())
    return "\n\n".join(parts)


def run_suite(sf: SuiteFile, out: Path | None, argv: list[str], progress: bool = True, new: bool = False) -> int:
    suite = sf.suite
    data = check_suite(sf)  # raises before anything is written
    if suite.train.threads:
        torch.set_num_threads(suite.train.threads)
    if out is None:
        out = None if new else find_resumable(suite)
        if out is not None:
            print(f"resuming {out} (same suite, unfinished); pass --new for a fresh run", file=sys.stderr)
        else:
            out = default_out(suite)
    RunStore.preflight(out)  # unwritable, full or locked: say so now, before the meters' set-up
    monitor = Monitor(suite.footprint)
    try:
        monitor.start()  # may refuse (footprint.require) before anything is trained
    except SensorError as err:
        raise SensorError(f"{sf.where(err.field)}: {err}", err.field) from err
    try:
        store = RunStore.open(out, build_manifest(sf, argv, data) | {"footprint": monitor.manifest()}, suite.fingerprint())
    except BaseException:
        monitor.close()
        raise
    try:
        print(monitor.summary_line(), file=sys.stderr)
        cells = expand(suite)
        done = store.finished()
        todo = [c for c in cells if c.key not in done]
        print(f"{out}: {len(cells)} cells, {len(done)} already finished, {len(todo)} to run", file=sys.stderr)
        sweep = tqdm(total=len(todo), desc="sweep", unit="cell", disable=not progress, position=0, dynamic_ncols=True)
        for seed in suite.seeds:
            mine = [c for c in todo if c.seed == seed]
            if not mine:
                continue
            dense_dir = store.dense_dir(seed)
            sweep.set_postfix_str(f"seed {seed}: dense training")
            dense = ensure_dense(suite, seed, dense_dir, monitor, progress)
            for cell in mine:
                sweep.set_postfix_str(cell.key)
                rec = run_cell(suite, cell, dense_dir, dense, monitor, progress)
                store.append(rec)
                if rec["status"] != "ok":
                    tqdm.write(f"cell {cell.key} failed: {rec['reason']}", file=sys.stderr)
                sweep.update(1)
        sweep.close()
    finally:
        store.close()
        monitor.close()
    from ecobench.results import load

    df = load(out)
    print(summary_table(df))
    failed = df[df["status"] != "ok"].drop_duplicates("key")
    print(f"\nresults: {out}")
    if not failed.empty:
        print(f"{len(failed)} cell(s) failed:", file=sys.stderr)
        for _, r in failed.iterrows():
            print(f"  {r['key']}: {r['reason']}", file=sys.stderr)
        return 1
    return 0


def describe_grid(sf: SuiteFile, data: TokenData) -> str:
    """What `validate` prints: the resolved grid without running it."""
    suite = sf.suite
    cells = expand(suite)
    pruned = [c for c in cells if not c.is_dense]
    with torch.device("meta"):
        model = None if suite.model.pretrained else build_model(suite.model, data.vocab_size, data.context, 0)
    lines = [
        f"suite {suite.name!r} ({sf.source}) is valid",
        f"data: {data.description}; tokenizer {data.tokenizer.identity()} (vocab {data.vocab_size}); "
        f"{len(data.train):,} train / {len(data.val):,} validation tokens; context {data.context}",
    ]
    if model is not None:
        lines.append(f"model: {suite.model.label}, {count_params(model):,} parameters; "
                     f"pruned: {describe_targets(select_targets(model, suite.prune.targets))}")
    else:
        lines.append(f"model: pretrained from {suite.model.pretrained}")
    lines += [
        f"dense models: {len(suite.seeds)} (one per seed: {suite.seeds}), {suite.train.steps} steps each",
        f"cells: {len(cells)} = {len(suite.seeds)} dense references + {len(pruned)} pruned "
        f"({len(suite.prune.methods)} methods x {len(suite.prune.scopes)} scopes x ratios/multipliers)",
        f"estimated optimizer steps: {len(suite.seeds) * suite.train.steps + len(pruned) * suite.prune.recover_steps:,} "
        f"(train {suite.train.steps} x {len(suite.seeds)}, recover {suite.prune.recover_steps} x {len(pruned)})",
    ]
    return "\n".join(lines)

