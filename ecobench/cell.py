"""One cell of the sweep: score -> prune -> recover -> evaluate -> eval/prefill/decode measured beside the seed's
dense model (ecobench/measure.py), each phase inside its own footprint window. A pure function of (suite, cell, dense checkpoint folder) returning one CellRecord, so cells can run in
other processes or on other machines; only the driver writes the results folder."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ecobench.config.schema import Suite
from ecobench.data.calibration import draw_calibration
from ecobench.dense import load_dense, load_recorded, phase_row
from ecobench.device import autocast, eval_precision, resolve_device, sparse_eval_dtype, to_device
from ecobench.domains import evaluate_domains
from ecobench.errors import CellFailed
from ecobench.families import load_data, of_data
from ecobench.footprint import Monitor
from ecobench.measure import eval_workload, inference_workloads, measure_paired
from ecobench.models.build import count_params
from ecobench.prune.apply import Pruned, prune_structure, sparse_execution, structured_metrics
from ecobench.prune.calibration import tokens_of
from ecobench.prune.flops import token_cost
from ecobench.prune.masks import overall_sparsity, zeros_per_tensor
from ecobench.prune.methods import REGISTRY, ScoreInputs
from ecobench.prune.targets import select_targets
from ecobench.record import CellInfo, CellRecord, PhaseRow
from ecobench.sweep import CONTROL, DENSE, Cell, method_by_label
from ecobench.train import compile_warm, evaluate, train

RECOVER_SEED_OFFSET = 1_000_003  # recovery draws other batches than dense training, reproducibly per seed


def cell_info(suite: Suite, cell: Cell) -> CellInfo:
    method = None if cell.is_dense or cell.is_control else method_by_label(suite, cell.method)
    return CellInfo(
        suite=suite.name,
        key=cell.key,
        model=suite.model.label,
        seed=cell.seed,
        method=cell.method,
        method_name=(CONTROL if cell.is_control else DENSE) if method is None else method.name,
        method_options="" if method is None else json.dumps(method.model_dump(exclude={"name", "label"}), sort_keys=True),
        scope=cell.scope,
        structure="-" if cell.is_dense or cell.is_control else cell.structure,
        ratio=cell.ratio,
        multiplier=cell.multiplier,
    )


def run_cell(suite: Suite, cell: Cell, dense_dir: Path, dense: dict, monitor: Monitor, progress: bool = True,
             repeats: int | None = None) -> CellRecord:
    """Score, prune, recover, evaluate and time one cell of the sweep; return its record (one results line).
    `repeats`: pairs per measured workload (the run's choice, measure.paired_repeats); None: footprint.repeats."""
    info = cell_info(suite, cell)
    if dense.get("status") != "ok":
        return CellRecord(key=cell.key, cell=info, status="failed", reason=f"dense training failed: {dense.get('reason')}")
    phases: list[dict[str, Any]] = []
    calibration_tokens = 0
    data = load_data(suite.data, suite.model)
    device = resolve_device(suite.run.device)  # every tensor of every phase below lives there
    model = load_dense(suite, cell.seed, dense_dir, data, device)
    targets = select_targets(model, suite.prune.targets)

    @contextmanager
    def window(phase: str, **extra: Any) -> Iterator[dict]:
        found: dict[str, Any] = {}
        with monitor.window(f"{cell.key}/{phase}") as w:
            yield found
        phases.append(phase_row(phase, monitor, w, **extra, **found))

    def compiled() -> Any:
        """train.compile: the model compiled and warmed in its own `compile` window, outside the recover window."""
        if not (suite.train.compile and steps):
            return None
        with window("compile") as found:
            forward, found["compile_s"] = compile_warm(model, data, suite.train)
        return forward

    pruned = Pruned(None)
    steps = suite.prune.recover_steps
    lr = suite.prune.recover_lr or suite.train.lr / 10
    try:
        if cell.is_dense:
            phases += [r for r in (dense.get("compile_row"), dense["row"]) if r is not None]
        elif cell.is_control:  # dense + the same recovery steps, no mask: the compute-matched reference
            forward = compiled()
            with window("recover", steps=steps, tokens=steps * suite.train.batch_size * data.context):
                train(model, data, suite.train, steps=steps, seed=cell.seed + RECOVER_SEED_OFFSET, phase="recover",
                      constant_lr=lr, progress=progress, forward=forward)
        else:
            method = method_by_label(suite, cell.method)
            spec = REGISTRY[method.name]
            with window("score") as found:
                calibration = []
                if spec.needs & {"calibration", "gradients"}:
                    calibration = to_device(draw_calibration(data, suite.prune.calibration), device)
                    found["calibration_tokens"] = tokens_of(calibration)
                inputs = ScoreInputs(
                    weights={n: p.detach() for n, p in targets.items()},
                    recorded=load_recorded(dense_dir, device) if "recorded" in spec.needs else {},
                    seed=cell.seed,
                    model=model,
                    calibration=calibration,
                    targets=targets,
                    scope=cell.scope,
                    structure=cell.structure,
                )
                scores = spec.score(method, inputs) if spec.score is not None else None
            with window("prune"):
                if spec.prune is not None:  # the method rewrites the kept weights as it prunes (SparseGPT)
                    pruned = Pruned(spec.prune(method, inputs, cell.ratio or 0.0, cell.scope))
                else:
                    pruned = prune_structure(model, targets, scores, cell, suite.prune)
            calibration_tokens = tokens_of(calibration)
            del scores, inputs, calibration
            if pruned.shrink is not None:  # a smaller model: its own (smaller) weights are the targets now
                targets = select_targets(model, suite.prune.targets)
            if steps:
                # masks held; a smaller model trains as it is (train() builds a fresh optimizer for its parameters)
                held = None if pruned.masks is None else {n: (targets[n], pruned.masks[n]) for n in targets}
                forward = compiled()
                with window("recover", steps=steps, tokens=steps * suite.train.batch_size * data.context):
                    train(model, data, suite.train, steps=steps, seed=cell.seed + RECOVER_SEED_OFFSET, phase="recover",
                          constant_lr=lr, masks=held, progress=progress, forward=forward)
        # what was pruned, counted before any sparse-kernel swap takes the weights out of the model
        counts = zeros_per_tensor({k: p.detach() for k, p in targets.items()})
        nonzero = sum(int((p != 0).sum()) for p in {id(p): p for p in model.parameters()}.values())
        params_total = count_params(model)
        exploited = "dense" if cell.is_dense or cell.is_control else pruned.sparsity_exploited
        precision = eval_precision(suite.train.precision, suite.eval.precision)  # eval, prefill, decode: both sides
        half = sparse_eval_dtype(precision, device, suite.eval.execution)  # a GPU's 2:4 kernels take half types only
        if half is not None:
            model.to(half)
        backend = None
        if suite.eval.execution == "sparse" and pruned.masks is not None:
            exploited, backend = sparse_execution(model, list(targets), say=lambda line: tqdm.write(line, file=sys.stderr))
        eval_bs = suite.eval.batch_size or 4 * suite.train.batch_size
        max_batches = None if suite.eval.batches == "all" else suite.eval.batches
        with autocast(precision, device):
            ev = evaluate(model, data, eval_bs, max_batches)  # the loss; footprint comes from the paired windows below
            # eval.domains: the same model on other held-out corpora; part of the loss evaluation, not a measured phase
            domain_metrics = evaluate_domains(model, suite, eval_bs)
        workloads = [eval_workload(suite, data), *inference_workloads(suite, data)]
        # the seed's dense model, measured beside this cell: loaded only now, so that scoring and pruning hold one
        # model (with a method's scores), not two (issue 11's 2-copy limit)
        reference = load_dense(suite, cell.seed, dense_dir, data, device)
        if half is not None:
            reference.to(half)  # the same type as the pruned side: the ratio compares kernels, not precisions
        phases += measure_paired(monitor, cell.key, model, reference, workloads, repeats or suite.footprint.repeats,
                                 order_seed=cell.seed)
        cost = token_cost(model, data.context)  # after any shrink or sparse-kernel swap: what runs
        frac, zeros, n = overall_sparsity(counts)
        metrics = {
            **of_data(data).metrics(ev, data),  # the family's quality metrics, loss first (text: loss, bpc, ppl)
            "eval_metric": suite.eval.metric,  # what the loss-vs-ratio figure plots
            "sparsity": frac,
            "sparsity_target": cell.ratio,
            "pruned_weights": zeros,
            "targeted_weights": n,
            "params_total": params_total,
            "params_nonzero": nonzero,
            "recover_steps": 0 if cell.is_dense else suite.prune.recover_steps,
            "calibration_tokens": calibration_tokens,  # training-split tokens the method read (0: none)
            "flops_per_token_dense": cost.dense_flops,  # every matmul at its full shape
            "flops_per_token_effective": cost.effective_flops,  # what the kernels that run multiply
            **({"flops_per_image": cost.image_flops} if cost.image_flops else {}),  # vision tower + projector
            "eval_tokens": ev.tokens,  # tokens evaluated, spread over the validation split
            "eval_tokens_available": data.val_windows() * data.context,  # what `eval.batches: all` would read
            "dense_train_loss": dense["train_loss"],
            "layer_sparsity": {k: z / m for k, (z, m) in counts.items()},
            "sparsity_exploited": exploited,
            "sparse_backend": backend,  # the 2:4 library that ran (cusparselt | cutlass), None without 2:4
            "eval_precision": precision if half is None else str(half).removeprefix("torch."),
            **domain_metrics,  # loss@<domain>, bpc@<domain>, ppl@<domain>, tokens@<domain>
        }
        if pruned.shrink is not None:
            metrics.update(structured_metrics(pruned, targets))
        return CellRecord(key=cell.key, cell=info, status="ok", metrics=metrics,
                          phases=[PhaseRow.model_validate(monitor.finish_row(p)) for p in phases])
    except CellFailed as err:
        return CellRecord(key=cell.key, cell=info, status="failed", reason=str(err), failed_phase=err.phase,
                          failed_step=err.step, phases=[PhaseRow.model_validate(monitor.finish_row(p)) for p in phases])
