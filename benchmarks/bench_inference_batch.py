"""Issue 10: the inference batch of suites/llm.yaml, chosen where arithmetic (not per-call overhead) dominates a
decode step of the main job's model, so that its structured cells' savings show in measured inference.

    python benchmarks/bench_inference_batch.py                 # ~1-2 min on 2 CPU cores
    python benchmarks/bench_inference_batch.py --batches 1 8 16 32 64 --repeats 9

The model is llm.yaml's own (GPT-2, 4 layers, 4 heads, width 128, MLP 512, context 128, the char vocabulary), random
init (speed does not depend on the values). Per batch size, interleaved in a rotating order in every repeat:
  dense               the model as llm.yaml builds it
  structured-mlp50    50% of MLP neurons removed (shrink_model, magnitude group scores): a smaller dense model
  unstructured-50     50% of block weights zeroed, run by the same dense kernels
  overhead            the same depth and heads at width 4 (MLP 16): a step with next to no arithmetic
Printed per batch: median ms per decode step, each variant's paired median ratio to dense, the overhead share of a
dense step (overhead / dense), and tokens/s. Exits 1 if the suite's largest eval.inference_batch_sizes is a batch where
overhead is more than half of a step, or where structured-mlp50 is not faster than dense.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time

import torch
from _common import load_llm_suite, median_ratio, verdict
from bench_structured_decode import step_s
from transformers import GPT2Config, GPT2LMHeadModel

from ecobench.prune.masks import apply_masks, masks_for_ratio
from ecobench.prune.shrink import shrink_model


def llm_model(suite, vocab: int, tiny: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    m = suite.model
    width = 4 if tiny else m.n_embd
    cfg = GPT2Config(vocab_size=vocab, n_positions=suite.data.context, n_embd=width, n_layer=m.n_layer,
                     n_head=m.n_head, n_inner=4 * width if tiny else (m.intermediate or 4 * m.n_embd),
                     activation_function="gelu_pytorch_tanh", bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(cfg).eval()


def blocks(model) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if p.dim() == 2 and ".h." in n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16, 32, 64])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--prompt", type=int, default=16, help="tokens in the KV cache before the timed steps")
    ap.add_argument("--steps", type=int, default=24, help="timed decode steps per measurement")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    suite = load_llm_suite()
    vocab = 80  # the 42 plays' characters (~75-80): the lm_head is a small share either way
    t0 = time.perf_counter()
    dense = llm_model(suite, vocab)
    structured = copy.deepcopy(dense)
    report = shrink_model(structured, {n: p.detach().abs() for n, p in blocks(structured).items()}, 0.5, 0.0)
    u50 = copy.deepcopy(dense)
    params = blocks(u50)
    apply_masks(params, masks_for_ratio({n: p.detach().abs() for n, p in params.items()}, 0.5, "layer"))
    variants = {"dense": dense, "structured-mlp50": structured, "unstructured-50": u50,
                "overhead": llm_model(suite, vocab, tiny=True)}
    print(f"llm.yaml model: {report.params_before:,} params -> structured-mlp50 {report.params_after:,}; decode after "
          f"a {args.prompt}-token prefill, {args.steps} timed steps, {args.threads} thread(s), {args.repeats} repeats")
    share, speedup = {}, {}
    for batch in args.batches:
        times: dict[str, list[float]] = {k: [] for k in variants}
        names = list(variants)
        for r in range(args.repeats):
            for name in names[r % len(names):] + names[: r % len(names)]:
                times[name].append(step_s(variants[name], batch, args.prompt, args.steps))
        ratio = {k: median_ratio(list(zip(ts, times["dense"]))) for k, ts in times.items()}
        share[batch], speedup[batch] = ratio["overhead"], ratio["structured-mlp50"]
        dense_ms = statistics.median(times["dense"]) * 1e3
        print(f"\nbatch {batch}: dense {dense_ms:.2f} ms/step = {batch / dense_ms * 1e3:,.0f} tokens/s; "
              f"overhead share {share[batch]:.0%}")
        for name, ts in times.items():
            print(f"  {name:18s} {statistics.median(ts) * 1e3:7.2f} ms  {ratio[name]:.3f}x dense")
    print(f"\nwall time {time.perf_counter() - t0:.0f} s")
    bs = max(suite.eval.inference_batch_sizes)
    if bs not in share:
        print(f"llm.yaml's largest eval.inference_batch_sizes {bs} was not measured (pass --batches ... {bs})")
        return 1
    rc = verdict(share[bs] <= 0.5, f"llm.yaml inference batch {bs}: per-call overhead {share[bs]:.0%} of a dense "
                                   "decode step (<= 50%: compute dominates)")
    rc |= verdict(speedup[bs] < 1.0, f"llm.yaml inference batch {bs}: structured-mlp50 {speedup[bs]:.3f}x dense")
    return rc


if __name__ == "__main__":
    sys.exit(main())
