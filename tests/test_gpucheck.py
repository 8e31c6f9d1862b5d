"""scripts/gpu-check.sh's Python half, on the CPU: power integration, the counter-vs-power check against a fake NVML
library, MFU arithmetic and energy per phase."""

from __future__ import annotations

import threading
import time
import types

import pandas as pd
import pytest

from ecobench.gpucheck import crosscheck, mfu, peak_bf16_tflops, phase_energy, summary_lines, trapezoid_j


def test_trapezoid_follows_a_power_step() -> None:
    samples = [(0.0, 100_000.0), (1.0, 100_000.0), (2.0, 300_000.0), (3.0, 300_000.0)]  # mW
    assert trapezoid_j(samples) == pytest.approx(100 + 200 + 300)
    assert trapezoid_j(samples[:1]) == 0.0


def fake_nvml(power_w: float, counter_scale: float = 1.0) -> types.SimpleNamespace:
    """A stand-in for the pynvml module: constant power, and an energy counter integrating it (x counter_scale) on the
    real clock, in NVML's units (mW, mJ)."""
    t0 = time.perf_counter()
    lock = threading.Lock()

    def energy(handle):
        with lock:
            return int(1e3 * power_w * counter_scale * (time.perf_counter() - t0)) + 7_000_000

    return types.SimpleNamespace(nvmlDeviceGetTotalEnergyConsumption=energy,
                                 nvmlDeviceGetPowerUsage=lambda handle: int(power_w * 1e3))


def test_counter_and_power_agree_on_a_steady_load() -> None:
    result = crosscheck(fake_nvml(250.0), handle=0, work=lambda: time.sleep(0.3), period_s=0.01)
    assert result.counter_j == pytest.approx(250.0 * result.wall_s, rel=0.02)
    assert result.power_j == pytest.approx(result.counter_j, rel=0.02)
    assert result.ok and result.samples >= 3 and "OK" in result.line()


def test_a_counter_that_disagrees_fails_the_check() -> None:
    result = crosscheck(fake_nvml(250.0, counter_scale=1.5), handle=0, work=lambda: time.sleep(0.2), period_s=0.01)
    assert not result.ok and "FAIL" in result.line()


def test_mfu_and_the_peak_table() -> None:
    assert peak_bf16_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert peak_bf16_tflops("NVIDIA H100 PCIe") == 756.0
    assert peak_bf16_tflops("NVIDIA H200") == 989.0
    assert peak_bf16_tflops("NVIDIA H200 NVL") == 835.0  # was 989: "H200" matched the NVL card first
    assert peak_bf16_tflops("NVIDIA GH200 480GB") == 989.0
    assert peak_bf16_tflops("NVIDIA H800") == 989.0 and peak_bf16_tflops("NVIDIA H800 PCIe") == 756.0
    assert peak_bf16_tflops("NVIDIA H20") == 148.0
    assert peak_bf16_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert peak_bf16_tflops("Tesla V100-SXM2-16GB") is None
    # 10M-parameter model: ~20 MFLOP forward per token; 1M tokens/s of training = 60 TFLOP/s = 19.2% of an A100
    assert mfu(1e6, 20e6, 312.0) == pytest.approx(60e12 / 312e12)


def test_energy_per_phase_and_summary() -> None:
    df = pd.DataFrame([
        {"method": "dense", "phase": "train", "status": "ok", "seed": 0, "tokens_per_s": 5e5, "energy_kwh": 1e-3,
         "flops_per_token_dense": 2e7, "source_gpu": "measured:nvml-counter"},
        {"method": "magnitude", "phase": "recover", "status": "ok", "seed": 0, "tokens_per_s": 4e5,
         "energy_kwh": 2e-4, "flops_per_token_dense": 2e7, "source_gpu": "measured:nvml-counter"},
        {"method": "random", "phase": "recover", "status": "ok", "seed": 0, "tokens_per_s": 4e5, "energy_kwh": None,
         "flops_per_token_dense": 2e7, "source_gpu": "measured:nvml-counter"},
    ])
    assert phase_energy(df) == {"train": pytest.approx(3600.0)}  # recover has a row without energy: left out
    lines = summary_lines(df, "NVIDIA H100 80GB HBM3")
    assert lines[0].startswith("dense training (seed 0): 500,000 tokens/s end-to-end (the train window's wall time")
    assert "MFU 3.0% of NVIDIA H100" in lines[0]
    assert "measured:nvml-counter" in lines[-1]


def test_summary_of_a_folder_the_real_runner_wrote(smoke_run) -> None:
    from ecobench.results import load

    lines = summary_lines(load(smoke_run), "NVIDIA H100 80GB HBM3")
    assert lines[0].startswith("dense training (seed 0): ") and "MFU" in lines[0] and "989 TFLOP/s" in lines[0]
    phases = [line.split(":")[0].split()[-1] for line in lines if line.startswith("energy ")]
    assert {"train", "recover", "eval", "prefill", "decode"} <= set(phases)


def test_the_driver_against_what_the_torch_build_needs() -> None:
    from ecobench.gpucheck import driver_line, driver_needed

    assert driver_needed("13.0") == ("580.65.06", "580.65.06")  # PyPI's torch 2.13 wheel: CUDA 13, R580+
    assert driver_needed("12.8")[0] == "525.60.13" and driver_needed("12.8")[1] == "570.26"
    line, ok = driver_line("13.0", "570.124.06")
    assert not ok and "needs driver >= 580.65.06" in line and "TOO OLD" in line
    line, ok = driver_line("13.0", "580.82.07")
    assert ok and line.endswith("found 580.82.07: OK")
    assert driver_line(None, None)[0].startswith("torch is a CPU build")
    assert "no NVIDIA driver found" in driver_line("12.8", None)[0]


def test_the_gpu_checks_say_they_are_skipped_on_the_cpu(capsys) -> None:
    from ecobench.gpucheck import main

    assert main(["crosscheck", "--device", "cpu"]) == 0 and main(["shortcheck", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "crosscheck: skipped on cpu" in out and "shortcheck: skipped on cpu" in out
