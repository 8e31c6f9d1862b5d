"""A busy machine is noticed (issue 24 item 6), end to end: the smoke sweep (one scope) with a real busy-loop program
started after its first cell (bounded in time) flags contended windows, `on_contention: retry` re-measures them, and
no unstructured cell (zeros in dense kernels: true ratio 1) comes out separated from dense."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecobench.footprint import stats
from ecobench.footprint.meters import cputime
from tests.conftest import ROOT, SUITES

BUSY_S = 8.0  # how long the competing program spins (each of its processes, one per CPU): several cells' windows


def _busy_loop(seconds: float) -> list[subprocess.Popen]:
    code = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(cputime.machine_cpus())]


def _rows(cells: Path) -> list[dict]:
    if not cells.exists():
        return []
    return [json.loads(line) for line in cells.read_text().splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.alone  # the busy loop is the only other load it may see
def test_a_busy_loop_after_the_first_cell_is_flagged_retried_and_leaves_unstructured_cells_equal(tmp_path: Path):
    out = tmp_path / "run"
    run = subprocess.Popen(
        [sys.executable, "-m", "ecobench", "run", str(SUITES / "smoke.yaml"), "--out", str(out), "-q",
         "--set", "footprint.on_contention=retry", "--set", "footprint.quiet.retries=2",
         "--set", "footprint.quiet.backoff_s=0.5", "--set", "train.threads=1",
         "--set", "prune.scope=layer"],  # one scope: 8 cells, as many paired windows as the busy loop needs
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    busy: list[subprocess.Popen] = []
    try:
        deadline = time.monotonic() + 600
        while not _rows(out / "cells.jsonl") and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)  # the first cell (the dense reference) is written: start the competing program
        busy = _busy_loop(BUSY_S)
        stdout, stderr = run.communicate(timeout=900)
    finally:
        for p in busy:
            p.kill()
            p.wait()
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, stderr
    assert "contended windows (others used the machine):" in stderr
    rows = _rows(out / "cells.jsonl")
    paired = [(r, ph) for r in rows for ph in r["phases"] if "contended_windows" in ph]
    assert sum(ph["contention_retries"] for _, ph in paired) >= 1  # re-measured with back-off
    assert any(ph["other_cpu_share"] and ph["other_cpu_share"] > 0.25 for _, ph in paired)  # and seen
    # the run's family: every (pruned cell, workload) test, Holm-adjusted; unstructured cells never separate
    tests = [(r, ph) for r, ph in paired if r["cell"]["method"] != "dense"]
    adjusted = stats.holm([ph["energy_kwh_per_1k_tokens_ratio_p"] for _, ph in tests])
    separated = [f"{r['key']}/{ph['phase']}-b{ph['batch_size']}" for (r, ph), p in zip(tests, adjusted, strict=True)
                 if p is not None and p < stats.ALPHA and r["cell"]["structure"] == "unstructured"]
    assert not separated, separated
