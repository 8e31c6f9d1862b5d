"""Issue 13: the smoke suite through Ray within 2x the local executor's wall time on 2 cores, and Ray's overhead
per cell (task submission, checkpoint transfer).

    python benchmarks/bench_ray_overhead.py              # 1 pair (local, ray), ~1-3 min on 2 cores
    python benchmarks/bench_ray_overhead.py --pairs 2    # ABBA: local, ray, ray, local

Each run is `ecobench run suites/smoke.yaml -q` in a fresh process (the ray one with `--executor ray`, which starts
a one-machine cluster: its start is part of its time), the two sides interleaved; the ratio is the median of the
per-pair ratios ray / local. Then, in one process on a 2-CPU local cluster: the round trip of an empty task (what
submitting a cell costs) and the move of the smoke suite's dense checkpoint to a task, through the object store and
through a shared path. Needs the ray extra (`pip install -e '.[ray]'`). Exits 1 if Ray takes more than 2x.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, median_ratio, verdict

TARGET = 2.0
SMOKE = REPO / "suites" / "smoke.yaml"


def run_once(out: Path, executor: str, sets: list[str]) -> float:
    args = [sys.executable, "-m", "ecobench", "run", str(SMOKE), "--out", str(out), "-q", "--executor", executor]
    for s in sets:
        args += ["--set", s]
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{executor} run failed:\n{proc.stderr[-3000:]}")
    return wall


def cells_of(out: Path) -> int:
    return (out / "cells.jsonl").read_bytes().count(b"\n")


def micro(dense_dir: Path, repeats: int) -> dict[str, float]:
    """Seconds per empty task, and per checkpoint move (object store, shared path), on a local 2-CPU cluster."""
    import ray

    from ecobench.executors.ray import _checkpoint_dir, _folder_bytes, drop_checkpoint

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        noop = ray.remote(lambda: None)
        ray.get(noop.remote())  # a worker started
        t0 = time.perf_counter()
        for _ in range(repeats):
            ray.get(noop.remote())
        task_s = (time.perf_counter() - t0) / repeats

        def materialise(checkpoint, info):
            drop_checkpoint()  # each move lands afresh
            return str(_checkpoint_dir(checkpoint, info))

        info = json.loads((dense_dir / "train.json").read_text())
        task = ray.remote(materialise)
        ray.get(task.remote(str(dense_dir), info))
        store, shared = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            files = _folder_bytes(dense_dir)  # the driver's side: read the folder, put it, the task writes it
            ray.get(task.remote(ray.put(files), info))
            store.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ray.get(task.remote(str(dense_dir), info))
            shared.append(time.perf_counter() - t0)
    finally:
        ray.shutdown()
    size = sum(p.stat().st_size for p in dense_dir.iterdir() if p.is_file())
    return {"task_s": task_s, "store_s": statistics.median(store), "shared_s": statistics.median(shared),
            "bytes": size}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=1, help="(local, ray) pairs, alternated ABBA")
    ap.add_argument("--set", action="append", default=["train.threads=1"],
                    help="suite overrides for both sides (default: train.threads=1, polite on a shared machine)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    try:
        os.environ["ECOBENCH_CACHE"] = str(tmp / "cache")
        run_once(tmp / "warm", "local", args.set + ["train.steps=2", "prune.recover_steps=1"])  # caches the data
        pairs, last = [], None
        for i in range(args.pairs):
            order = ["local", "ray"] if i % 2 == 0 else ["ray", "local"]
            walls = {}
            for ex in order:
                last = tmp / f"{ex}-{i}"
                walls[ex] = run_once(last, ex, args.set)
                print(f"  pair {i + 1}: {ex:5s} {walls[ex]:6.1f} s", flush=True)
            pairs.append((walls["ray"], walls["local"]))
        n = cells_of(tmp / "ray-0")
        assert n == cells_of(tmp / "local-0"), "the two executors wrote different numbers of rows"
        ratio = median_ratio(pairs)
        local_s = statistics.median(b for _, b in pairs)
        ray_s = statistics.median(a for a, _ in pairs)
        m = micro(tmp / "local-0" / "dense" / "seed-0", repeats=20)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"smoke suite, {n} cells, {args.pairs} pair(s), overrides {args.set}:")
    print(f"  local {local_s:.1f} s ({local_s / n:.2f} s/cell), ray {ray_s:.1f} s ({ray_s / n:.2f} s/cell); "
          f"ray/local {ratio:.2f}x; Ray's overhead {(ray_s - local_s) / n:+.2f} s/cell (cluster and worker start "
          "included, spread over the cells)")
    print(f"  per task on a warm local cluster: submit + return {1000 * m['task_s']:.1f} ms; dense checkpoint "
          f"({m['bytes'] / 1e6:.2f} MB) to a task: object store {1000 * m['store_s']:.1f} ms, shared path "
          f"{1000 * m['shared_s']:.1f} ms")
    return verdict(ratio <= TARGET, f"smoke through Ray {ratio:.2f}x the local wall time (target <= {TARGET}x)")


if __name__ == "__main__":
    sys.exit(main())
