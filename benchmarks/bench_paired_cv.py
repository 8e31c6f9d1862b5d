"""Target: the coefficient of variation of inference energy per 1k tokens is <= 3% with the paired protocol.

    python benchmarks/bench_paired_cv.py             # the main job's model (suites/llm.yaml), 6 cells
    python benchmarks/bench_paired_cv.py --cells 10

The same pair of models (the main job's shape; one of them with 50% of its block weights zeroed, which dense kernels
do not skip, so the true ratio is 1) measured as `--cells` cells, two ways, on this machine's meters (CPU and RAM
estimates here, NVML or RAPL where present):
- before: one unpaired decode window per cell (batch 1, 512 tokens after a 64-token warm-up), as ecobench measured
  up to results schema 2; the CV is that of the pruned model's energy per 1k tokens across cells;
- after: each cell measures decode at batch 1 `footprint.repeats` times, pruned and dense alternately (A/B/A/B,
  ecobench.measure), and reports pruned / dense; the CV is that of this ratio across cells.
Both are printed side by side. Exits 1 if the paired CV is above 3%.
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch
from _common import load_llm_suite, verdict

from ecobench.data.dataset import load_data
from ecobench.footprint import Monitor
from ecobench.measure import inference_workloads, measure_paired, warm_up_process
from ecobench.models.build import build_model
from ecobench.train import generate_tokens

TARGET = 0.03


def cv(xs: list[float]) -> float:
    return statistics.stdev(xs) / statistics.mean(xs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    # the protocol as measured for the README: 3 repeats of 32 decode steps (llm.yaml runs 2 per seed and pools seeds)
    suite = load_llm_suite(["footprint.idle_seconds=0", "eval.inference_batch_sizes=[1]", "footprint.repeats=3",
                            "eval.inference_tokens=32"])
    data = load_data(suite.data, suite.model)
    dense = build_model(suite.model, data.vocab_size, data.context, 0)
    pruned = build_model(suite.model, data.vocab_size, data.context, 0)
    with torch.no_grad():
        for name, p in pruned.named_parameters():
            if ".h." in name and p.dim() == 2:
                p.mul_((torch.rand_like(p) >= 0.5).to(p.dtype))
    monitor = Monitor(suite.footprint)
    monitor.start()
    warm_up_process(suite, data, dense)
    decode = [w for w in inference_workloads(suite, data) if w.phase == "decode"]
    before, after = [], []
    for i in range(args.cells):
        generate_tokens(pruned, data, 64, 1)  # the old protocol's warm-up
        with monitor.window(f"before/{i}") as w:
            made = generate_tokens(pruned, data, 512, 1)
        before.append(w.result.energy_j / 3.6e6 / made * 1000)
        (row,) = measure_paired(monitor, f"after/{i}", pruned, dense, decode, suite.footprint.repeats)
        after.append(row["energy_kwh_per_1k_tokens_ratio"])
        print(f"cell {i}: before {before[-1] * 1e6:.3f} mWh/1k tok   after: ratio {after[-1]:.4f} "
              f"[{row['energy_kwh_per_1k_tokens_ratio_ci_low']:.4f}, {row['energy_kwh_per_1k_tokens_ratio_ci_high']:.4f}]")
        sys.stdout.flush()
    monitor.close()
    print(f"\nsources: {monitor.summary_line()}")
    print(f"{'protocol':<44}{'CV across cells':>16}")
    print(f"{'before: one unpaired window (mWh/1k tok)':<44}{100 * cv(before):>15.2f}%")
    print(f"{'after: paired A/B x ' + str(suite.footprint.repeats) + ' (pruned / dense)':<44}{100 * cv(after):>15.2f}%")
    print(f"{'before / after':<44}{cv(before) / cv(after):>15.1f}x")
    return verdict(cv(after) <= TARGET, f"paired CV {100 * cv(after):.2f}% <= {100 * TARGET:.0f}%")


if __name__ == "__main__":
    raise SystemExit(main())
