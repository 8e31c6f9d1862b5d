"""Target 6: `ecobench run suites/llm.yaml` finishes on 2 CPU cores in at most 15 minutes; time per phase.

    python benchmarks/bench_main_job.py results/llm-20260101T000000Z      # report a finished run's folder
    python benchmarks/bench_main_job.py                                   # the newest results/llm-* (or SKIP)
    python benchmarks/bench_main_job.py --run                             # run the main job now, then report
    python benchmarks/bench_main_job.py --run --set train.steps=40         # a quick rehearsal (not the target)

Reads only the results folder: each cell's phase rows (wall_s, from the footprint windows) summed per phase,
and the run's elapsed time from the manifest's first session start to the last write of cells.jsonl (with
--run, the command's own wall time instead). "outside phases" is elapsed minus the phases: process start,
the idle baseline, model loads and checkpoint writes. Exits 1 if elapsed exceeds 15 minutes or a cell failed.
"""

from __future__ import annotations

import argparse
import calendar
import collections
import json
import subprocess
import sys
import time
from pathlib import Path

from _common import REPO, verdict

TARGET_S = 15 * 60


def report(folder: Path, elapsed_s: float | None) -> int:
    from ecobench.store import read_cells

    manifest = json.loads((folder / "manifest.json").read_text())
    cells = {rec.key: rec.model_dump(by_alias=True) for rec in read_cells(folder / "cells.jsonl")}  # last per key
    if elapsed_s is None:
        start = calendar.timegm(time.strptime(manifest["sessions"][0]["started_utc"], "%Y-%m-%dT%H:%M:%SZ"))
        elapsed_s = (folder / "cells.jsonl").stat().st_mtime - start
    expected = manifest.get("cells", [])
    per_phase: dict[str, float] = collections.defaultdict(float)
    count: dict[str, int] = collections.Counter()
    for rec in cells.values():
        for row in rec.get("phases", []):
            per_phase[row["phase"]] += row.get("wall_s") or 0.0
            count[row["phase"]] += 1
    failed = [k for k, r in cells.items() if r.get("status") != "ok"]
    missing = [k for k in expected if k not in cells]
    hw = manifest.get("hardware", {})
    print(f"{folder}: suite {manifest.get('suite_name')}, {len(cells)}/{len(expected)} cells, {len(failed)} failed; "
          f"{hw.get('cpu')}, {hw.get('cpu_count')} CPUs, torch threads {manifest.get('torch_threads')}; "
          f"{len(manifest.get('sessions', []))} session(s)")
    print(f"{'phase':<16}{'windows':>8}{'wall s':>10}{'share':>8}")
    in_phases = sum(per_phase.values())
    for phase, s in sorted(per_phase.items(), key=lambda kv: -kv[1]):
        print(f"{phase:<16}{count[phase]:>8}{s:>10.1f}{s / elapsed_s:>8.1%}")
    print(f"{'outside phases':<16}{'':>8}{elapsed_s - in_phases:>10.1f}{(elapsed_s - in_phases) / elapsed_s:>8.1%}")
    print(f"{'elapsed':<16}{'':>8}{elapsed_s:>10.1f}   ({elapsed_s / 60:.1f} min)")
    if len(manifest.get("sessions", [])) > 1:
        print("note: the run was resumed; elapsed spans the pauses between sessions")
    ok = elapsed_s <= TARGET_S and not failed and not missing
    return verdict(ok, f"main job {elapsed_s / 60:.1f} min (target <= {TARGET_S // 60} min), "
                   f"{len(failed)} failed, {len(missing)} missing cells")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", nargs="?", type=Path, help="a results folder written by `ecobench run`")
    ap.add_argument("--run", action="store_true", help="run `ecobench run suites/llm.yaml` first (a new folder)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, passed to ecobench run")
    ap.add_argument("--suite", default=str(REPO / "suites" / "llm.yaml"))
    args = ap.parse_args()
    if args.run:
        out = args.folder or REPO / "results" / f"bench-main-job-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
        cmd = [sys.executable, "-m", "ecobench", "run", args.suite, "--out", str(out), "-q"]
        for s in args.set:
            cmd += ["--set", s]
        print("$", " ".join(cmd), flush=True)
        t0 = time.perf_counter()
        rc = subprocess.run(cmd, cwd=REPO).returncode
        elapsed = time.perf_counter() - t0
        if rc != 0:
            print(f"ecobench run exited {rc}")
        return max(report(out, elapsed), 1 if rc else 0)
    if args.folder is None:  # `make bench`: the newest main-job run under results/, if any
        runs = sorted((REPO / "results").glob("llm-*/manifest.json"))
        if not runs:
            print("SKIP: no results/llm-* run to report; give a results folder, or --run (about 8-15 min)")
            return 0
        args.folder = runs[-1].parent
    return report(args.folder, None)


if __name__ == "__main__":
    sys.exit(main())
