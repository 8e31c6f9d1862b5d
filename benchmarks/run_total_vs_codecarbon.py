"""The whole `ecobench run suites/smoke.yaml` process inside codecarbon's own tracker: ecobench's run total next to
codecarbon's, like with like (machine-wide CPU load on both sides, codecarbon sampling every second as ecobench
does, PUE 1 so codecarbon's energy is IT energy), and the bookkeeping identity phases + rest = run total.

    python benchmarks/run_total_vs_codecarbon.py [--suite suites/smoke.yaml] [--repeats 1]

Both sides are estimates on a machine without RAPL or NVML: codecarbon's CPU load model (TDP x (0.1 + 0.9 x load^3),
machine mode) and its RAM model, read by ecobench through the same codecarbon code.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO


def one(suite: Path, out: Path) -> dict:
    from codecarbon import OfflineEmissionsTracker

    tracker = OfflineEmissionsTracker(country_iso_code="USA", pue=1.0, measure_power_secs=1, tracking_mode="machine",
                                      output_methods=[], log_level="error", allow_multiple_runs=True,
                                      output_dir=str(out.parent))
    tracker.start()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ecobench", "run", str(suite), "--out", str(out), "-q",
                           "--set", "train.threads=1", "--set", "footprint.cpu_attribution=machine"],
                          cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    wall = time.perf_counter() - t0
    tracker.stop()
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    cc = tracker.final_emissions_data
    run = json.loads((out / "manifest.json").read_text())["run_footprint"]
    t = run["totals"]
    fc = run["forecast"]
    return {"cc_kwh": cc.energy_consumed, "cc_cpu_kwh": cc.cpu_energy, "cc_ram_kwh": cc.ram_energy,
            "cc_s": cc.duration, "process_s": wall, "eb_kwh": t["energy_kwh"], "eb_cpu_kwh": t["energy_cpu_kwh"],
            "eb_ram_kwh": t["energy_ram_kwh"], "eb_s": t["wall_s"], "startup_kwh": run["startup_kwh"],
            "phases_kwh": run["phases_kwh"], "rest_kwh": run["rest_kwh"], "share": run["phase_share"],
            "forecast": fc, "sources": run["sources"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default=str(REPO / "suites" / "smoke.yaml"))
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            r = one(Path(args.suite), Path(tmp) / "run")
        ratio = r["eb_kwh"] / r["cc_kwh"]
        print(f"[{i + 1}] codecarbon (tracker around the process): {1000 * r['cc_kwh']:.4f} Wh over {r['cc_s']:.1f} s "
              f"(CPU {1000 * r['cc_cpu_kwh']:.4f}, RAM {1000 * r['cc_ram_kwh']:.4f} Wh)")
        print(f"    ecobench run total: {1000 * r['eb_kwh']:.4f} Wh over {r['eb_s']:.1f} s (CPU "
              f"{1000 * r['eb_cpu_kwh']:.4f}, RAM {1000 * r['eb_ram_kwh']:.4f} Wh; start-up estimate "
              f"{1000 * r['startup_kwh']:.4f} Wh); sources {r['sources']}")
        print(f"    ecobench / codecarbon = {ratio:.3f} (|diff| {100 * abs(ratio - 1):.1f}%); process wall "
              f"{r['process_s']:.1f} s")
        print(f"    phases {1000 * r['phases_kwh']:.4f} + rest {1000 * r['rest_kwh']:.4f} = "
              f"{1000 * (r['phases_kwh'] + r['rest_kwh']):.4f} Wh (total {1000 * r['eb_kwh']:.4f}); "
              f"phases' share {100 * r['share']:.0f}%")
        fe, fw = r["forecast"]["energy_kwh"], r["forecast"]["wall_s"]
        inside = fe["low"] <= r["eb_kwh"] <= fe["high"] and fw["low"] <= r["eb_s"] <= fw["high"]
        print(f"    forecast {1000 * fe['point']:.4f} Wh ({1000 * fe['low']:.4f} to {1000 * fe['high']:.4f}), "
              f"{fw['point']:.1f} s ({fw['low']:.1f} to {fw['high']:.1f}): measured {'inside' if inside else 'OUTSIDE'}")


if __name__ == "__main__":
    main()
