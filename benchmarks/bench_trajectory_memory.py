"""Target 2: trajectory recording costs at most 1.1x the bytes of the targeted weights, whatever the checkpoints.

    python benchmarks/bench_trajectory_memory.py                       # K = 5, 20, 80 checkpoints
    python benchmarks/bench_trajectory_memory.py --checkpoints 10 100

The model is the paper's ~10.7M-parameter character GPT (6 layers, 6 heads, 384 wide; 10.6M targeted weights, 42 MB
in float32), large enough that allocator noise is small beside it. Each measurement runs in a fresh process:
after the model is built and warm, the peak-RSS mark is reset (/proc/self/clear_refs), then K x record_every
training-like steps change every weight in place and call the recorder's hook, and finally `state_tensors()` hands
the averages to the checkpoint writer, as ensure_dense does. Reported:
- the recorder's own tensors (`extra_bytes()`), and the process's peak RSS above the baseline (what the OS saw:
  tracemalloc does not see torch's allocations, and torch keeps no allocator statistics on CPU);
- beside it, what the paper's code costs: every checkpoint kept (K clones), measured the same way.
Exits 1 if the recorder's peak RSS delta or its tensors exceed 1.1x the targeted bytes for any K.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from _common import peak_rss_bytes, reset_peak_rss, rss_bytes, verdict

TARGET = 1.1
RECORD_EVERY = 5  # steps between checkpoints in the simulated training (the count K is what matters)


def measure(mode: str, k: int) -> dict:
    """In this (fresh) process: peak RSS above baseline while recording K checkpoints with `mode`."""
    import torch

    from ecobench.config.schema import ModelConfig, TargetsConfig
    from ecobench.models.build import build_model
    from ecobench.prune.targets import select_targets
    from ecobench.prune.trajectory import TrajectoryRecorder, TrajectorySpec, average_from_snapshots

    torch.manual_seed(0)
    model = build_model(ModelConfig(n_layer=6, n_head=6, n_embd=384), vocab_size=65, context=256, seed=0)
    targets = select_targets(model, TargetsConfig())
    weight_bytes = sum(p.numel() * p.element_size() for p in targets.values())
    spec = TrajectorySpec("sqrt", None, 0.0)
    steps = k * RECORD_EVERY

    def step_weights() -> None:  # an optimizer step's effect on the weights, with no allocation
        with torch.no_grad():
            for p in targets.values():
                p.mul_(0.999)

    step_weights()
    base = rss_bytes()
    if not reset_peak_rss():
        return {"error": "cannot reset the peak RSS mark (/proc/self/clear_refs)"}
    tensor_bytes = 0
    if mode == "recorder":
        rec = TrajectoryRecorder(targets, [spec], steps, RECORD_EVERY)
        for s in range(1, steps + 1):
            step_weights()
            rec.on_step(s, model)
        state = rec.state_tensors()  # what the runner writes beside the dense checkpoint
        tensor_bytes = rec.extra_bytes()
    else:  # the paper's code: keep every checkpoint, average at the end
        snaps: dict[str, list[torch.Tensor]] = {n: [] for n in targets}
        for s in range(1, steps + 1):
            step_weights()
            if s % RECORD_EVERY == 0:
                for n, p in targets.items():
                    snaps[n].append(p.detach().clone())
        tensor_bytes = sum(t.numel() * t.element_size() for v in snaps.values() for t in v)
        state = {n: average_from_snapshots(v, spec).float() for n, v in snaps.items()}
    peak = peak_rss_bytes() - base
    assert len(state) == len(targets)
    return {"weight_bytes": weight_bytes, "tensor_bytes": tensor_bytes, "peak_rss_delta": peak, "k": k, "mode": mode}


def run_child(mode: str, k: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(k)], capture_output=True, text=True,
                         env=os.environ | {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")})
    if out.returncode != 0:
        raise SystemExit(f"child {mode} K={k} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoints", type=int, nargs="+", default=[5, 20, 80])
    ap.add_argument("--child", nargs=2, metavar=("MODE", "K"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]))))
        return 0
    worst = 0.0
    mb = 2**20
    print(f"{'K':>4}  {'targeted MB':>11}  {'recorder tensors':>16}  {'recorder peak RSS':>17}  "
          f"{'every-checkpoint peak RSS (paper)':>33}")
    for k in args.checkpoints:
        r = run_child("recorder", k)
        if "error" in r:
            print(r["error"])
            return 1
        p = run_child("snapshots", k)
        wb = r["weight_bytes"]
        ratio = max(r["tensor_bytes"], r["peak_rss_delta"]) / wb
        worst = max(worst, ratio)
        print(f"{k:>4}  {wb / mb:>11.1f}  {r['tensor_bytes'] / mb:>9.1f} MB {r['tensor_bytes'] / wb:4.2f}x  "
              f"{r['peak_rss_delta'] / mb:>10.1f} MB {r['peak_rss_delta'] / wb:4.2f}x  "
              f"{p['peak_rss_delta'] / mb:>25.1f} MB {p['peak_rss_delta'] / wb:5.1f}x")
    return verdict(worst <= TARGET, f"trajectory recording peak {worst:.2f}x the targeted weights (target <= {TARGET}x)")


if __name__ == "__main__":
    sys.exit(main())
