"""Measuring the deployable model so that a difference means something (DESIGN.md §8, §8b: protocol v2).

Every workload (eval, and prefill and decode at each inference batch size) is first run unmeasured on BOTH models
(the warm-up: thread pools, allocator growth and caches are paid outside every window, by each side), then measured
`footprint.repeats` times as pairs beside the same seed's dense model on the same inputs. The order alternates
pair by pair (ABBA: pruned first, then dense first, ...), starting from a side chosen by the seed and the
workload's index, so neither side is systematically first. Inside a window the workload runs `inner` times back
to back, enough for the window to last the meters' `min_window_s` (chosen from the warm-up's timing); energy is
reported per token. A window that still falls short is labelled `unreliable:short-window` and no energy ratio is
computed from it. A pair with a contended window (others used the machine) is flagged, re-measured with back-off
(`footprint.on_contention: retry`) or ends the run cleanly (`stop`). One phase row per workload carries the
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
from ecobench.errors import MeasurementStopped
from ecobench.families import of_data
from ecobench.footprint import Monitor, stats
from ecobench.footprint.meters import cputime
from ecobench.footprint.meters.base import SHORT_WINDOW
from ecobench.train import decode, evaluate, prefill, prompt_tokens

# per-window quantities kept for every repeat of both sides (what the intervals and ratios are computed from)
REPEATED = ("energy_kwh", "energy_above_idle_kwh", "wall_s", "cpu_process_s", "tokens_per_s", "energy_kwh_per_1k_tokens")
RATIO_OF = ("energy_kwh", "wall_s", "tokens_per_s", "energy_kwh_per_1k_tokens")  # reported pruned / dense
INTERVAL_OF = ("energy_kwh", "wall_s", "tokens_per_s", "energy_kwh_per_1k_tokens")  # mean with its t interval
ENERGY_RATIOS = ("energy_kwh", "energy_kwh_per_1k_tokens")  # withheld when a window was too short for its meter
COMPONENT_SOURCES = ("source_gpu", "source_cpu", "source_ram")
MAX_INNER = 100_000  # runs of a workload inside one window, at most
WINDOW_MARGIN = 1.2  # aim windows this much above min_window_s (run times vary)
MAX_DETECT_REPEATS = 50  # footprint.detect never asks for more pairs per workload than this


@dataclass
class Workload:
    """One measured workload: `setup` prepares its inputs outside the window, `run` is the measured work and
    returns the tokens it processed."""

    phase: str  # eval | prefill | decode (a phase of record.PHASES)
    batch_size: int | None
    run: Callable[[nn.Module, Any], int]
    setup: Callable[[nn.Module], Any] = lambda model: None
    warmed: bool = False  # kept for callers; protocol v2 warms both models on every workload regardless
    fresh_state: bool = False  # each run needs its own setup (decode extends its KV cache): made before the window
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
                            setup=lambda m, b=b: prefill(m, prompts(data, b, e.prompt_tokens, 0)), fresh_state=True,
                            precision=precision))
    return out



def measure_paired(monitor: Monitor, key: str, pruned: nn.Module, dense: nn.Module, workloads: list[Workload],
                   repeats: int, order_seed: int = 0) -> list[dict[str, Any]]:
    """Warm each workload up on both models, then measure it `repeats` times as pairs in ABBA order (the first
    pair's first side chosen by `order_seed` and the workload's index). Windows are named
    `<key>/<workload>/<pruned|dense><i>`. Returns one phase row per workload."""
    rows = []
    cfg = monitor.config
    for index, w in enumerate(workloads):
        first = "pruned" if (order_seed + index) % 2 == 0 else "dense"
        # warmed in the reverse of the first pair's order: the first measured side follows its own warm-up run, as
        # the second follows the first (a side that runs right after the other pays for it either way)
        models = {"dense": dense, "pruned": pruned} if first == "pruned" else {"pruned": pruned, "dense": dense}
        inner = _inner_runs(monitor, w, models)
        states = {}
        for side, model in models.items():
            with w.precise(model):
                states[side] = None if w.fresh_state else w.setup(model)
        sides: dict[str, list[dict[str, Any]]] = {"pruned": [], "dense": []}
        retries = 0
        for i in range(repeats):
            order = ("pruned", "dense") if (i + order_seed + index) % 2 == 0 else ("dense", "pruned")  # ABBA
            for attempt in range(cfg.quiet.retries + 1):
                pair = {side: _measure_window(monitor, f"{key}/{w.label}/{side}{i}", w, models[side], states[side],
                                              inner) for side in order}
                if not any(c.get("contended") for c in pair.values()) or cfg.on_contention == "flag":
                    break
                busy = "; ".join(f"{side} window: others used {_pct(c.get('other_cpu_share'))} of the machine"
                                 for side, c in pair.items() if c.get("contended"))
                if cfg.on_contention == "stop":
                    raise MeasurementStopped(f"{key}/{w.label} pair {i}: the machine is busy ({busy}); "
                                             "footprint.on_contention is stop: re-run the same command to resume")
                if attempt == cfg.quiet.retries:
                    break  # out of tries: the pair stays, flagged
                retries += 1
                monitor.sleep(cfg.quiet.backoff_s * 2 ** attempt)
            for side in order:
                sides[side].append(pair[side])
        row = paired_row(w, sides["pruned"], sides["dense"])
        row |= {"inner_runs": inner, "min_window_s": monitor.min_window_s, "contention_retries": retries,
                "order": f"ABBA from {first}"}
        rows.append(row)
    return rows


def _measure_window(monitor: Monitor, name: str, w: Workload, model: nn.Module, state: Any,
                    inner: int) -> dict[str, Any]:
    """One window of `inner` runs; a workload whose runs need fresh states gets them made before the window opens."""
    with w.precise(model):  # eval.precision, the same on both sides
        states = [w.setup(model) for _ in range(inner)] if w.fresh_state else [state] * inner
        with monitor.window(name) as win:
            tokens = sum(w.run(model, s) for s in states)
    del states
    return _window_columns(monitor.columns(win.result), tokens)


def _inner_runs(monitor: Monitor, w: Workload, models: dict[str, nn.Module]) -> int:
    """Warm the workload up on every model (outside every window) and return how many runs a window needs to last
    `min_window_s` (from the faster side's run time; timed again when the warm-up's first run was close)."""
    need = monitor.min_window_s

    def timed(model: nn.Module) -> float:
        with w.precise(model):
            state = w.setup(model)
            t0 = monitor.clock()
            w.run(model, state)
            return monitor.clock() - t0

    fastest = min([timed(m) for m in models.values()])  # the warm-up, in the order given
    if need <= 0:
        return 1
    if fastest < 2 * need:  # the first run pays for caches: time a warm one
        fastest = min([timed(m) for m in models.values()])
    if fastest >= need * WINDOW_MARGIN:
        return 1
    return MAX_INNER if fastest <= 0 else min(MAX_INNER, math.ceil(need * WINDOW_MARGIN / fastest - 1e-9))


def _pct(x: float | None) -> str:
    return "unknown" if x is None else f"{100 * x:.1f}%"


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
    # contention, per window of each side (the contract report/ reads)
    row["contended_repeats"] = [bool(s.get("contended")) for s in pruned_side]
    row["dense_contended_repeats"] = [bool(s.get("contended")) for s in dense_side]
    row["contended_windows"] = sum(row["contended_repeats"]) + sum(row["dense_contended_repeats"])
    row["contended"] = row["contended_windows"] > 0
    # a window too short for its meter: the row says so, and no energy ratio is computed from it
    short = [c for c in COMPONENT_SOURCES if any(s.get(c) == SHORT_WINDOW for s in (*pruned_side, *dense_side))]
    row["short_windows"] = sum(any(s.get(c) == SHORT_WINDOW for c in COMPONENT_SOURCES)
                               for s in (*pruned_side, *dense_side))
    for c in short:
        row[c] = SHORT_WINDOW
    if short:
        for q in ENERGY_RATIOS:
            row[f"{q}_ratio"] = row[f"{q}_ratio_ci_low"] = row[f"{q}_ratio_ci_high"] = row[f"{q}_ratio_p"] = None
        row["energy_ratio_withheld"] = f"{SHORT_WINDOW}: {', '.join(c.removeprefix('source_') for c in short)}"
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
    inner = _inner_runs(monitor, w, {"model": model})  # the warm-up, and runs per window for min_window_s
    windows = [_measure_window(monitor, f"noise-floor/{i}", w, model, w.setup(model), inner)
               for i in range(suite.footprint.noise_windows)]
    out: dict[str, Any] = {"workload": f"eval, {suite.eval.energy_batches} batch(es)" + (
        f" x {inner} per window" if inner > 1 else ""), "windows": len(windows), "inner_runs": inner,
        "min_window_s": monitor.min_window_s, "contended_windows": sum(bool(x.get("contended")) for x in windows)}
    for q in ("energy_kwh", "wall_s", "cpu_process_s"):
        vals = [x[q] for x in windows]
        out[f"{q}_cv"] = stats.cv(vals)
        pairs = stats.log_ratios(vals[0:-1:2], vals[1::2])
        out[f"{q}_pair_ratio_cv"] = stats.cv([math.exp(d) for d in pairs]) if pairs else None
    return out


def set_threads(requested: int | None) -> dict[str, Any]:
    """torch's intra-op threads: `train.threads` when set; else the CPUs this process may use (affinity, cgroup
    quota) when those are fewer than the machine's, so a job limited to 2 CPUs does not run 32 threads on them;
    else torch's own default (its choice on a whole machine: results stay what they were). What was chosen, and
    why, goes into the manifest."""
    if requested:
        torch.set_num_threads(requested)
        return {"threads": requested, "why": "train.threads"}
    usable, why = cputime.usable_cpus()
    if usable < cputime.machine_cpus() and usable < torch.get_num_threads():
        torch.set_num_threads(usable)
        return {"threads": usable, "why": f"train.threads unset: the CPUs this process may use ({why})"}
    return {"threads": torch.get_num_threads(), "why": "train.threads unset: torch's default (every CPU usable)"}


def family_size(suite: Suite, pruned_cells: int) -> int:
    """The run's tests of pruned against dense, as report/paired.py counts them: one per (table row, measured
    workload), a row holding one pruned cell of every seed."""
    e = suite.eval
    rows = -(-pruned_cells // max(1, len(suite.seeds)))
    return max(1, rows * (1 + (2 * len(e.inference_batch_sizes) if e.inference_tokens else 0)))


def pooled_df(suite: Suite, pruned_cells: int) -> int | None:
    """The df the report's seed-unit intervals will have: the between-seed variance is pooled over a kernel group's
    rows (report/paired.py `pool_group`), taken here as the rows of one structure (the smaller group, so a lower
    bound on power). None with one seed (the pairs are the unit)."""
    seeds = len(suite.seeds)
    if seeds < 2:
        return None
    rows = -(-pruned_cells // seeds)
    return max(1, rows // max(1, len(suite.prune.structures))) * (seeds - 1)


def paired_repeats(suite: Suite, pair_cv: float | None, pruned_cells: int, earlier: dict | None = None
                   ) -> dict[str, Any]:
    """How many pairs each workload is measured: `footprint.repeats`, or with `footprint.detect` the fewest that make
    a saving of that ratio detectable (stats.repeats_for) at this machine's pair-ratio noise `pair_cv`, over the
    run's family of tests. A resumed run keeps the first session's choice (`earlier`: its record), so every cell of
    a folder is measured alike."""
    fp = suite.footprint
    if fp.detect is None:
        return {"repeats": fp.repeats, "why": "footprint.repeats"}
    if earlier and earlier.get("detect") == fp.detect:
        return {**earlier, "why": earlier["why"] + " (the first session's choice, kept on resume)"}
    tests = family_size(suite, pruned_cells)
    sd = math.log1p(pair_cv) if pair_cv is not None else None  # the pair ratio's CV ~ the sd of its log
    r = stats.repeats_for(fp.detect, sd, len(suite.seeds), tests, df=pooled_df(suite, pruned_cells))
    if r is None:
        r = MAX_DETECT_REPEATS
        why = (f"footprint.detect {fp.detect:g}: not reachable within {MAX_DETECT_REPEATS} repeats at this machine's "
               f"pair-ratio noise ({_pct(pair_cv)}); capped")
    else:
        why = (f"footprint.detect {fp.detect:g}: the fewest repeats that detect it at a pair-ratio CV of "
               f"{_pct(pair_cv)} over {tests} tests, {len(suite.seeds)} seed(s)")
    return {"repeats": r, "why": why, "detect": fp.detect, "pair_ratio_cv": pair_cv, "tests": tests}


def floor_line(floor: dict, pairs: dict) -> str:
    """The run's noise floor and the pairs it asks for, in one line."""
    def pct(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.1f}%"

    contended = f", {floor['contended_windows']} contended" if floor.get("contended_windows") else ""
    return (f"noise floor ({floor['windows']} identical {floor['workload']} windows{contended}): energy CV "
            f"{pct(floor['energy_kwh_cv'])}, wall CV {pct(floor['wall_s_cv'])}, pair-ratio CV "
            f"{pct(floor['energy_kwh_pair_ratio_cv'])}; {pairs['repeats']} pairs per workload ({pairs['why']})")
