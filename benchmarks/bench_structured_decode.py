"""Issue 10: structured pruning (50% of MLP neurons) decodes at <= 0.8x dense time per token, at batch 1 and 16.

    python benchmarks/bench_structured_decode.py                   # SmolLM2-135M's shape (~3 min)
    python benchmarks/bench_structured_decode.py --shape gpt10m     # the paper's 10.7M GPT shape (~1 min)
    python benchmarks/bench_structured_decode.py --repeats 15 --prompt 64

Shapes, random init (speed does not depend on the values): `gpt10m`, GPT-2 of the paper's 10.7M shape (6 layers,
6 heads, width 384, MLP 1536, context 256, vocab 65); `smollm2`, Llama of SmolLM2-135M's shape (30 layers, 9 heads
in 3 key/value groups of head_dim 64, width 576, MLP 1536, vocab 49152, tied embeddings). The target is set on
smollm2, where arithmetic dominates a decode step (per-call overhead measured 10-14% on the 2-core CPU); on gpt10m
at batch 1 overhead is ~37% of a step, so removing half the MLP (a third of its FLOPs) lands near 0.8-0.87x there. One decode step = one token per sequence through the KV cache after a
`--prompt`-token prefill (untimed); time per token = median over `--steps` steps. Variants, interleaved in a
rotating order in every repeat, each against the dense model of the same repeat (median of paired ratios):
  structured-mlp50    50% of MLP neurons removed (magnitude group scores): a smaller dense model
  unstructured-50/90  50% / 90% of block weights zeroed, run by the same dense kernels (expect ~1.0x)
  unstructured-90-csr the 90% model with execution: sparse (torch CSR matmul on CPU): whatever it measures
  overhead            the same depth and heads at width 6 (9): what a step costs with next to no arithmetic
Also printed: parameters and safetensors bytes next to the analytic count, FLOPs per token (dense and effective),
and the CSR model's largest logit difference from the dense masked model.

Energy, in the same run: structured-mlp50 against dense through ecobench's own paired protocol (ecobench.measure:
a warm-up, then `--energy-repeats` decode windows of `--energy-steps` steps per side, A/B/A/B, the prefill outside
the window; footprint/stats.py's t interval on the per-pair log ratios). Printed: energy per 1k tokens of each side
with its interval, the structured / dense ratio with its interval and p-value, and the meters' sources (on a
machine without RAPL or NVML the energy is codecarbon's estimate from the process's CPU time: the line says so).
Exits 1 if structured misses 0.8x decode time, or if its energy-per-1k-tokens ratio interval does not lie below 1.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import median_ratio, verdict
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from ecobench.config.footprint import FootprintConfig
from ecobench.footprint import Monitor, stats
from ecobench.measure import Workload, measure_paired
from ecobench.prune.execution import use_sparse_kernels
from ecobench.prune.flops import analytic_params, token_cost
from ecobench.prune.masks import apply_masks, masks_for_ratio
from ecobench.prune.shrink import shrink_model
from ecobench.train import decode, prefill

TARGET = 0.8
BATCHES = (1, 16)


def gpt10m(tiny: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    width = 6 if tiny else 384
    cfg = GPT2Config(vocab_size=65, n_positions=256, n_embd=width, n_layer=6, n_head=6, n_inner=4 * width,
                     activation_function="gelu_pytorch_tanh", bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(cfg).eval()


def smollm2(tiny: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    width, head_dim, inner, vocab = (9, 1, 4, 64) if tiny else (576, 64, 1536, 49152)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=width, intermediate_size=inner, num_hidden_layers=30,
                      num_attention_heads=9, num_key_value_heads=3, head_dim=head_dim, max_position_embeddings=2048,
                      tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, pad_token_id=0)
    return LlamaForCausalLM(cfg).eval()


SHAPES = {"gpt10m": gpt10m, "smollm2": smollm2}


def block_weights(model) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if p.dim() == 2 and (".h." in n or ".layers." in n)}


def masked(dense, ratio: float):
    model = copy.deepcopy(dense)
    params = block_weights(model)
    apply_masks(params, masks_for_ratio({n: p.detach().abs() for n, p in params.items()}, ratio, "layer"))
    return model


@torch.inference_mode()
def step_s(model, batch: int, prompt: int, steps: int) -> float:
    """Median seconds of one decode step (one token per sequence) after an untimed prefill."""
    g = torch.Generator().manual_seed(batch)
    out = model(torch.randint(0, model.config.vocab_size, (batch, prompt), generator=g), use_cache=True)
    cache, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        out = model(nxt, past_key_values=cache, use_cache=True)
        nxt = out.logits[:, -1:].argmax(-1)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def energy_rows(dense, structured, prompt: int, steps: int, repeats: int) -> tuple[dict[int, dict], str]:
    """Paired decode windows (ecobench.measure) of structured vs dense at each batch: batch -> phase row."""
    monitor = Monitor(FootprintConfig(idle_seconds=0))
    monitor.start()
    rows = {}
    try:
        for batch in BATCHES:
            ids = torch.randint(0, dense.config.vocab_size, (batch, prompt), generator=torch.Generator().manual_seed(1))
            w = Workload("decode", batch, lambda m, state: decode(m, state, steps), setup=lambda m, ids=ids: prefill(m, ids))
            (rows[batch],) = measure_paired(monitor, "structured-mlp50", structured, dense, [w], repeats)
        sources = monitor.summary_line()
    finally:
        monitor.close()
    return rows, sources


def _iv(low, high, scale: float = 1.0, fmt: str = ".3f") -> str:
    return "[–]" if low is None or high is None else f"[{low * scale:{fmt}}–{high * scale:{fmt}}]"


def file_bytes(model, where: Path) -> int:
    model.save_pretrained(where)
    return sum(f.stat().st_size for f in where.glob("*.safetensors"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="smollm2")
    ap.add_argument("--repeats", type=int, default=None, help="default: 9 (gpt10m), 5 (smollm2)")
    ap.add_argument("--prompt", type=int, default=32, help="tokens in the KV cache before the timed steps")
    ap.add_argument("--steps", type=int, default=None, help="timed decode steps per measurement; 16 / 6")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--energy-repeats", type=int, default=8, help="paired decode windows per side and batch")
    ap.add_argument("--energy-steps", type=int, default=None, help="decode steps per energy window; 64 / 16")
    args = ap.parse_args()
    small = args.shape == "gpt10m"
    args.repeats = args.repeats or (9 if small else 5)
    args.steps = args.steps or (16 if small else 6)
    args.energy_steps = args.energy_steps or (64 if small else 16)
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()

    build = SHAPES[args.shape]
    dense = build()
    structured = copy.deepcopy(dense)
    report = shrink_model(structured, {n: p.detach().abs() for n, p in block_weights(structured).items()}, 0.5, 0.0)
    u50, u90 = masked(dense, 0.5), masked(dense, 0.9)
    csr = copy.deepcopy(u90)
    ex = use_sparse_kernels(csr, list(block_weights(u90)))
    if ex.notice():
        print(ex.notice())
    ids = torch.randint(0, dense.config.vocab_size, (2, 40), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        csr_diff = (csr(ids).logits - u90(ids).logits).abs().max().item()
    variants = {"dense": dense, "structured-mlp50": structured, "unstructured-50": u50, "unstructured-90": u90,
                "unstructured-90-csr": csr, "overhead": build(tiny=True)}
    exploited = {"dense": "no", "structured-mlp50": report.sparsity_exploited, "unstructured-50": "no",
                 "unstructured-90": "no", "unstructured-90-csr": ex.summary(), "overhead": "-"}

    with tempfile.TemporaryDirectory() as tmp:
        bytes_dense, bytes_small = file_bytes(dense, Path(tmp, "d")), file_bytes(structured, Path(tmp, "s"))
    p_dense, p_small = analytic_params(dense.config), analytic_params(structured.config)
    inner = dense.config.n_inner if small else dense.config.intermediate_size
    print(f"shape: {args.shape} ({type(dense).__name__}), MLP {inner} -> {report.layers[0].neurons_kept} neurons "
          f"per layer; decode after a {args.prompt}-token prefill; {args.threads} thread(s)")
    print(f"parameters: dense {report.params_before:,} (analytic {p_dense:,}) -> structured {report.params_after:,} "
          f"(analytic {p_small:,}): {report.params_after / report.params_before:.3f}x")
    print(f"safetensors: {bytes_dense:,} -> {bytes_small:,} bytes, drop {bytes_dense - bytes_small:,} "
          f"(analytic 4 x {p_dense - p_small:,} = {4 * (p_dense - p_small):,})")
    ctx = args.prompt + args.steps // 2
    for name in ("dense", "structured-mlp50", "unstructured-90", "unstructured-90-csr"):
        c = token_cost(variants[name], ctx)
        print(f"FLOPs/token at context {ctx}: {name:20s} dense-equivalent {c.dense_flops / 1e6:6.2f} M, "
              f"effective {c.effective_flops / 1e6:6.2f} M")
    print(f"CSR vs dense masked logits: max |diff| {csr_diff:.2e}")

    ratios: dict[int, dict[str, float]] = {}
    for batch in BATCHES:
        times: dict[str, list[float]] = {k: [] for k in variants}
        names = list(variants)
        for r in range(args.repeats):
            for name in names[r % len(names):] + names[: r % len(names)]:  # rotate who goes first
                times[name].append(step_s(variants[name], batch, args.prompt, args.steps))
        print(f"\nbatch {batch}: median ms per decode step (per token per sequence), ratio to dense (paired median)")
        ratios[batch] = {}
        for name, ts in times.items():
            ratios[batch][name] = median_ratio(list(zip(ts, times["dense"])))
            print(f"  {name:20s} {statistics.median(ts) * 1e3:8.2f} ms  {ratios[batch][name]:.3f}x  "
                  f"sparsity_exploited: {exploited[name]}")
        print(f"  per-call overhead share of a dense step: {ratios[batch]['overhead']:.0%} (same depth and heads, "
              "next to no arithmetic)")
    rows, sources = energy_rows(dense, structured, args.prompt, args.energy_steps, args.energy_repeats)
    print(f"\nenergy: structured-mlp50 vs dense, paired decode windows (ecobench.measure), {args.energy_repeats} per "
          f"side, {args.energy_steps} steps each, 95% t intervals\nsources: {sources}")
    for batch, r in rows.items():
        dense_iv = stats.mean_interval(r["dense_energy_kwh_per_1k_tokens_repeats"])
        print(f"  batch {batch:>2}: mWh per 1k tokens: structured {r['energy_kwh_per_1k_tokens'] * 1e6:.4f} "
              f"{_iv(r['energy_kwh_per_1k_tokens_ci_low'], r['energy_kwh_per_1k_tokens_ci_high'], 1e6, '.4f')}, "
              f"dense {dense_iv.mean * 1e6:.4f} {_iv(dense_iv.low, dense_iv.high, 1e6, '.4f')}")
        print(f"            ratio: energy/1k tokens {r['energy_kwh_per_1k_tokens_ratio']:.3f}x "
              f"{_iv(r['energy_kwh_per_1k_tokens_ratio_ci_low'], r['energy_kwh_per_1k_tokens_ratio_ci_high'])} "
              f"(p {r['energy_kwh_per_1k_tokens_ratio_p']:.2g}), wall {r['wall_s_ratio']:.3f}x "
              f"{_iv(r['wall_s_ratio_ci_low'], r['wall_s_ratio_ci_high'])}")
    print(f"\nwall time {time.perf_counter() - t_start:.0f} s")
    rc = 0
    for batch in BATCHES:
        rc |= verdict(ratios[batch]["structured-mlp50"] <= TARGET,
                      f"structured 50% MLP decode at batch {batch}: {ratios[batch]['structured-mlp50']:.3f}x "
                      f"dense (target <= {TARGET}x)")
    for batch, r in rows.items():
        high = r["energy_kwh_per_1k_tokens_ratio_ci_high"]
        rc |= verdict(high is not None and high < 1,
                      f"structured 50% MLP decode energy per 1k tokens at batch {batch}: interval "
                      f"{_iv(r['energy_kwh_per_1k_tokens_ratio_ci_low'], high)} excludes dense's (1.0)")
    return rc


if __name__ == "__main__":
    sys.exit(main())
