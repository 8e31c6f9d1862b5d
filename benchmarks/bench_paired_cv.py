"""Target (issue 24): on identical work (pruned = a copy of dense, true ratio 1) at most 5% of runs claim any saving
after the run's multiple-comparison family; and the smallest ratio llm.yaml's settings can detect on this machine.

    python benchmarks/bench_paired_cv.py             # 40 cells x 5 workloads (llm.yaml's), ~10 min on 2 quiet cores
    python benchmarks/bench_paired_cv.py --cells 60

Each cell measures llm.yaml's five workloads (eval, prefill and decode at batch 1 and 32) for two exact copies of one
model (fresh copies per cell and seed, as a run loads a fresh dense reference beside each pruned model), seed by seed
as a run goes, with llm.yaml's seeds (2) x repeats (2) pairs, two ways, side by side in one run (cell by cell, so
drift and neighbours hit both alike):
- v1: the protocol before issue 24: only the pruned side warmed, always measured first (A/B/A/B);
- v2: ecobench.measure now: both sides warmed, ABBA order from a side chosen by seed and workload, windows as long
  as the meters resolve.
Each protocol's cells form one run family (cells x workloads tests), decided exactly as `compare` decides
(report/paired.py: each seed's mean log ratio, the seed means' variance pooled over the run's rows, Bonferroni over
the family, `≈` exactly when the simultaneous interval contains 1). Printed: the share of tests separated before the
family adjustment (a calibrated test gives ~5% on identical work), the family's false claims (0 in a good run), the
first-pair sign bias, and the detectable ratio at llm.yaml's settings (its 195-test family, df from its rows) from
the v2 seed means' pooled noise. Exits 1 if v2 makes a false claim.
"""

from __future__ import annotations

import argparse
import copy
import signal
import statistics
import sys

import pandas as pd
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
    pooled_df,
    warm_up_process,
)
from ecobench.models.build import build_model
from ecobench.report import paired
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


def paired_entry(rows: list[dict]) -> dict:
    """One seed's measured rows -> the `paired` entry report/paired.py reads (label -> both sides' windows)."""
    out = {}
    for row in rows:
        a, b = row[f"{QUANTITY}_repeats"], row[f"dense_{QUANTITY}_repeats"]
        flags = row.get("contended_repeats") or [False] * len(a)
        dense_flags = row.get("dense_contended_repeats") or [False] * len(b)
        out[row["label"]] = {"a": a, "b": b, "e_a": [], "e_b": [], "tps_a": [], "tps_b": [], "c_a": flags,
                             "c_b": dense_flags}
    return out


def decide(cells: list[list[dict]], labels: list[str]):
    """The run family of one protocol, decided as `compare` decides it: one table row per cell over its seeds."""
    rows = []
    for c, seeds in enumerate(cells):
        g = pd.DataFrame({"paired": seeds})
        rec = {"run": "bench", "method": f"copy{c}", "structure": "unstructured", "sparsity_exploited": "no"}
        for lab in labels:
            rec |= paired.pooled(g, lab)
        rows.append(rec)
    return paired.adjust(pd.DataFrame(rows), labels)


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
    monitor = Monitor(suite.footprint)
    monitor.start()
    warm_up_process(suite, data, dense)  # identical work below: any separation is a false one
    workloads = [eval_workload(suite, data), *inference_workloads(suite, data)]
    print(f"{args.cells} cells x {len(workloads)} workloads x {seeds} seeds x {repeats} repeats; meters: "
          f"{monitor.summary_line()}; min window {monitor.min_window_s:.3g} s; torch threads {torch.get_num_threads()}")
    labels = [w.label for w in workloads]
    cells: dict[str, list[list[dict]]] = {"v1": [], "v2": []}  # per cell, per seed: the `paired` entry
    first_pair: dict[str, list[float]] = {"v1": [], "v2": []}
    counts = {"contended": 0}

    def one_cell(c: int, seed: int) -> None:
        # as a run measures: a fresh pruned model per cell and the seed's dense model loaded beside it (new objects,
        # so no accident of one allocation repeats in every cell); here both are exact copies (true ratio 1)
        pruned, reference = copy.deepcopy(dense), copy.deepcopy(dense)
        for name in (("v1", "v2") if (c + seed) % 2 == 0 else ("v2", "v1")):  # the two protocols alternate too
            rows = (v1_paired(monitor, f"v1/{c}/{seed}", pruned, reference, workloads, repeats) if name == "v1" else
                    measure_paired(monitor, f"v2/{c}/{seed}", pruned, reference, workloads, repeats, order_seed=seed))
            for w, row in zip(workloads, rows, strict=True):
                row["label"] = w.label
                d = stats.log_ratios(row[f"{QUANTITY}_repeats"], row[f"dense_{QUANTITY}_repeats"])
                if d:
                    first_pair[name].append(d[0])
                counts["contended"] += row["contended_windows"] if name == "v2" else 0
            cells[name][c].append(paired_entry(rows))
        print(f"seed {seed}, cell {c + 1}/{args.cells} measured")
        sys.stdout.flush()

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `timeout` too: summarise what was measured
    for name in cells:
        cells[name] = [[] for _ in range(args.cells)]
    try:
        for seed in range(seeds):  # seed by seed, as the local executor runs a sweep
            for c in range(args.cells):
                one_cell(c, seed)
    except KeyboardInterrupt:  # SIGINT or SIGTERM: summarise the cells every seed finished
        print("interrupted")
    for name in cells:
        cells[name] = [s for s in cells[name] if len(s) == seeds]
    contended = counts["contended"]
    monitor.close()
    print(f"\n{'protocol':<34}{'separated (p<0.05)':>20}{'false claims (family)':>23}{'first pair < 1':>16}")
    out, frames = {}, {}
    for name in ("v1", "v2"):
        agg = frames[name] = decide(cells[name], labels)
        ps = [p for lab in labels for p in agg[f"{lab}_ratio_p"].dropna()]
        sep = sum(p < 0.05 for p in ps)
        claims = int(sum((~agg[f"{lab}_same"].astype(bool)).sum() for lab in labels))
        below = sum(d < 0 for d in first_pair[name]) / max(1, len(first_pair[name]))
        out[name] = claims
        print(f"{name + (' (pruned warmed, first)' if name == 'v1' else ' (both warmed, ABBA)'):<34}"
              f"{f'{sep}/{len(ps)} = {100 * sep / max(1, len(ps)):.1f}%':>20}{claims:>23}{100 * below:>15.0f}%")
    v2 = frames["v2"]
    print(f"\n{'workload':<12}{'v1 sep.':>9}{'v2 sep.':>9}{'v2 ratio < 1':>14}  (before the family adjustment)")
    for lab in labels:
        sep = {n: int((frames[n][f"{lab}_ratio_p"] < 0.05).sum()) for n in frames}
        below = int((v2[f"{lab}_ratio"] < 1).sum())
        print(f"{lab:<12}{sep['v1']:>9}{sep['v2']:>9}{below:>10}/{len(v2)}")
    for lab in labels:
        for i in v2.index[~v2[f"{lab}_same"].astype(bool)]:
            r = v2.loc[i]
            print(f"v2 false claim: cell {i} {lab} {paired.ratio_text(r, lab)}, contended windows in that cell "
                  f"{int(r[f'{lab}_contended_windows'])}")
    # the detectable ratio at llm.yaml's settings: the v2 seed means' pooled sd, llm.yaml's family and df
    pruned_cells = sum(not (c.is_dense or c.is_control) for c in expand(suite))
    llm_family, llm_df = family_size(suite, pruned_cells), pooled_df(suite, pruned_cells)
    print(f"\ncontended v2 windows: {contended} (others above {suite.footprint.quiet.max_other_cpu:.0%} of the "
          f"machine); family here: {int(v2[f'{labels[0]}_tests'].iloc[0])} tests, seed-mean df "
          f"{int(v2[f'{labels[0]}_ratio_df'].iloc[0])}")
    print(f"{'workload':<12}{'seed-mean sd':>14}{'detectable here':>17}{'at llm.yaml':>13}")
    for lab in labels:
        sd = float(v2[f"{lab}_ratio_log_sd"].iloc[0])
        here = float(v2[f"{lab}_detectable"].median())
        llm = stats.detectable_ratio(sd, seeds, llm_family, df=llm_df)
        print(f"{lab:<12}{100 * sd:>13.2f}%{_fmt(here):>17}{_fmt(llm):>13}")
    pair_sd = statistics.pstdev([x for seeds_ in cells["v2"] for e in seeds_ for d in e.values()
                                 for x in (stats.log_ratios(d["a"], d["b"]) or [])])
    print(f"llm.yaml: {llm_family} tests, seed-mean df {llm_df}; pair log-ratio sd (v2, all workloads) "
          f"{100 * pair_sd:.2f}%")
    for target in (0.9, 0.8):
        r = stats.repeats_for(target, pair_sd, seeds, llm_family, df=llm_df)
        print(f"footprint.detect {target}: {r if r is not None else '> 1000'} repeats per workload")
    return verdict(out["v2"] == 0, f"v2: {out['v2']} false claim(s) over its family of "
                                   f"{len(labels) * len(cells['v2'])} identical-work tests")


def _fmt(x: float | None) -> str:
    return "none reachable" if x is None else f"{x:.3f}x"


if __name__ == "__main__":
    raise SystemExit(main())
