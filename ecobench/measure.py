"""Measuring the deployable model so that a difference means something (DESIGN.md §8).

Every workload (eval, and prefill and decode at each inference batch size) runs once unmeasured first (the warm-up:
thread pools, allocator growth, caches are the process's, so one model warms them for both; the eval workload is
warmed by the loss evaluation that precedes it), then `footprint.repeats` times interleaved with the same
seed's dense model on the same inputs, A/B/A/B, each run in its own window. One phase row per workload carries the
pruned model's mean columns, every repeat of both sides, and the intervals and ratios of footprint/stats.py.

A run also starts with a process warm-up (before its first measured window, dense training included) and a noise
floor: the coefficient of variation of identical windows on this machine, recorded in the manifest.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ecobench.config.schema import Suite
from ecobench.data.dataset import TokenData
from ecobench.device import autocast, eval_precision, model_device, to_device
from ecobench.families import of_data
from ecobench.footprint import Monitor, stats
from ecobench.train import decode, evaluate, prefill, prompt_tokens

# per-window quantities kept for every repeat of both sides (what the intervals and ratios are computed from)
REPEATED = ("energy_kwh", "energy_above_idle_kwh", "wall_s", "cpu_process_s", "tokens_per_s", "energy_kwh_per_1k_tokens")
RATIO_OF = ("energy_kwh", "wall_s", "tokens_per_s", "energy_kwh_per_1k_tokens")  # reported pruned / dense
INTERVAL_OF = ("energy_kwh", "wall_s", "tokens_per_s", "energy_kwh_per_1k_tokens")  # mean with its t interval


@dataclass
class Workload:
    """One measured workload: `setup` prepares its inputs outside the window, `run` is the measured work and
    returns the tokens it processed."""

    phase: str  # eval | prefill | decode (a phase of record.PHASES)
    batch_size: int | None
    run: Callable[[nn.Module, Any], int]
    setup: Callable[[nn.Module], Any] = lambda model: None
    warmed: bool = False  # already run unmeasured just before (the loss evaluation warms the eval workload)
    precision: str = "fp32"  # eval.precision (issue 28): the autocast its setup and run execute in, both sides

    def precise(self, model: nn.Module):
        """The workload's precision context on the model's device (nothing for fp32)."""
        return contextlib.nullcontext() if self.precision == "fp32" else autocast(self.precision, model_device(model))

    @property
    def label(self) -> str:
        return self.phase if self.batch_size is None else f"{self.phase}-b{self.batch_size}"

    def execute(self, model: nn.Module) -> int:
        with self.precise(model):
            return self.run(model, self.setup(model))


def eval_workload(suite: Suite, data: TokenData, warmed: bool = False) -> Workload:
    bs = suite.eval.batch_size or 4 * suite.train.batch_size
    return Workload("eval", None, lambda m, _: evaluate(m, data, bs, suite.eval.energy_batches).tokens, warmed=warmed,
                    precision=eval_precision(suite.train.precision, suite.eval.precision))


def inference_workloads(suite: Suite, data: TokenData) -> list[Workload]:
    """Prefill (`prefill_batches` prompt batches) and decode (`inference_tokens` steps from a prefilled prompt,
    the prefill outside the window) at each batch size; none when inference_tokens is 0."""
    e = suite.eval
    if not e.inference_tokens:
        return []
    prompts = of_data(data).prompts  # text: token windows; image-question data: image + question prompts
    precision = eval_precision(suite.train.precision, e.precision)
    out = []
    for b in e.inference_batch_sizes:
        def run_prefill(m: nn.Module, _: Any, b: int = b) -> int:
            made = 0
            for k in range(e.prefill_batches):
                x = prompts(data, b, e.prompt_tokens, k)
                prefill(m, x)
                made += prompt_tokens(x)
            return made

        out.append(Workload("prefill", b, run_prefill, precision=precision))
        out.append(Workload("decode", b, lambda m, state: decode(m, state, e.inference_tokens),
                            setup=lambda m, b=b: prefill(m, prompts(data, b, e.prompt_tokens, 0)), precision=precision))
    return out


def measure_paired(monitor: Monitor, key: str, pruned: nn.Module, dense: nn.Module, workloads: list[Workload],
                   repeats: int) -> list[dict[str, Any]]:
    """Warm each workload up on both models, then measure it `repeats` times as pruned, dense, pruned, dense, ...
    Windows are named `<key>/<workload>/<pruned|dense><i>`. Returns one phase row per workload."""
    rows = []
    for w in workloads:
        pruned_side: list[dict[str, Any]] = []
        dense_side: list[dict[str, Any]] = []
        if not w.warmed:
            w.execute(pruned)  # warm-up, outside every window
        for i in range(repeats):
            for side, model, into in (("pruned", pruned, pruned_side), ("dense", dense, dense_side)):
                with w.precise(model):  # eval.precision, the same on both sides
                    state = w.setup(model)
                    with monitor.window(f"{key}/{w.label}/{side}{i}") as win:
                        tokens = w.run(model, state)
                into.append(_window_columns(monitor.columns(win.result), tokens))
        rows.append(paired_row(w, pruned_side, dense_side))
    return rows


def _window_columns(cols: dict[str, Any], tokens: int) -> dict[str, Any]:
    wall, energy = cols["wall_s"], cols["energy_kwh"]
    cols["tokens"] = tokens
    cols["tokens_per_s"] = tokens / wall if wall > 0 else None
    cols["energy_kwh_per_1k_tokens"] = energy / tokens * 1000 if energy is not None and tokens else None
    return cols


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def mean_columns(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """Numeric columns: the mean over windows (None when a window lacks it: never a mean over fewer); others: the
    first window's (provenance and site columns are the same in every window)."""
    out: dict[str, Any] = {}
    for k in windows[0]:
        vals = [w.get(k) for w in windows]
        if any(_is_num(v) for v in vals):
            out[k] = sum(vals) / len(vals) if all(_is_num(v) for v in vals) else None
        else:
            out[k] = vals[0]
    return out


def paired_row(w: Workload, pruned_side: list[dict[str, Any]], dense_side: list[dict[str, Any]]) -> dict[str, Any]:
    """The phase row of one workload: the pruned side's mean columns, every repeat of both sides, the pruned mean's
    interval, and the pruned / dense ratio with its interval and p-value (footprint/stats.py)."""
    row: dict[str, Any] = {"phase": w.phase, **mean_columns(pruned_side), "batch_size": w.batch_size,
                           "repeats": len(pruned_side)}
    for q in REPEATED:
        row[f"{q}_repeats"] = [s.get(q) for s in pruned_side]
        row[f"dense_{q}_repeats"] = [s.get(q) for s in dense_side]
    for q in INTERVAL_OF:
        iv = stats.mean_interval(row[f"{q}_repeats"])
        row[f"{q}_ci_low"], row[f"{q}_ci_high"] = (iv.low, iv.high) if iv else (None, None)
    for q in RATIO_OF:
        r = stats.paired_ratio(row[f"{q}_repeats"], row[f"dense_{q}_repeats"])
        row[f"{q}_ratio"] = r.ratio if r else None
        row[f"{q}_ratio_ci_low"], row[f"{q}_ratio_ci_high"] = (r.low, r.high) if r else (None, None)
        row[f"{q}_ratio_p"] = r.p if r else None
    if row.get("tokens_per_s"):
        row["ms_per_token"] = 1000 / row["tokens_per_s"]
    return row


# ----------------------------------------------------------------------------- the run's start


def warm_up_process(suite: Suite, data: TokenData, model: nn.Module) -> None:
    """Before a run's first measured window: two training steps, an eval batch, prefill and decode on a throwaway
    model of the suite's shape, so that no measured window pays for the process's first use of its kernels."""
    model.train()
    gen = torch.Generator().manual_seed(0)
    batch_loss = of_data(data).loss
    for _ in range(2):
        with autocast(suite.train.precision, model_device(model)):
            loss = batch_loss(model, to_device(data.batch(suite.train.batch_size, gen), model_device(model)))
        loss.backward()
    model.zero_grad(set_to_none=True)
    eval_workload(suite, data).execute(model)
    for w in inference_workloads(suite, data):
        w.execute(model)


def noise_floor(monitor: Monitor, suite: Suite, data: TokenData, model: nn.Module) -> dict[str, Any]:
    """The coefficient of variation of `footprint.noise_windows` identical eval windows of one model on this
    machine, and of the ratio of consecutive pairs of them (what the paired protocol sees)."""
    w = eval_workload(suite, data)
    w.execute(model)  # warm-up
    windows = []
    for i in range(suite.footprint.noise_windows):
        with monitor.window(f"noise-floor/{i}") as win:
            tokens = w.execute(model)
        windows.append(_window_columns(monitor.columns(win.result), tokens))
    out: dict[str, Any] = {"workload": f"eval, {suite.eval.energy_batches} batch(es)", "windows": len(windows)}
    for q in ("energy_kwh", "wall_s", "cpu_process_s"):
        vals = [x[q] for x in windows]
        out[f"{q}_cv"] = stats.cv(vals)
        pairs = stats.log_ratios(vals[0:-1:2], vals[1::2])
        out[f"{q}_pair_ratio_cv"] = stats.cv([math.exp(d) for d in pairs]) if pairs else None
    return out
