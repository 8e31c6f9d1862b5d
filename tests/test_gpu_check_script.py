"""scripts/gpu-check.sh end to end on the CPU (DEV=cpu, the existing venv as PY=): every report section a GPU run
prints, each GPU-only check saying it is skipped; at most 3 minutes on an unloaded 2-core machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT

SECTIONS = ("machine", "environment", "smoke suite on cpu", "NVML energy counter vs integrated power",
            "short windows: 40 bursts of 50 ms", "paper-llm: 12 fp32 training steps on cpu",
            "tokens/s (end to end), MFU and energy per phase", "done in")


@pytest.mark.slow
@pytest.mark.early  # ~28 s
def test_gpu_check_runs_every_section_on_the_cpu(tmp_path) -> None:
    env = {**os.environ, "DEV": "cpu", "PY": sys.executable, "OUT": str(tmp_path / "out"),
           "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    bash = shutil.which("bash") or "/bin/bash"
    proc = subprocess.run([bash, str(ROOT / "scripts" / "gpu-check.sh")], env=env, capture_output=True, text=True,
                          timeout=600)
    wall = time.perf_counter() - t0
    out = proc.stdout
    for section in SECTIONS:
        assert "== gpu-check [" in out and section in out, (section, out[-3000:])
    assert "crosscheck: skipped on cpu" in out and "shortcheck: skipped on cpu" in out
    assert "torch is a CPU build" in out
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-2000:]
    assert "dense training (seed 0): " in out and "tokens/s end-to-end" in out and "energy    train:" in out
    assert wall < 600
