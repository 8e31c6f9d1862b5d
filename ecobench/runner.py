"""Runs a suite: checks it, opens the results folder, has an executor (ecobench/executors: local, ray) train each
seed's dense model once and run every cell (`ecobench.cell`), and appends each record. Only this driver writes the
results folder."""

from __future__ import annotations

import glob
import logging
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ecobench.accounting import RunAccount, StartUp, run_total, share_line
from ecobench.config.load import SuiteFile
from ecobench.config.schema import Suite
from ecobench.data.calibration import calibration_problem
from ecobench.data.corpus import pending_fetch
from ecobench.data.dataset import TokenData
from ecobench.device import DeviceError, check_precision, resolve_device, set_deterministic
from ecobench.domains import load_domain
from ecobench.errors import DataError, ResultsError, SensorError, SuiteError, TargetsError, UserError
from ecobench.executors import Executor, ExecutorOptions, SweepJob, driver_footprint, make_executor
from ecobench.families import load_data
from ecobench.footprint import Monitor
from ecobench.footprint.contention import contention_line
from ecobench.footprint.idle import measure_idle_baseline
from ecobench.forecast import budget_problem, calibrate, make_forecast
from ecobench.integrity import MANIFEST, read_manifest
from ecobench.limits import memory_problems
from ecobench.measure import floor_line, noise_floor, paired_repeats, set_threads, warm_up_process
from ecobench.models.build import build_model, build_skeleton
from ecobench.models.pretrained import pretrained_problem
from ecobench.provenance import build_manifest, data_record
from ecobench.prune.methods import REGISTRY
from ecobench.prune.targets import check_targets
from ecobench.record import CellRecord
from ecobench.store import CELLS, RunStore, read_cells
from ecobench.sweep import expand

log = logging.getLogger(__name__)


def check_suite(sf: SuiteFile, fetch: bool = True) -> TokenData | None:
    """Everything that can be checked without training: the data loads, fits the context, the model exists.

    `fetch=False` (validate) never downloads: a corpus URL that is not cached returns None (the data checks wait
    for the run, which fetches it and checks its sha256)."""
    suite = sf.suite
    problems = []
    fetch_later = not fetch and pending_fetch(suite.data) is not None
    found = pretrained_problem(suite.model) if suite.model.pretrained else None
    if found:
        problems.append(f"{sf.where(found[0])}: {found[0]}: {found[1]}")
    if suite.data.tokenizer == "pretrained" and not suite.model.pretrained:
        problems.append(f"{sf.where('data.tokenizer')}: data.tokenizer: 'pretrained' needs model.pretrained")
    for i, m in enumerate(suite.prune.methods):
        for field, message in m.problems(suite):
            problems.append(f"{sf.where(field)}: prune.methods[{i}] ({m.display}): {field}: {message}")
    from ecobench.claims.checks import claim_problems  # groups that select no cell, metrics the runs lack

    problems += claim_problems(suite, sf.source, sf.lines)
    if not found:
        from ecobench.families.checks import family_problems

        batch_methods = frozenset(n for n, m in REGISTRY.items() if m.needs & {"calibration", "gradients"})
        problems += [f"{sf.where(f)}: {f}: {message}" for f, message in family_problems(suite, batch_methods)]
    data = None
    if not problems and not fetch_later:
        try:
            data = load_data(suite.data, suite.model)
        except DataError as err:
            problems.append(f"{sf.where(err.field)}: {err}")
    if data is not None and (mem := memory_problems(suite, data.vocab_size, data.context)):  # before building any
        raise SuiteError(f"{sf.where(mem[0][0])}: {mem[0][0]}: {mem[0][1]}", [f"{sf.where(f)}: {f}: {m}" for f, m in mem])
    for domain in suite.eval.domains if data is not None else []:  # each extra domain loads and fits the context
        try:
            load_domain(suite, domain, fetch=False)
        except DataError as err:
            problems.append(f"{sf.where('eval.domains')}: eval.domains: {domain}: {err}")
    if data is not None and suite.prune.structures != ["unstructured"]:
        from ecobench.prune.suite_checks import meta_model, structure_problems

        model = meta_model(suite, data.vocab_size, data.context)
        if model is not None:
            problems += [f"{sf.where(field)}: {field}: {msg}" for field, msg in structure_problems(suite, model)]
    if data is not None and suite.prune.targets.lm_head:  # a tied head is refused before anything is trained
        try:
            check_targets(build_skeleton(suite.model, data.vocab_size, data.context), suite.prune.targets)
        except TargetsError as err:
            problems.append(f"{sf.where(err.field)}: {err}")
        except UserError as err:  # a pretrained checkpoint whose config cannot be read
            problems.append(f"{sf.where('model.pretrained')}: {err}")
    calibrated = [m for m in suite.prune.methods if REGISTRY[m.name].needs & {"calibration", "gradients"}]
    if data is not None and calibrated and calibration_problem(data, suite.prune.calibration):
        problems.append(f"{sf.where('prune.calibration')}: prune.calibration: "
                        f"{calibration_problem(data, suite.prune.calibration)}")
    if data is not None and suite.eval.inference_tokens:
        prompt = getattr(data, "prompt_len", suite.eval.prompt_tokens)  # image-question data: image + question
        room = data.context - prompt
        if suite.eval.inference_tokens > room:
            problems.append(
                f"{sf.where('eval.inference_tokens')}: eval.inference_tokens: {suite.eval.inference_tokens} decode "
                f"steps after a {prompt}-token prompt exceed the context ({data.context}); at most "
                f"{room} (it counts tokens per sequence in one decode window)")
    if problems:
        raise SuiteError(problems[0], problems)
    return data


def prepare_device(sf: SuiteFile, executor: str = "local") -> torch.device:
    """The run's device (run.device resolved), its precision checked there, determinism set; one line if refused.
    With a remote executor the workers resolve and check run.device on their own nodes (executors/ray.py); the
    driver does its own small work (warm-up, noise floor) on the CPU and meters the CPU only."""
    suite = sf.suite
    if executor != "local":  # the driver does no GPU work: its window must not meter the tasks' GPU (issue 28)
        set_deterministic(suite.run.deterministic)
        return torch.device("cpu")
    try:
        device = resolve_device(suite.run.device)
    except DeviceError as err:
        raise UserError(f"{sf.where(err.field)}: {err}") from None
    problem = check_precision(suite.train.precision, device)
    if problem and executor == "local":
        raise UserError(f"{sf.where('train.precision')}: train.precision: {problem}")
    set_deterministic(suite.run.deterministic)
    return device if not problem else torch.device("cpu")


def compute_line(suite: Suite, device: torch.device) -> str:
    """What `run` says about where it computes, beside the meters' summary line."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    return (f"compute: {device} ({name}), train.precision {suite.train.precision}"
            + (" (bf16 autocast on the CPU: allowed, usually slower than fp32 there)"
               if device.type == "cpu" and suite.train.precision == "bf16" else ""))


def default_out(suite: Suite, root: Path = Path("results")) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return root / f"{suite.name}-{stamp}"


def find_resumable(suite: Suite, root: Path = Path("results")) -> Path | None:
    """The newest unfinished run of this same suite under results/, so re-running the command resumes it."""
    if not root.is_dir():
        return None
    want = {c.key for c in expand(suite)}
    for d in sorted(root.glob(f"{glob.escape(suite.name)}-*"), reverse=True):
        try:
            m = read_manifest(d)
            if m["suite_fingerprint"] != suite.fingerprint():
                continue
            done = {r.key for r in read_cells(d / CELLS)}
        except ResultsError as err:  # a damaged folder is not resumed, and does not stop a fresh run either
            log.warning("not resuming %s: %s", d, err)
            continue
        return d if not want <= done else None
    return None


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
        line = f"dense loss: {dense['loss'].mean():.4f}"
        answers = [m for m in ("accuracy", "mae") if f"{m}_chance" in dense and dense[m].notna().any()]
        if answers:  # image-question runs: what the model answers beside what chance would score
            line += "".join(f", {m} {dense[m].mean():.4f} (chance {dense[m + '_chance'].mean():.4f})" for m in answers)
            line += " on validation images never trained on"
        parts.append(f"{line} (n={len(dense)} seeds)")
    if not pruned.empty:
        structure = pruned["structure"] if "structure" in pruned.columns else "unstructured"
        named = pd.Series(structure, index=pruned.index).fillna("unstructured").map(
            lambda st: "" if st == "unstructured" else f"{st}/")
        pruned = pruned.assign(row=pruned["method"] + "/" + named + pruned["scope"])
        order = sorted(pruned["target"].unique(), key=lambda t: (t.startswith("std"), float(t.removeprefix("std"))))
        loss = pruned.pivot_table(index="row", columns="target", values="loss", aggfunc="mean")[order]
        spars = pruned.pivot_table(index="row", columns="target", values="sparsity", aggfunc="mean")[order]
        with pd.option_context("display.width", 200, "display.max_columns", 50):
            parts.append("validation loss (nats/token), mean over seeds, by target ratio:\n" + loss.round(4).to_string())
            parts.append("sparsity reached:\n" + spars.round(3).to_string())
    return "\n\n".join(parts)


BUDGET_EXIT = 3  # `run` stopped cleanly (the budget was passed, or on_contention: stop); resumable


def _earlier_sessions(out: Path) -> tuple[dict | None, list]:
    """The manifest and cells already in `out` (a resume), or (None, [])."""
    if not (out / MANIFEST).exists():
        return None, []
    return read_manifest(out), read_cells(out / CELLS)  # checked whole by RunStore.preflight


def run_suite(sf: SuiteFile, out: Path | None, argv: list[str], progress: bool = True, new: bool = False,
              executor: str = "local", options: ExecutorOptions | None = None) -> int:
    """Run the suite's remaining cells inside one run window (accounting.RunAccount): forecast, budget check,
    idle baseline, dense models, cells (by `executor`); the session's footprint goes into the manifest after the last
    row."""
    suite = sf.suite
    ex = make_executor(executor, options)  # an executor this machine cannot use is refused before any work
    data = check_suite(sf)  # raises before anything is written, and before the meters' slow set-up
    threads = set_threads(suite.train.threads)  # recorded in the manifest
    if out is None:
        out = None if new else find_resumable(suite)
        if out is not None:
            print(f"resuming {out} (same suite, unfinished); pass --new for a fresh run", file=sys.stderr)
        else:
            out = default_out(suite)
    elif new and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ResultsError(f"{out}: --new asks for a fresh run, but this folder exists and is not empty; give "
                           "another --out, or drop --new to resume it")
    # unwritable, full, locked, or holding another suite's results: say so now, before the meters' set-up
    RunStore.preflight(out, suite.fingerprint(), suite.legacy_fingerprint(), data_record(data))
    device = prepare_device(sf, executor)
    try:
        ran_by = ex.open(suite)
        monitor = Monitor(driver_footprint(suite.footprint, executor), device=str(device))  # the work's device
        monitor.start(measure_idle=False)  # may refuse (footprint.require) before anything is trained
    except SensorError as err:
        ex.close()
        raise SensorError(f"{sf.where(err.field)}: {err}", err.field) from err
    except BaseException:
        ex.close()
        raise
    account = RunAccount(monitor)  # from here on measured; before, estimated from the process's own times
    store = None
    ended = "error"
    try:
        old_manifest, old_cells = _earlier_sessions(out)
        spent_kwh = (run_total(old_manifest, old_cells).energy_kwh or 0.0) if old_manifest else 0.0
        cells = expand(suite)
        done = {r.key for r in old_cells}
        todo = [c for c in cells if c.key not in done]
        dense_seeds = [s for s in suite.seeds if any(c.seed == s for c in todo)
                       and not (out / "dense" / f"seed-{s}" / "train.json").is_file()]
        scratch = build_model(suite.model, data.vocab_size, data.context, 0).to(device)  # throwaway, the suite's shape
        warm_up_process(suite, data, scratch)  # before the first measured window of this process
        cal, probe = calibrate(suite, data, monitor)
        fc = make_forecast(suite, data, cal, probe, monitor.site, todo, dense_seeds, StartUp.now(), True)
        account.forecast = fc.as_dict()
        print(fc.line(), file=sys.stderr)
        problem = budget_problem(suite, fc, spent_kwh)
        if problem:
            raise UserError(f"{sf.where('footprint.budget')}: {problem}")
        idle = measure_idle_baseline(monitor, str(device))  # the one procedure, as in every Ray worker
        floor = noise_floor(monitor, suite, data, scratch)
        del scratch
        pairs = paired_repeats(suite, floor["energy_kwh_pair_ratio_cv"], sum(not (c.is_dense or c.is_control)
                                                                               for c in cells),
                               (old_manifest or {}).get("paired_repeats"))  # footprint.detect: from the noise floor
        manifest = build_manifest(sf, argv, data) | {"footprint": monitor.manifest() | {"idle_procedure": idle},
                                                     "noise_floor": floor, "paired_repeats": pairs}
        manifest["sessions"][-1] |= {"noise_floor": floor, "threads": threads}  # a resumed run measures its own
        manifest["sessions"][-1]["executor"] = ran_by  # a run may be resumed by another executor
        store = RunStore.open(out, manifest, suite.fingerprint(), suite.legacy_fingerprint())
        print(compute_line(suite, device), file=sys.stderr)
        print(monitor.summary_line(), file=sys.stderr)
        print(floor_line(floor, pairs), file=sys.stderr)
        print(f"{out}: {len(cells)} cells, {len(done)} already finished, {len(todo)} to run", file=sys.stderr)
        ended = _sweep(suite, store, todo, monitor, account, spent_kwh, progress, ex, pairs["repeats"])
        status = _summarise(out, suite, ended)  # inside the run window: the run ends with its last line printed
    except KeyboardInterrupt:
        ended = "interrupted"
        raise
    finally:
        try:
            if store is not None:
                _record_session(store, ex.account(account.finish(ended)))
        finally:
            if store is not None:
                store.close()
            monitor.close()
            ex.close()
    print(share_line(run_total(read_manifest(out), read_cells(out / CELLS))), file=sys.stderr)
    return status


def _summarise(out: Path, suite: Suite, ended: str) -> int:
    """Print the summary table and failures; the exit status."""
    from ecobench.results import load

    df = load(out)
    print(summary_table(df))
    failed = df[df["status"] != "ok"].drop_duplicates("key")
    print(f"\nresults: {out}")
    print(contention_line(df, suite.footprint.on_contention), file=sys.stderr)
    if ended in ("budget", "contention"):
        print("stopped: " + (f"the run's measured energy passed footprint.budget ({suite.footprint.budget.kwh:g} kWh)"
              "; raise it and" if ended == "budget" else "other programs kept the machine busy (footprint."
              "on_contention: stop);") + " re-run the same command to resume", file=sys.stderr)
        return BUDGET_EXIT
    if not failed.empty:
        print(f"{len(failed)} cell(s) failed:", file=sys.stderr)
        for _, r in failed.iterrows():
            print(f"  {r['key']}: {r['reason']}", file=sys.stderr)
        return 1
    return 0


def _sweep(suite: Suite, store: RunStore, todo: list, monitor: Monitor, account: RunAccount, spent_kwh: float,
           progress: bool, executor: Executor, repeats: int) -> str:
    """Dense models and cells by the executor, each row appended here; 'budget' when the measured total passed
    the budget, else 'complete'."""
    budget = suite.footprint.budget

    def over(elsewhere_kwh: float) -> bool:
        if budget is None:
            return False
        now = account.so_far()["energy_kwh"]
        return now is not None and spent_kwh + now + elsewhere_kwh > budget.kwh

    sweep = tqdm(total=len(todo), desc="sweep", unit="cell", disable=not progress, position=0, dynamic_ncols=True)

    def emit(rec: CellRecord) -> None:
        store.append(rec)
        if rec.status != "ok":
            tqdm.write(f"cell {rec.key} failed: {rec.reason}", file=sys.stderr)
        sweep.update(1)

    job = SweepJob(suite, todo, store, monitor, emit, over, sweep.set_postfix_str, progress, repeats=repeats)
    try:
        return executor.run(job)
    finally:
        sweep.close()
        if job.notes:
            store.update_manifest(lambda m: m["sessions"][store.session_index]["executor"].update(job.notes))


def _record_session(store: RunStore, footprint: dict) -> None:
    """This session's footprint into its manifest entry, and the run total over all sessions beside it."""

    def update(m: dict) -> None:
        m["sessions"][store.session_index]["footprint"] = footprint
        m["run_footprint"] = run_total(m, read_cells(store.cells_path)).as_dict()

    store.update_manifest(update)
