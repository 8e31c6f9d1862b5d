"""Target 1: ecobench's train phase reaches >= 0.97x the tokens/s of a plain PyTorch loop.

    python benchmarks/bench_train_throughput.py                 # 12 ABBA pairs of 10 steps (the main job's model)
    python benchmarks/bench_train_throughput.py --pairs 20 --steps 20

Both sides train the main job's model (suites/llm.yaml: GPT-2 shape, char vocab, 32 x 128 tokens a step) on the
same batches (data.batch with the same seed), with the same AdamW (decay on matrices only, the suite's betas and
weight decay), the same gradient clipping and the same torch threads, in this one process:

- plain: the loop below, nothing else (no Monitor, no hooks, no progress bar, loss read once at the end);
- ecobench: `ecobench.train.train` with the trajectory recorder hooked in at the suite's record_every, its tqdm
  bar on, inside a window of a started `ecobench.footprint.Monitor` (sampler thread running), as ensure_dense runs it.

Rounds alternate ABBA after one warm-up round each (a fresh process's first steps are ~10x slower); the figure
is the median over pairs of plain_s / ecobench_s. Exits 1 if it is below 0.97. Each ecobench round records a
checkpoint at its last step (the schedule always ends there), so with rounds shorter than record_every it records
more often than the suite does, and opens a window and a progress bar per round: overheads are over-counted, if
anything. Short rounds keep a pair inside one state of a shared machine's load; the ratio of the best rounds of
each side (contention only ever adds time) is printed beside the median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from _common import load_llm_suite, verdict

from ecobench.data.dataset import load_data
from ecobench.footprint import Monitor
from ecobench.models.build import build_model
from ecobench.prune.methods.trajectory import TrajectoryOptions
from ecobench.prune.targets import select_targets
from ecobench.prune.trajectory import TrajectoryRecorder, TrajectorySpec
from ecobench.train import train

TARGET = 0.97


def plain_round(model, data, cfg, steps: int, seed: int) -> float:
    """A plain PyTorch loop: the reference. Returns wall seconds."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    gen = torch.Generator().manual_seed(seed)
    model.train()
    t0 = time.perf_counter()
    for _ in range(steps):
        x, y = data.batch(cfg.batch_size, gen)
        logits = model(input_ids=x).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
    loss.item()
    return time.perf_counter() - t0


def ecobench_round(model, data, cfg, steps: int, seed: int, monitor: Monitor, specs) -> float:
    """The runner's train phase: window + recorder hook + progress bar. Returns wall seconds."""
    recorder = TrajectoryRecorder(select_targets(model, SUITE.prune.targets), specs, steps, cfg.record_every)
    t0 = time.perf_counter()
    with monitor.window("train"):
        train(model, data, cfg, steps=steps, seed=seed, hooks=(recorder.on_step,), progress=True)
    wall = time.perf_counter() - t0
    assert recorder.weight_total[specs[0]] > 0, "the recorder never fired"
    return wall


def main() -> int:
    global SUITE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=12, help="ABBA pairs of rounds (after one warm-up round each)")
    ap.add_argument("--steps", type=int, default=10, help="optimizer steps per round")
    args = ap.parse_args()
    SUITE = load_llm_suite()
    cfg = SUITE.train
    data = load_data(SUITE.data, SUITE.model)
    specs = [TrajectorySpec.of(m) for m in SUITE.prune.methods if isinstance(m, TrajectoryOptions)]
    plain_model = build_model(SUITE.model, data.vocab_size, data.context, 0)
    eco_model = build_model(SUITE.model, data.vocab_size, data.context, 0)
    monitor = Monitor(SUITE.footprint.model_copy(update={"idle_seconds": 0}))
    monitor.start()
    tokens = args.steps * cfg.batch_size * data.context
    print(f"model {SUITE.model.label}, {args.steps} steps x {cfg.batch_size} x {data.context} tokens a round, "
          f"record_every {cfg.record_every}, torch threads {torch.get_num_threads()}", flush=True)
    try:
        plain_round(plain_model, data, cfg, args.steps, 0)  # warm-up
        ecobench_round(eco_model, data, cfg, args.steps, 0, monitor, specs)
        pairs = []
        for i in range(args.pairs):
            seed = i + 1
            if i % 2 == 0:
                p = plain_round(plain_model, data, cfg, args.steps, seed)
                e = ecobench_round(eco_model, data, cfg, args.steps, seed, monitor, specs)
            else:
                e = ecobench_round(eco_model, data, cfg, args.steps, seed, monitor, specs)
                p = plain_round(plain_model, data, cfg, args.steps, seed)
            pairs.append((p, e))
            print(f"pair {i + 1}: plain {tokens / p:,.0f} tok/s, ecobench {tokens / e:,.0f} tok/s, ratio {p / e:.3f}",
                  flush=True)
    finally:
        monitor.close()
    ratios = [p / e for p, e in pairs]
    ratio = statistics.median(ratios)
    print(f"ecobench / plain tokens/s: median {ratio:.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}) over "
          f"{len(pairs)} pairs; best rounds: plain {tokens / min(p for p, _ in pairs):,.0f} tok/s, ecobench "
          f"{tokens / min(e for _, e in pairs):,.0f} tok/s, ratio {min(p for p, _ in pairs) / min(e for _, e in pairs):.3f}")
    return verdict(ratio >= TARGET, f"train throughput ratio {ratio:.3f} (target >= {TARGET})")


SUITE = None

if __name__ == "__main__":
    sys.exit(main())
