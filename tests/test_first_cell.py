"""No first-cell effect: the same dense model measured as four cells in a fresh process, as a run measures them.
(test_measure.py checks the warm-up's place structurally: unmeasured, before each workload's first window.)"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, SUITES

pytestmark = [pytest.mark.slow, pytest.mark.alone]  # it compares CPU times of cells


def test_first_cell_costs_what_the_others_cost() -> None:
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("first_cell_probe.py")),
                           str(SUITES / "smoke.yaml")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    first = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(first) == {"eval", "prefill", "decode"}
    for phase, cpu_s in first.items():
        others = statistics.median(cpu_s[1:])
        # generous: a busy 2-core machine moves single windows by tens of %, a cold first window by far more
        assert cpu_s[0] <= 1.5 * others + 0.005, (phase, cpu_s)
