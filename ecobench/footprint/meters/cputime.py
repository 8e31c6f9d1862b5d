"""CPU time and memory of this process tree, and of the whole machine, read as finely as the platform allows.

Why not psutil's `cpu_times()` alone: it reads /proc/<pid>/stat, which counts in clock ticks (SC_CLK_TCK, 100 per
second on Linux: 10 ms), so a 5 ms window's CPU energy could only be 0, 1 or 2 ticks' worth. Linux keeps each
process's CPU time in nanoseconds too: this process through CLOCK_PROCESS_CPUTIME_ID (every thread, living or
finished), a living descendant through its own process CPU clock (clockid = (~pid << 3) | CPUCLOCK_SCHED, what
glibc's clock_getcpuclockid returns), and reaped children through getrusage(RUSAGE_CHILDREN) (microseconds).
Where that fails (another OS, a descendant that vanished mid-read) psutil's ticks are the fallback, and
`TREE_CPU_RESOLUTION_S` says which resolution holds.

The machine's busy time (every CPU, every process) is /proc/stat through psutil: ticks, so only intervals of
`contention_span_s()` or more resolve a share of the machine; the monitor's contention reading is taken over at
least that span (footprint/contention.py).
"""

from __future__ import annotations

import os
import re
import resource
import time
from pathlib import Path

import psutil

CPUCLOCK_SCHED = 2  # linux/posix-timers.h: the process-wide scheduler clock (sum_exec_runtime, ns)
TICK_S = 1.0 / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)


def _pid_cpu_clock(pid: int) -> int:
    return (~pid << 3) | CPUCLOCK_SCHED


def _ns_clock_works() -> bool:
    """True when this process's nanosecond CPU clock and a pid's process CPU clock can both be read."""
    try:
        time.clock_gettime(time.CLOCK_PROCESS_CPUTIME_ID)
        time.clock_gettime(_pid_cpu_clock(os.getpid()))
        return True
    except (AttributeError, OSError, OverflowError):
        return False


NS_CLOCK = _ns_clock_works()
# the resolution of `process_tree_cpu_s`: what a CPU-time-based meter can resolve
TREE_CPU_RESOLUTION_S = 1e-6 if NS_CLOCK else TICK_S  # getrusage's microseconds bound the nanosecond clocks


DESCENDANTS_TTL_S = 0.5  # the tree is listed at most this often: listing walks every /proc entry (~1-10 ms)
_listed: dict[int, tuple[float, list[psutil.Process]]] = {}


# Ray's Python services (log monitor, dashboard and its agents, autoscaler monitor, runtime-env agent) by their path
# inside the ray package; a user's own /home/ray/... script is not one of them
RAY_SERVICE = re.compile(r"[/\\]ray[/\\](_private|dashboard|autoscaler|core|_raylet|util)[/\\.]")


def is_ray_process(proc: psutil.Process) -> bool:
    """Ray's own processes: the raylet, the GCS, workers (titled `ray::...`) and Ray's Python services."""
    try:
        if proc.name() in ("raylet", "gcs_server"):
            return True
        cmd = proc.cmdline()
    except psutil.Error:
        return False
    return bool(cmd) and (cmd[0].startswith("ray::") or any(RAY_SERVICE.search(part) for part in cmd[:3]))


def _descendants(process: psutil.Process) -> list[psutil.Process]:
    """The living descendants but Ray's processes and theirs (a Ray started by `run` makes them the driver's
    descendants, and each task reports its own window: counted here they would count twice), listed again at most
    every DESCENDANTS_TTL_S (a window edge reads the tree three times: CPU meter, RAM share, contention). A child
    started since is picked up at the next listing; its CPU time is cumulative, so nothing is lost, only attributed
    a little later."""
    now = time.monotonic()
    cached = _listed.get(process.pid)
    if cached is not None and now - cached[0] < DESCENDANTS_TTL_S:
        return cached[1]
    kids: list[psutil.Process] = []
    todo = [process]
    while todo:
        try:
            children = todo.pop().children()
        except psutil.Error:
            continue
        mine = [c for c in children if not is_ray_process(c)]
        kids += mine
        todo += mine
    _listed[process.pid] = (now, kids)
    return kids


def process_tree_cpu_s(process: psutil.Process | None = None) -> float:
    """User + system CPU seconds of this process and its descendants, living or finished.

    A finished child's time moves into its parent's children times once reaped, so the sum stays cumulative and a
    difference of two readings is the tree's CPU time between them."""
    process = process or psutil.Process()
    if not NS_CLOCK or process.pid != os.getpid():
        return _tree_cpu_ticks(process)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = time.clock_gettime(time.CLOCK_PROCESS_CPUTIME_ID) + kids.ru_utime + kids.ru_stime
    for proc in _descendants(process):
        try:
            own = time.clock_gettime(_pid_cpu_clock(proc.pid))
            t = proc.cpu_times()  # its own reaped children (grandchildren of ours): ticks, rare
            total += own + t.children_user + t.children_system
        except (OSError, psutil.Error):  # exited between listing and reading: its parent has (or will have) its time
            continue
    return total


def _tree_cpu_ticks(process: psutil.Process) -> float:
    """The same sum from psutil alone (10 ms ticks)."""
    total = 0.0
    for proc in [process, *_descendants(process)]:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def tree_pids(process: psutil.Process | None = None) -> set[int]:
    """This process and its living descendants."""
    process = process or psutil.Process()
    return {process.pid, *(p.pid for p in _descendants(process))}


def machine_busy_cpu_s() -> float:
    """CPU seconds every CPU of the machine spent on any work since boot (/proc/stat: everything but idle and
    iowait; guest time is inside user already). Tick resolution."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)


def machine_cpus() -> int:
    return psutil.cpu_count() or 1


def contention_span_s(cpus: int | None = None) -> float:
    """The shortest interval over which the machine's tick-resolution busy time resolves 5% of its capacity
    (two edges of one tick each: 2 x tick <= 5% x span x cpus)."""
    return 2 * TICK_S / (0.05 * (cpus or machine_cpus()))


def tree_memory_share(process: psutil.Process | None = None) -> float:
    """This process tree's resident memory over the machine's total memory (0..1). RSS, not PSS: PSS reads every
    mapping (smaps), too slow for a window edge; RSS counts shared pages in full, so the share errs high."""
    process = process or psutil.Process()
    rss = 0
    for proc in [process, *_descendants(process)]:
        try:
            rss += proc.memory_info().rss
        except psutil.Error:
            continue
    return min(1.0, rss / psutil.virtual_memory().total)


def usable_cpus(cgroup_root: Path | str = "/sys/fs/cgroup", proc_self: Path | str = "/proc/self/cgroup") -> tuple[int, str]:
    """How many CPUs this process may use, and why: the affinity mask, lowered by a cgroup CPU quota (v2 cpu.max,
    v1 cpu.cfs_quota_us / cpu.cfs_period_us) when one is set."""
    try:
        n, why = len(os.sched_getaffinity(0)), "affinity"
    except AttributeError:  # not Linux
        n, why = os.cpu_count() or 1, "os.cpu_count"
    quota = _cgroup_quota(Path(cgroup_root), Path(proc_self))
    if quota is not None and quota < n:
        n, why = max(1, int(quota)), f"cgroup CPU quota {quota:g}"
    return n, why


def _cgroup_quota(root: Path, proc_self: Path) -> float | None:
    """CPUs' worth of the cgroup quota, or None when none is set or none can be read."""
    paths: dict[str, str] = {}
    try:
        for line in proc_self.read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                paths[c] = path.lstrip("/")
    except (OSError, ValueError):
        pass
    candidates = []
    if "" in paths:  # v2 (unified)
        candidates.append(("v2", root / paths[""] / "cpu.max"))
    candidates.append(("v2", root / "cpu.max"))
    for key in ("cpu", "cpu,cpuacct"):
        if key in paths:
            candidates.append(("v1", root / "cpu" / paths[key]))
    candidates.append(("v1", root / "cpu"))
    for kind, path in candidates:
        try:
            if kind == "v2":
                quota, period = path.read_text().split()[:2]
                if quota != "max":
                    return int(quota) / int(period)
            else:
                quota_us = int((path / "cpu.cfs_quota_us").read_text())
                if quota_us > 0:
                    return quota_us / int((path / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
    return None
