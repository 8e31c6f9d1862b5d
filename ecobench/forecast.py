"""What a suite will cost on this machine, before it runs: time, energy, carbon and water, with a range.

A calibration probe (seconds) runs the suite's own model on the suite's own data here, inside one footprint window:
loading the data, building the model, a few training steps, an evaluation batch, a few generated tokens and a mask
pass. The suite's step counts (grid.describe_grid, sweep.expand) then scale those unit costs:

  dense, per seed still to train:  build + train.steps x step (+ its periodic evaluations)
  per cell to run:                 data + build + score/prune (pruned) + recover_steps x step (pruned)
                                   + eval batches x eval batch
                                   + paired windows of the eval window and of prefill and decode at each
                                     inference batch size: a warm-up of each side (twice when windows repeat
                                     the workload), then footprint.repeats x (cell, dense) windows, each repeating
                                     the workload until it lasts the meters' min_window_s (measure.py)
  once:                            start-up so far + the probe + footprint.idle_seconds

Energy is each part's seconds at the probe's mean power per component (the idle wait at the probe's power less a
process-attributed CPU, which an idle process does not use); the start-up is charged by the run accounting's own
rule (accounting.STARTUP_RULE). Carbon and water are the site's conversion of the energy.

The range (RANGE_RULE): the point forecast of the parts still to run scaled by the spread of the probe's step
times (fastest and slowest over the median), widened by SLACK each way for what a probe of seconds cannot see
(frequency and thermal drift, per-cell work not modelled step by step). On a shared machine the probe also sees how
much of the CPU it asked for it got (`cpu_share`: its CPU seconds over wall seconds x torch threads); should the
others' load go away during the run, it could run that much faster, so the low end is scaled by it as well.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from ecobench.accounting import StartUp, startup_energy_j
from ecobench.config.schema import Suite
from ecobench.data.dataset import TokenData
from ecobench.device import autocast, model_device, resolve_device, synchronize, to_device
from ecobench.errors import CellFailed
from ecobench.families import load_data, of_data
from ecobench.footprint.measurement import COMPONENTS, Measurement, kwh
from ecobench.footprint.monitor import Monitor
from ecobench.footprint.site import Site
from ecobench.footprint.uncertainty import footprint_bounds
from ecobench.measure import MAX_INNER, WINDOW_MARGIN, paired_repeats
from ecobench.models.build import build_model
from ecobench.prune.masks import make_masks
from ecobench.prune.methods.base import Scores
from ecobench.prune.targets import select_targets
from ecobench.report.units import with_unit
from ecobench.sweep import Cell
from ecobench.train import evaluate, generate_tokens, make_optimizer

SLACK = 1.3  # below the point: what a probe of seconds cannot see
# Above it a little more: on a quiet 2-core machine the smoke run took 1.18x its point (17.1 s for 14.5 s), the
# per-window work protocol v2 added (both-side warm-ups, contention reads, interval draws per row) not fully costed.
SLACK_HIGH = 1.6
RANGE_RULE = (f"point x (fastest / median probe step) x (probe's CPU share) / {SLACK:g} to point x (slowest / "
              f"median probe step) x {SLACK_HIGH:g}, on the parts still to run (the start-up already spent is exact in "
              "`run`); CPU share = the probe steps' CPU seconds / (wall seconds x torch threads), at most 1; carbon "
              "and water: those energy ends x every site factor at the same end of its range")
PROBE_STEPS = (3, 8)  # timed training steps: at least 3, at most 8 ...
PROBE_STEP_BUDGET_S = 2.0  # ... stopping early once this much time went into them
PROBE_TOKENS = 16  # generated tokens timed for the per-token cost


@dataclass
class Calibration:
    """Unit costs measured by the probe on this machine, and the probe's mean power per component."""

    step_s: list[float]  # each timed training step (one warm-up step before them, untimed)
    cpu_share: float  # CPU seconds of the timed steps / (their wall seconds x torch threads), in (0, 1]
    eval_batch_s: float  # one evaluation batch of eval.batch_size sequences
    token_s: dict[int, float] | None  # one decode step per batch size (None: no inference phase)
    data_s: float  # load_data again (from the cache, as each cell does)
    build_s: float  # build (or load) the model once
    mask_s: float  # score by |w| and cut one layer-wise mask set
    probe_s: float  # the probe's wall time
    power_w: dict[str, float | None] = field(default_factory=dict)  # probe window's mean power per component
    cpu_attribution: str | None = None
    # per method label: its own score + prune on the probe model (calibration/gradient methods: their forward and
    # backward passes over the calibration windows, SparseGPT's solves); the others read weights or recorded state,
    # costed as the magnitude mask
    score_s: dict[str, float] = field(default_factory=dict)
    reload_s: float = 0.0  # read the model's weights back from a safetensors file (each cell does it twice)
    min_window_s: float = 0.0  # the meters' shortest window (Monitor.min_window_s): paired windows last at least this

    @property
    def step_median_s(self) -> float:
        return statistics.median(self.step_s)


def calibrate(suite: Suite, data: TokenData, monitor: Monitor) -> tuple[Calibration, Measurement]:
    """Run the probe inside one window of `monitor`; return the unit costs and the window's measurement."""
    t0 = time.perf_counter()
    with monitor.window("forecast-probe") as w:
        tic = time.perf_counter()
        data = load_data(suite.data, suite.model)
        data_s = time.perf_counter() - tic
        tic = time.perf_counter()
        model = build_model(suite.model, data.vocab_size, data.context, suite.seeds[0])
        build_s = time.perf_counter() - tic
        if not suite.model.pretrained:  # the first build pays for imports; a cell's build does not (cheap to redo)
            tic = time.perf_counter()
            model = build_model(suite.model, data.vocab_size, data.context, suite.seeds[0])
            build_s = time.perf_counter() - tic
        model.to(resolve_device(suite.run.device))
        eval_bs = suite.eval.batch_size or 4 * suite.train.batch_size
        if suite.train.steps or suite.prune.recover_steps:
            steps, cpu_share = _time_steps(model, data, suite)
        else:  # nothing trains (one-shot pruning of a pretrained model): time evaluation batches for the spread
            steps, cpu_share = _time_repeats(lambda: evaluate(model, data, eval_bs, 1))
        _timed(lambda: evaluate(model, data, eval_bs, 1))  # warm-up
        eval_batch_s = _timed(lambda: evaluate(model, data, eval_bs, 1))
        token_s = None
        if suite.eval.inference_tokens:
            token_s = {}
            for bs in suite.eval.inference_batch_sizes:
                generate_tokens(model, data, PROBE_TOKENS * bs, bs)  # warm-up
                synchronize(model_device(model))
                tic = time.perf_counter()
                made = generate_tokens(model, data, PROBE_TOKENS * bs, bs)
                synchronize(model_device(model))  # decoding is queued on a GPU: its time ends when it has run
                token_s[bs] = (time.perf_counter() - tic) / (made / bs)
        tic = time.perf_counter()
        targets = select_targets(model, suite.prune.targets)
        make_masks(Scores({n: p.detach().abs() for n, p in targets.items()}), 0.5, "layer", None)
        mask_s = time.perf_counter() - tic
        reload_s = _time_reload(model)
        score_s = _time_scoring(suite, data, model, mask_s)  # last: SparseGPT rewrites the probe model's weights
    m = w.result
    power = {c: (m.components[c].energy_j / m.wall_s if m.components[c].energy_j is not None and m.wall_s > 0
                 else None) for c in COMPONENTS}
    cal = Calibration(steps, cpu_share, eval_batch_s, token_s, data_s, build_s, mask_s, time.perf_counter() - t0, power,
                      m.components["cpu"].attribution, score_s, reload_s, monitor.min_window_s)
    return cal, m


def _time_reload(model: torch.nn.Module) -> float:
    """Seconds to read the model's weights back from a safetensors file, as every cell does twice (dense.load_dense:
    the cell's model and the dense reference beside it); the file is written outside the timing."""
    import tempfile

    from safetensors.torch import load_model, save_model

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/probe.safetensors"
        save_model(model, path)
        tic = time.perf_counter()
        load_model(model, path, strict=False)
        return time.perf_counter() - tic


def _time_scoring(suite: Suite, data: TokenData, model: torch.nn.Module, mask_s: float) -> dict[str, float]:
    """Per method label, the seconds of its score and prune phases on the probe model: methods that read
    calibration batches or gradients run for real (their cost is in those passes, and SparseGPT's per-layer solves,
    not in a mask); the others cost what the magnitude mask did."""
    from ecobench.data.calibration import calibration_problem, draw_calibration
    from ecobench.prune.methods import REGISTRY, ScoreInputs

    out: dict[str, float] = {}
    device = model_device(model)
    for m in suite.prune.methods:
        spec = REGISTRY[m.name]
        if not spec.needs & {"calibration", "gradients"} or calibration_problem(data, suite.prune.calibration):
            out[m.display] = mask_s
            continue
        tic = time.perf_counter()
        targets = select_targets(model, suite.prune.targets)
        calibration = to_device(draw_calibration(data, suite.prune.calibration), device)
        inputs = ScoreInputs(weights={n: p.detach() for n, p in targets.items()}, model=model, calibration=calibration,
                             targets=targets)
        if spec.prune is not None:
            spec.prune(m, inputs, 0.5, "layer")
        else:
            make_masks(spec.score(m, inputs), 0.5, "layer", None, release=True)
        synchronize(device)
        out[m.display] = time.perf_counter() - tic
    return out


def _timed(work: Callable[[], object]) -> float:
    """Seconds `work` took. A non-finite loss still took its time: the probe only times; the cell that meets it
    records the failure itself."""
    tic = time.perf_counter()
    try:
        work()
    except CellFailed:
        pass
    return time.perf_counter() - tic


def _time_steps(model: torch.nn.Module, data: TokenData, suite: Suite) -> tuple[list[float], float]:
    """Training steps as train() takes them (batch, forward, backward, clip, AdamW step), one warm-up first."""
    cfg = suite.train
    device = model_device(model)
    opt = make_optimizer(model, cfg, cfg.lr)
    gen = torch.Generator().manual_seed(0)
    model.train()

    def step() -> None:
        with autocast(cfg.precision, device):
            loss = of_data(data).loss(model, to_device(data.batch(cfg.batch_size, gen), device))
        loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        synchronize(device)  # the step's GPU work is in its time

    return _time_repeats(step)


def _time_repeats(work: Callable[[], object]) -> tuple[list[float], float]:
    """Wall seconds of each of 3-8 runs of `work` after one untimed warm-up (allocator growth, thread pools), and the
    CPU share they got (their CPU seconds / (wall seconds x torch threads))."""
    times: list[float] = []
    spent = cpu = 0.0
    for i in range(PROBE_STEPS[1] + 1):
        tic, ctic = time.perf_counter(), time.process_time()
        _timed(work)
        if i == 0:
            continue
        times.append(time.perf_counter() - tic)
        spent += times[-1]
        cpu += time.process_time() - ctic
        if len(times) >= PROBE_STEPS[0] and spent >= PROBE_STEP_BUDGET_S:
            break
    share = cpu / (spent * torch.get_num_threads()) if spent > 0 else 1.0
    return times, min(1.0, max(share, 0.05))


def work_seconds(suite: Suite, data: TokenData, cal: Calibration, cells: list[Cell],
                 dense_seeds: list[int]) -> dict[str, float]:
    """Seconds per part of the work still to run, at the probe's unit costs (median step)."""
    step = cal.step_median_s
    tr = suite.train
    eval_bs = suite.eval.batch_size or 4 * tr.batch_size
    n_windows = data.val_windows()
    eval_batches = math.ceil(n_windows / eval_bs) if suite.eval.batches == "all" else \
        min(suite.eval.batches, math.ceil(n_windows / eval_bs))
    periodic = (tr.steps - 1) // tr.eval_interval if tr.eval_interval else 0
    per_eval_4 = 4 * cal.eval_batch_s * tr.batch_size / eval_bs  # train()'s check: 4 batches of train.batch_size
    pruned = [c for c in cells if not c.is_dense and not c.is_control]
    controls = [c for c in cells if c.is_control]
    e = suite.eval
    repeats = forecast_repeats(suite, cal, cells)["repeats"]

    def paired(run_s: float) -> float:
        return paired_seconds(run_s, repeats, cal.min_window_s)

    # decode steps, and prefill as prompt batches costed like decode steps of the prompt's length / 4 (one pass)
    infer = sum(paired(e.inference_tokens * step_s) + paired(e.prefill_batches * max(1, e.prompt_tokens // 4) * step_s)
                for step_s in (cal.token_s or {}).values()) if e.inference_tokens else 0.0
    return {
        "dense training": len(dense_seeds) * (cal.build_s + tr.steps * step + periodic * per_eval_4),
        # each cell builds its model and the dense reference, and reads both from the checkpoint
        "cell set-up (data, models)": len(cells) * (cal.data_s + 2 * (cal.build_s + cal.reload_s)),
        "score and prune": sum(cal.score_s.get(c.method, cal.mask_s) for c in pruned),
        "recovery": (len(pruned) + len(controls)) * suite.prune.recover_steps * step,
        "evaluation": len(cells) * (eval_batches * cal.eval_batch_s + paired(e.energy_batches * cal.eval_batch_s)),
        # eval.domains: each cell is also evaluated on every extra corpus (batches counted as the main corpus's)
        "evaluation on eval.domains": len(cells) * len(e.domains) * (
            eval_batches if e.domain_batches in (None, "all") else min(e.domain_batches, eval_batches))
        * cal.eval_batch_s,
        "inference": len(cells) * infer,
        # each session: a warm-up and footprint.noise_windows identical eval windows (measure.noise_floor)
        "noise floor": (suite.footprint.noise_windows + 1) * e.energy_batches * cal.eval_batch_s,
        "idle baseline": suite.footprint.idle_seconds,
    }


def forecast_repeats(suite: Suite, cal: Calibration, cells: list[Cell]) -> dict[str, Any]:
    """`footprint.repeats`, or with `footprint.detect` the pairs the run would choose (measure.paired_repeats) at the
    probe's timing noise: the CV of its timed steps x sqrt(2) stands in for the pair-ratio CV (a ratio of two
    windows); the run recomputes it from its own noise floor."""
    cv = statistics.stdev(cal.step_s) / statistics.mean(cal.step_s) * math.sqrt(2) if len(cal.step_s) > 1 else None
    out = paired_repeats(suite, cv, sum(not (c.is_dense or c.is_control) for c in cells))
    return out | ({"why": out["why"] + " (the probe's timing noise; the run uses its noise floor)"}
                  if suite.footprint.detect else {})


def paired_seconds(run_s: float, repeats: int, min_window_s: float) -> float:
    """One workload's paired measurement (measure.measure_paired): each side warmed (and timed once more when its
    windows must repeat it), then repeats x 2 windows of `inner` runs, enough to last min_window_s x the margin."""
    need = min_window_s * WINDOW_MARGIN
    if run_s <= 0 or run_s >= need:
        return (2 + 2 * repeats) * run_s
    inner = min(MAX_INNER, math.ceil(need / run_s - 1e-9))
    warm = 4 if run_s < 2 * min_window_s else 2
    return (warm + 2 * repeats * inner) * run_s


@dataclass
class Forecast:
    """Point and range for the whole run (or the rest of a resumed one), with how each part was costed."""

    cells: int
    wall_s: dict[str, float]  # point, low, high
    energy_kwh: dict[str, float | None]
    co2e_g: dict[str, float | None]
    water_l: dict[str, float | None]
    parts_s: dict[str, float]
    calibration: dict[str, Any]
    range_rule: str = RANGE_RULE
    paired: dict[str, Any] = field(default_factory=dict)  # pairs per measured workload, and why

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        def rng(d: dict, qty: str) -> str:
            if d["point"] is None:
                return f"{qty.split('_')[0]} unknown"
            return (f"{with_unit(d['point'], qty)} ({with_unit(d['low'], qty)} to "
                    f"{with_unit(d['high'], qty)})")

        w = self.wall_s
        return (f"forecast for {self.cells} cells on this machine: {_dur(w['point'])} ({_dur(w['low'])} to "
                f"{_dur(w['high'])}), {rng(self.energy_kwh, 'energy_kwh')}, {rng(self.co2e_g, 'co2e_g')}, "
                f"water {rng(self.water_l, 'water_l')}"
                + (f"; {self.paired['repeats']} pairs per workload ({self.paired['why']})"
                   if self.paired.get("detect") else ""))


def _dur(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.2f} h"


def make_forecast(suite: Suite, data: TokenData, cal: Calibration, probe: Measurement, site: Site,
                  cells: list[Cell], dense_seeds: list[int], startup: StartUp, startup_known: bool) -> Forecast:
    """The forecast from the probe. `startup` is this process up to the probe: in `run` it is part of the run and
    exact (`startup_known`); in `validate` it stands in for the run's own start-up and carries the range too."""
    parts = work_seconds(suite, data, cal, cells, dense_seeds)
    steps = sorted(cal.step_s)
    lo_f = steps[0] / cal.step_median_s * cal.cpu_share / SLACK
    hi_f = steps[-1] / cal.step_median_s * SLACK_HIGH
    idle_w = _idle_power(cal)
    busy_s = sum(v for k, v in parts.items() if k != "idle baseline")  # the probe is in the start-up already
    up = startup_energy_j(probe, startup)
    up_j = sum(v for v in up.values() if v is not None) if any(v is not None for v in up.values()) else None
    busy_w = _total(cal.power_w)
    spent_s = startup.wall_s
    if busy_w is None:
        energy = {"point": None, "low": None, "high": None}
    else:
        future_j = busy_w * busy_s + (idle_w or 0.0) * parts["idle baseline"]
        known_j = up_j or 0.0
        if startup_known:
            energy = {"point": kwh(known_j + future_j), "low": kwh(known_j + lo_f * future_j),
                      "high": kwh(known_j + hi_f * future_j)}
        else:
            energy = {b: kwh(f * (known_j + future_j)) for b, f in (("point", 1.0), ("low", lo_f), ("high", hi_f))}
    future_s = busy_s + parts["idle baseline"]
    if startup_known:
        wall = {"point": spent_s + future_s, "low": spent_s + lo_f * future_s, "high": spent_s + hi_f * future_s}
    else:
        wall = {b: f * (spent_s + future_s) for b, f in (("point", 1.0), ("low", lo_f), ("high", hi_f))}
    co2e = {b: site.footprint(e).co2e_g for b, e in energy.items()}
    water = {b: site.footprint(e).water_l for b, e in energy.items()}
    if energy["low"] is not None and "pue" in site.factor_ranges:  # and the factors at the ends of their ranges
        ends = footprint_bounds(site.factor_ranges, energy["low"], energy["high"])
        co2e["low"], co2e["high"] = ends["co2e_g"]
        water["low"], water["high"] = ends["water_l"]
    cal_d = asdict(cal) | {"step_median_s": cal.step_median_s, "startup_wall_s": startup.wall_s,
                           "startup_cpu_s": startup.cpu_s, "startup_known": startup_known,
                           "idle_power_w": idle_w}
    # `startup` was taken after the probe: it holds the probe, shown apart (counted once)
    return Forecast(len(cells), wall, energy, co2e, water, {"start-up so far": max(0.0, spent_s - cal.probe_s),
                    "calibration probe": cal.probe_s, **parts}, cal_d, paired=forecast_repeats(suite, cal, cells))


def _total(power: dict[str, float | None]) -> float | None:
    present = [v for v in power.values() if v is not None]
    return sum(present) if present else None


def _idle_power(cal: Calibration) -> float | None:
    """Power while the process waits: the probe's, less a process-attributed CPU (an idle process uses none)."""
    p = dict(cal.power_w)
    if cal.cpu_attribution == "process":
        p["cpu"] = None
    return _total(p)


def budget_problem(suite: Suite, forecast: Forecast, spent_kwh: float = 0.0) -> str | None:
    """Why the suite must not start under its budget, or None. `spent_kwh`: earlier sessions of this run."""
    budget = suite.footprint.budget
    if budget is None:
        return None
    point = forecast.energy_kwh["point"]
    if point is None:
        return ("footprint.budget: this machine measures no energy, so the budget cannot be checked; remove the "
                "budget or enable a meter (`ecobench doctor`)")
    total = point + spent_kwh
    if total > budget.kwh:
        earlier = f" (+{with_unit(spent_kwh, 'energy_kwh')} spent in earlier sessions)" if spent_kwh else ""
        return (f"footprint.budget: the forecast {with_unit(point, 'energy_kwh')}{earlier} exceeds the budget of "
                f"{with_unit(budget.kwh, 'energy_kwh')} (range {with_unit(forecast.energy_kwh['low'], 'energy_kwh')}"
                f" to {with_unit(forecast.energy_kwh['high'], 'energy_kwh')}); raise footprint.budget.kwh or shrink "
                "the suite")
    return None
