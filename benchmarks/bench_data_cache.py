"""Target 5: the tokenized corpus is cached on disk; a second run loads the 5 MB `shakespeare` corpus in < 1 s.

    python benchmarks/bench_data_cache.py            # the main job's data (shakespeare, char tokenizer)
    python benchmarks/bench_data_cache.py --runs 3

Each load is `ecobench.data.dataset.load_data` in a fresh Python process (load_data is lru_cached inside a
process, so only a new process shows the disk cache), with ECOBENCH_CACHE pointing at a new empty folder:
run 1 tokenizes and writes the cache (cold), the next runs read it (warm). The time is that of the load_data
call itself (imports excluded; they are printed separately). Exits 1 if a warm load takes 1 s or more.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from _common import verdict

TARGET_S = 1.0

CHILD = """
import json, time
t0 = time.perf_counter()
from ecobench.data.dataset import load_data
from ecobench.suites import load_suite
t1 = time.perf_counter()
s = load_suite({suite!r}).suite
t2 = time.perf_counter()
d = load_data(s.data, s.model)
t3 = time.perf_counter()
print(json.dumps({{"imports_s": t1 - t0, "load_data_s": t3 - t2, "tokens": len(d.train) + len(d.val),
                  "chars": round((len(d.train) + len(d.val)) * d.chars_per_token)}}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="loads in all: the first cold, the rest warm")
    ap.add_argument("--suite", default=str(os.path.join(os.path.dirname(__file__), "..", "suites", "llm.yaml")))
    args = ap.parse_args()
    warm = []
    with tempfile.TemporaryDirectory() as cache:
        for i in range(args.runs):
            out = subprocess.run([sys.executable, "-c", CHILD.format(suite=args.suite)], capture_output=True, text=True,
                                 env=os.environ | {"ECOBENCH_CACHE": cache})
            if out.returncode != 0:
                print(out.stderr)
                return 1
            r = json.loads(out.stdout.strip().splitlines()[-1])
            kind = "cold" if i == 0 else "warm"
            if i:
                warm.append(r["load_data_s"])
            print(f"run {i + 1} ({kind}): load_data {r['load_data_s']:.2f} s for {r['chars'] / 1e6:.1f}M characters "
                  f"-> {r['tokens']:,} tokens (imports {r['imports_s']:.1f} s)", flush=True)
    worst = max(warm) if warm else float("inf")
    return verdict(worst < TARGET_S, f"warm load_data {worst:.2f} s (target < {TARGET_S:g} s)")


if __name__ == "__main__":
    sys.exit(main())
