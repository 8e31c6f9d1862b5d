"""Target 3: scoring + masking a 135M-parameter Llama (SmolLM2-135M's shape) in under 5 s on CPU.

    python benchmarks/bench_prune_scale.py                  # magnitude + trajectory, layer + global, 4 ratios
    python benchmarks/bench_prune_scale.py --ratios 0.5

The model is built from a LlamaConfig with SmolLM2-135M's shape (hidden 576, 30 layers, 9 heads, 3 kv heads,
intermediate 1536, vocab 49152, tied embeddings): ~106M targeted block weights, far above torch.quantile's 16M
limit, so the global cut takes masks.py's sampled-then-exact selection. The trajectory average is a stand-in
(final weights plus noise; its values, not how it was recorded, are what scoring reads). Each case is timed as the
runner times it: score(), make_masks() and apply_masks() (the score and prune windows), and the count of pruned weights is checked to be exactly round(r*n)
(per tensor for `layer`, overall for `global`). Exits 1 if any case takes 5 s or more or misses the exact count.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from _common import verdict

from ecobench.config.schema import TargetsConfig
from ecobench.prune.masks import apply_masks, make_masks
from ecobench.prune.methods import REGISTRY, ScoreInputs
from ecobench.prune.methods.magnitude import MagnitudeOptions
from ecobench.prune.methods.trajectory import TrajectoryOptions
from ecobench.prune.targets import select_targets
from ecobench.prune.trajectory import TrajectorySpec

LIMIT_S = 5.0


def smollm2_shape() -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
        num_key_value_heads=3, max_position_embeddings=2048, tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    with torch.device("cpu"):
        return LlamaForCausalLM(cfg)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ratios", type=float, nargs="+", default=[0.1, 0.5, 0.77, 0.9])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = smollm2_shape()
    targets = select_targets(model, TargetsConfig())
    n_all = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    n = sum(p.numel() for p in targets.values())
    print(f"model: {n_all / 1e6:.1f}M parameters, {len(targets)} targeted tensors, {n / 1e6:.1f}M targeted weights "
          f"(built in {time.perf_counter() - t0:.1f} s); torch threads {torch.get_num_threads()}")
    weights = {k: p.detach() for k, p in targets.items()}
    traj_m = TrajectoryOptions(name="trajectory", weighting="sqrt", criterion="averaged")
    g = torch.Generator().manual_seed(1)
    avg = {k: w + 0.01 * torch.randn(w.shape, generator=g) for k, w in weights.items()}
    inputs = ScoreInputs(weights=weights, recorded={TrajectorySpec.of(traj_m).key: avg}, seed=0)
    methods = [("magnitude", MagnitudeOptions(name="magnitude")), ("trajectory", traj_m)]
    work = {k: torch.nn.Parameter(w.clone(), requires_grad=False) for k, w in weights.items()}  # what gets pruned
    failures = 0
    worst = 0.0
    print(f"{'method':<11}{'scope':<8}{'ratio':>6}{'score s':>9}{'mask s':>8}{'apply s':>9}{'total s':>9}  exact count")
    for label, method in methods:
        for scope in ("layer", "global"):
            for ratio in args.ratios:
                with torch.no_grad():
                    for k, w in weights.items():
                        work[k].copy_(w)
                t0 = time.perf_counter()
                sc = REGISTRY[method.name].score(method, inputs)
                t1 = time.perf_counter()
                masks = make_masks(sc, ratio, scope, None, seed=0)
                t2 = time.perf_counter()
                apply_masks(work, masks)
                t3 = time.perf_counter()
                if scope == "layer":
                    exact = all(int((~masks[k]).sum()) == round(ratio * w.numel()) for k, w in weights.items())
                else:
                    exact = sum(int((~mk).sum()) for mk in masks.values()) == round(ratio * n)
                total = t3 - t0
                worst = max(worst, total)
                bad = total >= LIMIT_S or not exact
                failures += bad
                print(f"{label:<11}{scope:<8}{ratio:>6g}{t1 - t0:>9.2f}{t2 - t1:>8.2f}{t3 - t2:>9.2f}{total:>9.2f}  "
                      f"{'yes' if exact else 'NO'}{'   <- FAIL' if bad else ''}")
                del sc, masks
    return verdict(failures == 0, f"slowest score+mask {worst:.2f} s (target < {LIMIT_S:g} s), exact counts "
                   f"{'all' if failures == 0 else 'see above'}")


if __name__ == "__main__":
    sys.exit(main())
