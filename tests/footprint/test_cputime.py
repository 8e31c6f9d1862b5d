"""Process CPU time at nanosecond resolution, the CPUs this process may use, and others' share of the machine."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from ecobench.footprint.contention import ContentionTracker
from ecobench.footprint.meters import cputime


def _spin_cpu(seconds: float) -> None:
    t0 = time.process_time()
    while time.process_time() - t0 < seconds:
        pass


@pytest.mark.skipif(not cputime.NS_CLOCK, reason="no nanosecond process CPU clock on this platform")
def test_the_process_tree_cpu_time_resolves_a_few_milliseconds() -> None:
    # psutil's ticks (10 ms) could only say 0 or 0.01 here
    before = cputime.process_tree_cpu_s()
    _spin_cpu(0.003)
    used = cputime.process_tree_cpu_s() - before
    assert 0.003 <= used < 0.008
    assert cputime.TREE_CPU_RESOLUTION_S <= 1e-6


def _child(seconds: float, ready) -> None:
    _spin_cpu(seconds)
    ready.set()
    time.sleep(5)


def test_a_childs_cpu_time_counts_living_and_after_it_is_reaped() -> None:
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    before = cputime.process_tree_cpu_s()
    child = ctx.Process(target=_child, args=(0.3, ready))
    child.start()
    try:
        assert ready.wait(30)
        cputime._listed.clear()  # list the tree now (it is listed at most every 0.5 s)
        assert cputime.process_tree_cpu_s() - before >= 0.3  # living: its own clock
    finally:
        child.terminate()
        child.join()
    assert cputime.process_tree_cpu_s() - before >= 0.3  # reaped: through RUSAGE_CHILDREN


def test_usable_cpus_are_lowered_by_a_cgroup_quota(tmp_path) -> None:
    proc = tmp_path / "cgroup"
    proc.write_text("0::/job\n")
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "cpu.max").write_text("150000 100000\n")  # v2: 1.5 CPUs
    n, why = cputime.usable_cpus(tmp_path, proc)
    assert n == 1 and "quota 1.5" in why
    (tmp_path / "job" / "cpu.max").write_text("max 100000\n")
    v1 = tmp_path / "cpu" / "job"
    v1.mkdir(parents=True)
    proc.write_text("3:cpu,cpuacct:/job\n")
    (v1 / "cpu.cfs_quota_us").write_text("-1\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    n, why = cputime.usable_cpus(tmp_path, proc)
    assert why == "affinity" and n >= 1  # no quota: the affinity mask


def test_others_share_is_read_over_a_span_the_ticks_resolve() -> None:
    readings = iter([(10.0, 1.0), (10.0, 1.0), (10.5, 1.1), (10.52, 1.105)])
    tracker = ContentionTracker(lambda: next(readings), cpus=2, span_s=0.2)
    s0 = tracker.snapshot(100.0)  # an earlier window's edge
    b = tracker.snapshot(100.4)
    e = tracker.snapshot(100.9)
    other = tracker.other(b, e)  # 0.5 s window: long enough alone
    assert other.span_s == pytest.approx(0.5) and other.share == pytest.approx((0.5 - 0.1) / (0.5 * 2))
    b2 = e
    e2 = tracker.snapshot(100.91)  # a 10 ms window: read back to the snapshot at 100.4 (span >= 0.2 s)
    other = tracker.other(b2, e2)
    assert other.span_s == pytest.approx(0.51) and other.share == pytest.approx((0.52 - 0.105) / (0.51 * 2))
    assert other.cpu_s == pytest.approx(other.share * 2 * 0.01)
    assert s0.t == 100.0


def test_unreadable_machine_time_makes_contention_unknown_not_an_error() -> None:
    def broken() -> tuple[float, float]:
        raise OSError("no /proc")

    tracker = ContentionTracker(broken, cpus=2, span_s=0.2)
    other = tracker.other(tracker.snapshot(0.0), tracker.snapshot(1.0))
    assert other.share is None and other.cpu_s is None
