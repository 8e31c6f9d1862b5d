"""The Python half of scripts/gpu-check.sh: on a machine with an NVIDIA GPU, check NVML's energy counter against
integrated power samples over one window of real GPU work, and print tokens/s, MFU and energy per phase of a
results folder.

Two NVML readings of the same window:
- `nvmlDeviceGetTotalEnergyConsumption`: mJ since the driver loaded (Volta and newer), read at the window's edges;
- `nvmlDeviceGetPowerUsage`: mW, sampled by a thread every `period_s` and integrated with the trapezoid rule. On
  Ampere (but GA100) and newer GPUs it is a 1-second average, so the integral lags the work by about half a second:
  the window is long (tens of seconds) and the work steady so that the lag stays far below the 10% tolerance.

MFU = achieved FLOP/s / the GPU's peak dense bf16 FLOP/s (PEAK_BF16_TFLOPS, from NVIDIA's data sheets, without
sparsity). Achieved FLOP/s of training = 3 x forward FLOPs per token (forward, and a backward of twice the forward)
x tokens/s, with forward FLOPs per token as the cells record them (ecobench/prune/flops.py: every matmul, attention
over the full context).

A short-window check beside it: many 50 ms bursts of the same work, each in its own Monitor window, read by the
channel ecobench chooses for a window that short (power samples below `footprint.min_counter_window_s`) and by the
counter at the same edges; their totals over all bursts, and how far apart they are (a 1 s averaged power reading
cannot follow 50 ms bursts: this is why measured windows are repeated to seconds).

`driver` prints the driver found against what this torch build needs (CUDA 13 wheels: R580+). On a machine without
a GPU (`--device cpu`) every subcommand prints its section and says why it is skipped, so the report has the same
shape on a CPU.

Usage: python -m ecobench.gpucheck driver [--device cuda:0]
       python -m ecobench.gpucheck crosscheck [--device cuda:0] [--seconds 30]
       python -m ecobench.gpucheck shortcheck [--device cuda:0] [--bursts 40] [--burst-s 0.05]
       python -m ecobench.gpucheck summary RESULTS_DIR
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# dense (no 2:4 sparsity) bf16 tensor-core peak, TFLOP/s, by a substring of the NVML/CUDA device name; the first match
# wins, so the more specific names come first
PEAK_BF16_TFLOPS: tuple[tuple[str, float], ...] = (
    ("GB200", 2500.0),
    ("B200", 2250.0),
    ("GH200", 989.0),  # before "H200", which it contains
    ("H200 NVL", 835.0),  # before "H200": the NVL part is the PCIe card at a lower power
    ("H200", 989.0),  # H200 SXM
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),  # H100 SXM
    ("H800 PCIe", 756.0),
    ("H800", 989.0),  # H800 SXM (the export H100: same tensor cores)
    ("H20", 148.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("A6000", 155.0),  # RTX A6000, with FP32 accumulate 77; the tensor-core figure NVIDIA lists
    ("A10G", 70.0),
    ("A10", 125.0),
    ("L4", 121.0),
)
TOLERANCE = 0.10  # counter and integrated power agree within 10%

# the driver a torch CUDA build needs: (CUDA major.minor of the build) -> (minimum with minor-version compatibility,
# the toolkit's own release driver), from NVIDIA's CUDA toolkit release notes (Linux x86_64)
DRIVER_FOR_CUDA: tuple[tuple[tuple[int, int], str, str], ...] = (
    ((13, 0), "580.65.06", "580.65.06"),  # CUDA 13: R580 or newer, no older-driver compatibility
    ((12, 8), "525.60.13", "570.26"),
    ((12, 6), "525.60.13", "560.28.03"),
    ((12, 4), "525.60.13", "550.54.14"),
    ((12, 1), "525.60.13", "530.30.02"),
    ((11, 8), "450.80.02", "520.61.05"),
)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def driver_needed(cuda: str) -> tuple[str, str] | None:
    """(minimum driver, release driver) for a torch built with CUDA `cuda` ('12.8', '13.0'); None when unknown."""
    want = _version(cuda)[:2]
    for (major, minor), minimum, full in DRIVER_FOR_CUDA:
        if want[:1] == (major,) and want >= (major, minor):
            return minimum, full
    return None


def driver_line(torch_cuda: str | None, driver: str | None) -> tuple[str, bool]:
    """One line: the driver found against what the torch build needs; and whether it is new enough."""
    if torch_cuda is None:
        return "torch is a CPU build: no GPU checks (install a CUDA build of torch 2.13, or pass PY=)", False
    need = driver_needed(torch_cuda)
    if driver is None:
        return f"torch built with CUDA {torch_cuda}; no NVIDIA driver found (nvidia-smi / NVML)", False
    if need is None:
        return f"torch built with CUDA {torch_cuda}; driver {driver} (no table entry for this CUDA)", True
    ok = _version(driver) >= _version(need[0])
    verdict = "OK" if ok else "TOO OLD: torch will see no GPU; install a torch built for an older CUDA (TORCH_INDEX)"
    return (f"torch built with CUDA {torch_cuda} needs driver >= {need[0]} (its toolkit shipped with {need[1]}); "
            f"found {driver}: {verdict}"), ok


def peak_bf16_tflops(name: str) -> float | None:
    """The GPU's dense bf16 peak from PEAK_BF16_TFLOPS (None: not in the table, so no MFU is printed)."""
    for key, tflops in PEAK_BF16_TFLOPS:
        if key.lower() in name.lower():
            return tflops
    return None


def mfu(tokens_per_s: float, forward_flops_per_token: float, peak_tflops: float) -> float:
    """Model FLOPs utilisation of training: 3 x forward FLOPs per token x tokens/s over the peak."""
    return 3 * forward_flops_per_token * tokens_per_s / (peak_tflops * 1e12)


def trapezoid_j(samples: list[tuple[float, float]]) -> float:
    """Energy (J) of (time s, power mW) samples in time order, by the trapezoid rule."""
    return sum(0.5 * (p0 + p1) / 1e3 * (t1 - t0) for (t0, p0), (t1, p1) in zip(samples, samples[1:]))


@dataclass
class Crosscheck:
    counter_j: float  # energy counter difference over the window
    power_j: float  # integrated power samples over the same window
    wall_s: float
    samples: int

    @property
    def relative_difference(self) -> float:
        return abs(self.power_j - self.counter_j) / self.counter_j if self.counter_j > 0 else float("inf")

    @property
    def ok(self) -> bool:
        return self.relative_difference <= TOLERANCE

    def line(self) -> str:
        verdict = "OK" if self.ok else f"FAIL (more than {TOLERANCE:.0%})"
        return (f"NVML energy counter {self.counter_j:.1f} J vs integrated power {self.power_j:.1f} J over "
                f"{self.wall_s:.1f} s ({self.samples} samples, mean {self.counter_j / self.wall_s:.0f} W): "
                f"{100 * self.relative_difference:.1f}% apart, {verdict}")


def crosscheck(nvml: Any, handle: Any, work: Callable[[], None], period_s: float = 0.05,
               clock: Callable[[], float] = time.perf_counter) -> Crosscheck:
    """Run `work` inside one window read both ways: the counter at its edges, power sampled in a thread."""
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        samples.append((clock(), float(nvml.nvmlDeviceGetPowerUsage(handle))))

    def loop() -> None:
        while not stop.wait(period_s):
            sample()

    e0 = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    t0 = clock()
    sample()
    thread = threading.Thread(target=loop, name="gpucheck-power", daemon=True)
    thread.start()
    try:
        work()
    finally:
        stop.set()
        thread.join()
    sample()
    e1 = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    wall = clock() - t0
    return Crosscheck((e1 - e0) / 1e3, trapezoid_j(samples), wall, len(samples))


@dataclass
class ShortCheck:
    bursts: int
    burst_s: float
    counter_j: float  # the counter's differences at each burst window's edges, summed
    chosen_j: float  # what ecobench's window reported for the same bursts, summed
    source: str  # the channel it chose for windows this short

    @property
    def relative_difference(self) -> float:
        return abs(self.chosen_j - self.counter_j) / self.counter_j if self.counter_j > 0 else float("inf")

    def line(self) -> str:
        return (f"{self.bursts} bursts of {1000 * self.burst_s:.0f} ms: counter {self.counter_j:.1f} J vs ecobench's "
                f"window ({self.source}) {self.chosen_j:.1f} J, {100 * self.relative_difference:.1f}% apart "
                f"(informational: sub-second windows are why measured workloads repeat to seconds)")


def shortcheck(nvml: Any, handle: Any, monitor: Any, burst: Callable[[], None], bursts: int, burst_s: float,
               pause_s: float = 0.05, sleep: Callable[[float], None] = time.sleep) -> ShortCheck:
    """`bursts` windows of `burst`, each read by ecobench's Monitor (its chosen GPU channel) and by the counter at
    the same edges."""
    counter = chosen = 0.0
    source = "none"
    for _ in range(bursts):
        e0 = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        with monitor.window("gpucheck/burst") as w:
            burst()
        counter += (nvml.nvmlDeviceGetTotalEnergyConsumption(handle) - e0) / 1e3
        gpu = w.result.components["gpu"]
        chosen += gpu.energy_j or 0.0
        source = gpu.source
        sleep(pause_s)  # bursts, not one long window
    return ShortCheck(bursts, burst_s, counter, chosen, source)


def matmul_load(device: str, seconds: float) -> Callable[[], None]:
    """Steady GPU work for `seconds`: bf16 matmuls, synchronised at the end."""
    import torch

    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)

    def work() -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            for _ in range(20):
                a @ b
            torch.cuda.synchronize(device)

    return work


def nvml_handle(device: str) -> tuple[Any, Any, str]:
    """(pynvml, handle, name) of the CUDA device `device`, matched by UUID as the meters match it (a MIG instance:
    its parent GPU)."""
    import os

    import pynvml

    from ecobench.footprint.meters.nvml import cuda_to_nvml, cuda_uuids, visible_indices

    pynvml.nvmlInit()
    handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    uuids = [_text(pynvml.nvmlDeviceGetUUID(h)) for h in handles]
    cuda = cuda_uuids()
    visible = ([i for i, _ in cuda_to_nvml(cuda, uuids, handles)] if cuda is not None
               else visible_indices(os.environ.get("CUDA_VISIBLE_DEVICES"), uuids))
    index = int(device.partition(":")[2] or 0)
    if index >= len(visible) or visible[index] < 0:
        raise SystemExit(f"gpu-check: {device} is not among the {len(visible)} GPU(s) NVML shows to this process")
    handle = handles[visible[index]]
    return pynvml, handle, _text(pynvml.nvmlDeviceGetName(handle))


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def phase_energy(df: Any) -> dict[str, float]:
    """Energy (J, every component measured or estimated) per phase, summed over the cells of a results frame; a
    phase with any row lacking energy is left out rather than summed over fewer rows."""
    out = {}
    for phase, rows in df.groupby("phase", sort=False):
        values = rows["energy_kwh"]
        if values.notna().all():
            out[str(phase)] = float(values.sum()) * 3.6e6
    return out


def summary_lines(df: Any, gpu_name: str | None) -> list[str]:
    """tokens/s and MFU of dense training, and energy per phase, of one results frame."""
    lines = []
    dense = df[(df["method"] == "dense") & (df["phase"] == "train") & (df["status"] == "ok")]
    peak = peak_bf16_tflops(gpu_name) if gpu_name else None
    for _, row in dense.iterrows():
        tps = row.get("tokens_per_s")
        line = (f"dense training (seed {row['seed']}): {tps:,.0f} tokens/s end-to-end (the train window's wall time: "
                "batches, steps, periodic validation and loss reads)" if tps == tps and tps else "no tokens/s")
        fwd = row.get("flops_per_token_dense")
        if peak and tps and fwd == fwd and fwd:
            line += (f", MFU {100 * mfu(tps, fwd, peak):.1f}% of {gpu_name}'s {peak:g} TFLOP/s dense bf16 peak "
                     f"(3 x {fwd / 1e6:.1f} MFLOP/token)")
        elif gpu_name:
            line += f" (no MFU: {gpu_name} not in the peak table)"
        lines.append(line)
    for phase, joules in phase_energy(df[df["status"] == "ok"]).items():
        lines.append(f"energy {phase:>8}: {joules:10.1f} J")
    sources = df.dropna(subset=["source_gpu"])["source_gpu"].unique() if "source_gpu" in df.columns else []
    lines.append("GPU energy source: " + (", ".join(map(str, sources)) or "none"))
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ecobench.gpucheck", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("crosscheck", help="NVML counter vs integrated power over one window of matmuls")
    c.add_argument("--device", default="cuda:0")
    c.add_argument("--seconds", type=float, default=30.0)
    d = sub.add_parser("driver", help="the NVIDIA driver against what this torch build needs")
    d.add_argument("--device", default="cuda:0")
    k = sub.add_parser("shortcheck", help="many 50 ms bursts: the counter vs the channel ecobench chooses")
    k.add_argument("--device", default="cuda:0")
    k.add_argument("--bursts", type=int, default=40)
    k.add_argument("--burst-s", type=float, default=0.05)
    s = sub.add_parser("summary", help="tokens/s, MFU and energy per phase of a results folder")
    s.add_argument("results")
    s.add_argument("--device", default="cuda:0")
    args = p.parse_args(argv)
    if args.command == "driver":
        return _driver(args.device)
    if args.command in ("crosscheck", "shortcheck") and not args.device.startswith("cuda"):
        print(f"{args.command}: skipped on {args.device} (NVML's counter needs an NVIDIA GPU)")
        return 0
    if args.command == "shortcheck":
        return _shortcheck(args)
    if args.command == "crosscheck":
        nvml, handle, name = nvml_handle(args.device)
        try:
            result = crosscheck(nvml, handle, matmul_load(args.device, args.seconds))
        finally:
            nvml.nvmlShutdown()
        print(f"{name}: {result.line()}")
        return 0 if result.ok else 1
    import torch

    from ecobench.results import load

    name = torch.cuda.get_device_name(args.device) if torch.cuda.is_available() else None
    for line in summary_lines(load(args.results), name):
        print(line)
    return 0


def _driver(device: str) -> int:
    import torch

    driver = None
    try:
        import pynvml

        pynvml.nvmlInit()
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 (no driver, no library: said in the line)
        driver = None
    line, ok = driver_line(torch.version.cuda, driver)
    print(f"torch {torch.__version__}: {line}")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            print(f"{device} asked for, but torch sees no GPU")
            return 1
        print(f"{device}: {torch.cuda.get_device_name(device)}")
        return 0 if ok else 1
    print(f"{device}: the CPU (GPU checks print their sections and are skipped)")
    return 0


def _shortcheck(args: argparse.Namespace) -> int:
    from ecobench.footprint import FootprintConfig, Monitor

    nvml, handle, name = nvml_handle(args.device)
    monitor = Monitor(FootprintConfig(cpu="none", ram="none", idle_seconds=0), device=args.device)
    monitor.start()
    try:
        result = shortcheck(nvml, handle, monitor, matmul_load(args.device, args.burst_s), args.bursts, args.burst_s)
    finally:
        monitor.close()
        nvml.nvmlShutdown()
    print(f"{name}: {result.line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
