"""Helpers shared by the bench_*.py scripts: timing, memory readings, the main job's model and data."""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
LLM_SUITE = REPO / "suites" / "llm.yaml"


def _proc_status_bytes(field: str) -> int:
    """A `kB` field of /proc/self/status, in bytes (0 where there is no /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss_bytes() -> int:
    """Resident set size of this process now (Linux /proc; 0 elsewhere)."""
    return _proc_status_bytes("VmRSS")


def peak_rss_bytes() -> int:
    """High-water mark of the resident set (VmHWM) since start or since reset_peak_rss()."""
    return _proc_status_bytes("VmHWM")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to /proc/self/clear_refs). False if refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def median_ratio(pairs: list[tuple[float, float]]) -> float:
    """Median of a/b over interleaved pairs: machine noise hits both sides of each pair alike."""
    return statistics.median(a / b for a, b in pairs)


def load_llm_suite(overrides: list[str] | None = None):
    from ecobench.suites import load_suite

    return load_suite(LLM_SUITE, overrides or []).suite


def verdict(ok: bool, what: str) -> int:
    print(f"{'PASS' if ok else 'FAIL'}: {what}")
    sys.stdout.flush()
    return 0 if ok else 1


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.s = time.perf_counter() - self.t0
