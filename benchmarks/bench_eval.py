"""Target 4: evaluation reaches >= 2.5x the tokens/s of the training step on the same model.

    python benchmarks/bench_eval.py                  # the main job's model, runner's eval settings, 6 pairs
    python benchmarks/bench_eval.py --pairs 10

`ecobench.train.evaluate` (torch.inference_mode, the runner's eval batch size: eval.batch_size, else
4 x train.batch_size) against `ecobench.train.train` steps on the same model and data, interleaved ABBA with
the same number of tokens each (after a warm-up of both). First a sweep of eval batch sizes shows where
throughput peaks on this machine (on CPU a bigger batch is not always faster: activations fall out of cache).
Also printed: the first evaluate() on a freshly built model, as the runner's eval phase meets it. Exits 1 if the
median eval/train ratio is below 2.5.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from _common import load_llm_suite, verdict

from ecobench.data.dataset import load_data
from ecobench.models.build import build_model
from ecobench.train import evaluate, train

TARGET = 2.5


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=6)
    ap.add_argument("--steps", type=int, default=5, help="training steps per round")
    ap.add_argument("--sweep", type=int, nargs="*", default=[16, 32, 64, 128, 256], help="eval batch sizes to try")
    args = ap.parse_args()
    suite = load_llm_suite()
    cfg = suite.train
    data = load_data(suite.data, suite.model)
    eval_bs = suite.eval.batch_size or 4 * cfg.batch_size
    print(f"model {suite.model.label}, context {data.context}, vocab {data.vocab_size}, torch threads "
          f"{torch.get_num_threads()}; train batch {cfg.batch_size}, eval batch {eval_bs}", flush=True)

    fresh = build_model(suite.model, data.vocab_size, data.context, 0)
    r = evaluate(fresh, data, eval_bs, suite.eval.batches if suite.eval.batches != "all" else None)
    print(f"first evaluate() on a fresh model ({suite.eval.batches} batches): {r.tokens / r.wall_s:,.0f} tok/s")

    model = build_model(suite.model, data.vocab_size, data.context, 0)
    train(model, data, cfg, steps=2, seed=0, progress=False)  # warm-up
    for bs in args.sweep:
        evaluate(model, data, bs, 1)
        batches = max(1, 4 * eval_bs // bs)
        r = evaluate(model, data, bs, batches)
        print(f"  eval batch {bs:>4}: {r.tokens / r.wall_s:>9,.0f} tok/s", flush=True)

    train_tokens = args.steps * cfg.batch_size * data.context
    eval_batches = max(1, train_tokens // (eval_bs * data.context))
    pairs = []

    def train_round() -> float:
        t0 = time.perf_counter()
        train(model, data, cfg, steps=args.steps, seed=len(pairs), progress=False)
        return train_tokens / (time.perf_counter() - t0)

    def eval_round() -> float:
        r = evaluate(model, data, eval_bs, eval_batches)
        return r.tokens / r.wall_s

    for i in range(args.pairs):
        if i % 2 == 0:
            t, e = train_round(), eval_round()
        else:
            e = eval_round()
            t = train_round()
        pairs.append((t, e))
        print(f"pair {i + 1}: train {t:,.0f} tok/s, eval {e:,.0f} tok/s, ratio {e / t:.2f}", flush=True)
    ratios = [e / t for t, e in pairs]
    ratio = statistics.median(ratios)
    print(f"eval / train tokens/s: median {ratio:.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}); best rounds "
          f"train {max(t for t, _ in pairs):,.0f}, eval {max(e for _, e in pairs):,.0f} tok/s")
    return verdict(ratio >= TARGET, f"eval/train throughput {ratio:.2f}x (target >= {TARGET}x)")


if __name__ == "__main__":
    sys.exit(main())
