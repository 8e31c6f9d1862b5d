"""Target (issue 24): on identical work (pruned = a copy of dense, true ratio 1) at most 5% of runs claim any saving
after the run's multiple-comparison family; and the smallest ratio llm.yaml's settings can detect on this machine.

    python benchmarks/bench_paired_cv.py             # 40 cells x 5 workloads (llm.yaml's), ~5-10 min on 2 cores
    python benchmarks/bench_paired_cv.py --cells 60

Each cell measures llm.yaml's five workloads (eval, prefill and decode at batch 1 and 32) for a model and an exact
copy of it, with llm.yaml's seeds (2) x repeats (2) pairs, two ways, side by side in one run (cell by cell, so drift
and neighbours hit both alike):
- v1: the protocol before issue 24: only the pruned side warmed, always measured first (A/B/A/B);
- v2: ecobench.measure now: both sides warmed, ABBA order from a side chosen by seed and workload, windows as long
  as the meters resolve.
Per (cell, workload) test, the decision of `compare`: the pooled pairs' log ratios, a t test against 1 (as stored
per row: stats.paired_ratio), and Holm over the run's whole family (cells x workloads, stats.holm). Printed: the
share of tests separated before Holm (a calibrated test gives ~5% on identical work), the family's false claims after
Holm (0 in a good run), the first-pair sign bias, and the detectable ratio (stats.detectable_ratio) at llm.yaml's
settings, from the v2 pairs' noise. Exits 1 if v2 makes a false claim after Holm.
"""

from __future__ import annotations

import argparse
import copy
import math
import signal
import statistics
import sys

import torch
from _common import load_llm_suite, verdict

from ecobench.data.dataset import load_data
from ecobench.footprint import Monitor, stats
from ecobench.measure import (
    _window_columns,
    eval_workload,
    family_size,
    inference_workloads,
    measure_paired,
    warm_up_process,
)
from ecobench.models.build import build_model
from ecobench.sweep import expand

QUANTITY = "energy_kwh_per_1k_tokens"


def v1_paired(monitor: Monitor, key: str, pruned, dense, workloads, repeats: int) -> list[dict]:
    """The protocol before issue 24 (ecobench.measure at 6564631): pruned warmed alone, then P, D, P, D."""
    rows = []
    for w in workloads:
        w.execute(pruned)
        sides: dict[str, list] = {"p": [], "d": []}
        for i in range(repeats):
            for side, model in (("p", pruned), ("d", dense)):
                state = w.setup(model)
                with monitor.window(f"{key}/{w.label}/{side}{i}") as win:
                    tokens = w.run(model, state)
                sides[side].append(_window_columns(monitor.columns(win.result), tokens))
        rows.append({f"{QUANTITY}_repeats": [s[QUANTITY] for s in sides["p"]],
                     f"dense_{QUANTITY}_repeats": [s[QUANTITY] for s in sides["d"]],
                     "contended_windows": 0, "label": w.label})
    return rows


def logs_of(row: dict) -> list[float]:
    return stats.log_ratios(row[f"{QUANTITY}_repeats"], row[f"dense_{QUANTITY}_repeats"]) or []


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)  # 2 threads on 2 busy cores stall (benchmarks/README.md)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    suite = load_llm_suite(["footprint.idle_seconds=0"])
    seeds, repeats = len(suite.seeds), suite.footprint.repeats
    data = load_data(suite.data, suite.model)
    dense = build_model(suite.model, data.vocab_size, data.context, 0)
    pruned = copy.deepcopy(dense)  # identical work: any separation is a false one
    monitor = Monitor(suite.footprint)
    monitor.start()
    warm_up_process(suite, data, dense)
    workloads = [eval_workload(suite, data), *inference_workloads(suite, data)]
    print(f"{args.cells} cells x {len(workloads)} workloads x {seeds} seeds x {repeats} repeats; meters: "
          f"{monitor.summary_line()}; min window {monitor.min_window_s:.3g} s; torch threads {torch.get_num_threads()}")
    tests: dict[str, list[list[float]]] = {"v1": [], "v2": []}  # per (cell, workload): pooled log ratios
    first_pair: dict[str, list[float]] = {"v1": [], "v2": []}
    counts = {"contended": 0}

    def one_cell(c: int) -> None:
        pooled: dict[str, list[list[float]]] = {"v1": [[] for _ in workloads], "v2": [[] for _ in workloads]}
        for seed in range(seeds):
            for name in (("v1", "v2") if (c + seed) % 2 == 0 else ("v2", "v1")):  # the two protocols alternate too
                rows = (v1_paired(monitor, f"v1/{c}/{seed}", pruned, dense, workloads, repeats) if name == "v1" else
                        measure_paired(monitor, f"v2/{c}/{seed}", pruned, dense, workloads, repeats, order_seed=seed))
                for k, row in enumerate(rows):
                    d = logs_of(row)
                    pooled[name][k] += d
                    if d:
                        first_pair[name].append(d[0])
                    counts["contended"] += row["contended_windows"] if name == "v2" else 0
        for name in tests:
            tests[name] += pooled[name]
        done = {n: sum(_p(t) < 0.05 for t in tests[n]) for n in tests}
        print(f"cell {c + 1}/{args.cells}: separated before Holm so far v1 {done['v1']}, v2 {done['v2']} "
              f"of {len(tests['v2'])}")
        sys.stdout.flush()

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `timeout` too: summarise what was measured
    try:
        for c in range(args.cells):
            one_cell(c)
    except KeyboardInterrupt:  # SIGINT or SIGTERM: summarise the cells finished so far
        print(f"interrupted after {len(tests['v2']) // len(workloads)} cells")
    contended = counts["contended"]
    monitor.close()
    n_tests = len(tests["v2"])
    print(f"\n{'protocol':<34}{'separated (p<0.05)':>20}{'false claims (Holm)':>21}{'first pair < 1':>16}")
    out = {}
    for name in ("v1", "v2"):
        ps = [_p(t) for t in tests[name]]
        adjusted = stats.holm(ps)
        sep = sum(p < 0.05 for p in ps if p is not None)
        claims = sum(a < stats.ALPHA for a in adjusted if a is not None)
        below = sum(d < 0 for d in first_pair[name]) / max(1, len(first_pair[name]))
        out[name] = claims
        print(f"{name + (' (pruned warmed, first)' if name == 'v1' else ' (both warmed, ABBA)'):<34}"
              f"{f'{sep}/{n_tests} = {100 * sep / n_tests:.1f}%':>20}{claims:>21}{100 * below:>15.0f}%")
    # the detectable ratio at llm.yaml's settings: the v2 pairs' sd of log ratio, seeds as the unit
    pair_sd = statistics.pstdev([x for t in tests["v2"] for x in t])
    llm_family = family_size(suite, sum(not (c.is_dense or c.is_control) for c in expand(suite)))
    ratio = stats.detectable_ratio(pair_sd / math.sqrt(repeats), seeds, llm_family)
    ratio_one = stats.detectable_ratio(pair_sd / math.sqrt(repeats), seeds, 1)
    print(f"\npair log-ratio sd (v2): {100 * pair_sd:.2f}%; contended v2 windows: {contended} "
          f"(others above {suite.footprint.quiet.max_other_cpu:.0%} of the machine)")
    print(f"detectable ratio at llm.yaml's settings ({seeds} seeds x {repeats} repeats, 80% power): "
          f"{_fmt(ratio)} over its family of {llm_family} tests (Holm/Bonferroni), {_fmt(ratio_one)} for one test")
    for target in (0.9, 0.8):
        r = stats.repeats_for(target, pair_sd, seeds, llm_family)
        print(f"footprint.detect {target}: {r if r is not None else '> 1000'} repeats per workload")
    return verdict(out["v2"] == 0, f"v2: {out['v2']} false claim(s) after Holm over {n_tests} identical-work tests")


def _p(logs: list[float]) -> float | None:
    r = stats.ratio_from_logs(logs)
    return None if r is None else r.p


def _fmt(x: float | None) -> str:
    return "none reachable" if x is None else f"{x:.3f}x"


if __name__ == "__main__":
    raise SystemExit(main())
