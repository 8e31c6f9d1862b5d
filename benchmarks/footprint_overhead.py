"""Does measuring a phase slow it down? Same training work with and without footprint windows.

    python benchmarks/footprint_overhead.py            # 60 s of training in all (the issue's check)
    python benchmarks/footprint_overhead.py --seconds 10

The work is split into rounds of equal step counts, run alternately without a Monitor (no sampler
thread at all) and inside a window of a started Monitor (sampler thread running, meters read at
both edges; optionally a window per step as well), in ABBA order so drift cancels.

Two figures:
- side by side: median over pairs of measured/plain - 1, with a 95 % interval. On a shared machine
  other processes make each round vary by several %, so this interval can be wider than 1 %.
- attributable: what the monitor itself spends, as a share of the phase: the sampler thread's own
  CPU time (read from its per-thread clock) plus the window edges (timed on their own). This is an
  upper bound on the wall time it can add (it cannot add more than it runs) and is not disturbed by
  other processes.
Exits 1 if the attributable share is 1 % or more, or if the side-by-side interval lies wholly at or
above 1 %. The idle baseline is a one-off cost per run, not per phase (idle_seconds: 0 here).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

import torch

from ecobench.footprint import FootprintConfig, Monitor


def make_step(device: str):
    """One training step of a small MLP: the kind of loop a phase wraps."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(64, 256, device=device)
    y = torch.randn(64, 256, device=device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()

    return step


def run_plain(step, steps: int, sync) -> float:
    """Wall seconds of `steps` steps with no Monitor at all."""
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return time.perf_counter() - t0


def run_measured(step, steps: int, sync, config: FootprintConfig, per_step_windows: bool) -> tuple[float, float]:
    """(wall s, sampler thread CPU s) of the same work inside a window of a started Monitor."""
    monitor = Monitor(config)
    monitor.start()  # probing happens once per run, before any phase: not timed
    try:
        sampler = monitor._sampler
        s0 = sampler.thread_cpu_s() if sampler else 0.0
        t0 = time.perf_counter()
        with monitor.window("train") as w:
            for i in range(steps):
                if per_step_windows:
                    with monitor.window(f"step{i}"):
                        step()
                else:
                    step()
            sync()
        wall = time.perf_counter() - t0
        sampler_cpu = (sampler.thread_cpu_s() if sampler else 0.0) - s0
        assert w.result is not None
        monitor.columns(w.result)  # the row, as the runner makes it
        return wall, sampler_cpu
    finally:
        monitor.close()


def window_cost_s(config: FootprintConfig, n: int = 2000) -> float:
    """Seconds for one window open + close (all meters read twice), on its own."""
    monitor = Monitor(config)
    monitor.start()
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            with monitor.window("w"):
                pass
        return (time.perf_counter() - t0) / n
    finally:
        monitor.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="total training time, both arms (default 60)")
    parser.add_argument("--round-seconds", type=float, default=1.0, help="length of one round (default 1)")
    parser.add_argument("--per-step-windows", action="store_true", help="also open a window around every step")
    parser.add_argument("--threshold", type=float, default=0.01, help="fail at this overhead (default 0.01)")
    args = parser.parse_args(argv)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    torch.set_num_threads(1)  # steadier timings on a shared machine
    step = make_step(device)
    config = FootprintConfig(idle_seconds=0)

    for _ in range(50):  # warm-up
        step()
    sync()
    probe_steps = 200
    per_step_s = run_plain(step, probe_steps, sync) / probe_steps
    steps = max(10, int(args.round_seconds / per_step_s))
    pairs = max(2, int(args.seconds / (2 * args.round_seconds)))

    Monitor(config).start()  # pay codecarbon's one-off TDP lookup before timing
    plain: list[float] = []
    measured: list[float] = []
    sampler_cpu: list[float] = []
    for i in range(pairs):
        order = ("plain", "measured") if i % 2 == 0 else ("measured", "plain")  # ABBA
        for arm in order:
            if arm == "plain":
                plain.append(run_plain(step, steps, sync))
            else:
                wall, cpu = run_measured(step, steps, sync, config, args.per_step_windows)
                measured.append(wall)
                sampler_cpu.append(cpu)

    per_window_s = window_cost_s(config)
    windows_per_phase = 1 + (steps if args.per_step_windows else 0)
    attributable = (sum(sampler_cpu) + pairs * windows_per_phase * per_window_s) / sum(plain)

    ratios = [m / p - 1 for m, p in zip(measured, plain, strict=True)]
    median = statistics.median(ratios)
    half_width = 1.96 * statistics.stdev(ratios) / math.sqrt(len(ratios))
    totals = sum(measured) / sum(plain) - 1

    monitor = Monitor(config)
    print(monitor.site.name, "site;", f"device {device}; {pairs} pairs of {steps} steps "
          f"({statistics.mean(plain):.2f} s per round, {sum(plain) + sum(measured):.0f} s in all); "
          f"{windows_per_phase} window(s) per phase")  # fmt: skip
    print("per pair, measured/plain - 1 (%):", " ".join(f"{r * 100:+.1f}" for r in ratios))
    print(
        f"side by side: {median * 100:+.2f} % (median of pairs; 95 % interval of the mean "
        f"{statistics.mean(ratios) * 100:+.2f} +/- {half_width * 100:.2f} %; ratio of totals {totals * 100:+.2f} %)"
    )
    print(
        f"attributable: {attributable * 100:.4f} % (sampler thread CPU {sum(sampler_cpu) * 1e3:.1f} ms over "
        f"{sum(measured):.1f} s measured; one window open+close {per_window_s * 1e6:.0f} us)"
    )
    failed = []
    if attributable >= args.threshold:
        failed.append(f"attributable {attributable * 100:.3f} %")
    if statistics.mean(ratios) - half_width >= args.threshold:
        failed.append(f"side by side {median * 100:.2f} % (interval above the threshold)")
    if failed:
        print(f"FAIL (>= {args.threshold * 100:.1f} %): " + "; ".join(failed))
        return 1
    print(f"OK: below {args.threshold * 100:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
