"""The meters measure the device doing the work, and only it (run.device): against a fake NVML library."""

from __future__ import annotations

import pytest

from ecobench.errors import SensorError
from ecobench.footprint import FootprintConfig, Monitor
from tests.footprint.conftest import FakeGpu, make_powercap

GPU_ONLY = {"idle_seconds": 0, "cpu": "none", "ram": "none"}


def started(clock, device: str | None, **config) -> Monitor:
    m = Monitor(FootprintConfig.model_validate({**GPU_ONLY, **config}), clock=clock, device=device)
    m.start()
    return m


def two_gpus(fake_nvml, clock):
    return fake_nvml([FakeGpu("GPU-aaaa", power_w=100.0), FakeGpu("GPU-bbbb", power_w=300.0)], clock)


def test_only_the_gpu_doing_the_work_is_measured(fake_nvml, clock) -> None:
    two_gpus(fake_nvml, clock)
    m = started(clock, "cuda:1")
    with m.window("train") as w:
        clock.advance(2.0)
    manifest = m.manifest()
    m.close()
    assert w.result.gpu_device_energy_j == {"gpu1": pytest.approx(600.0)}  # 300 W x 2 s; the 100 W GPU is not counted
    assert w.result.components["gpu"].energy_j == pytest.approx(600.0)
    assert [d["uuid"] for d in manifest["gpu_devices"]] == ["GPU-bbbb"] and manifest["work_device"] == "cuda:1"


def test_the_work_device_follows_cuda_visible_devices(fake_nvml, clock, monkeypatch) -> None:
    two_gpus(fake_nvml, clock)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")  # CUDA's device 0 is NVML's GPU 1
    m = started(clock, "cuda:0")
    with m.window("train") as w:
        clock.advance(1.0)
    m.close()
    assert w.result.components["gpu"].energy_j == pytest.approx(300.0)
    assert m.manifest()["gpu_devices"][0]["uuid"] == "GPU-bbbb"


def test_cpu_work_never_counts_an_idle_gpu(fake_nvml, clock) -> None:
    fake = two_gpus(fake_nvml, clock)
    m = started(clock, "cpu")
    with m.window("train") as w:
        clock.advance(1.0)
    m.close()
    gpu = w.result.components["gpu"]
    assert gpu.energy_j is None and gpu.source == "none" and "work runs on cpu" in gpu.reason
    assert fake.inits == 0  # NVML is not even opened
    assert m.measured_components() == []


def test_require_measured_fails_when_only_an_idle_gpu_is_measured(fake_nvml, clock, tmp_path) -> None:
    """The work on the CPU, a GPU with NVML beside it, no RAPL: nothing doing the work is measured."""
    two_gpus(fake_nvml, clock)
    cfg = FootprintConfig.model_validate({"idle_seconds": 0, "require": "measured", "cpu": "auto", "ram": "none"})
    m = Monitor(cfg, clock=clock, device="cpu", powercap_root=tmp_path / "no-powercap")
    with pytest.raises(SensorError, match="require is 'measured' but nothing .*GPU: not metered: the work runs on cpu"):
        m.start()
    # the same machine with the work on its GPU: measured
    m = Monitor(cfg, clock=clock, device="cuda:0", powercap_root=tmp_path / "no-powercap")
    m.start()
    assert m.measured_components() == ["gpu"]
    m.close()


def test_require_measured_holds_for_cpu_work_when_rapl_measures_the_cpu(fake_nvml, clock, tmp_path) -> None:
    two_gpus(fake_nvml, clock)
    root = make_powercap(tmp_path / "powercap", {0: 1_000_000})
    cfg = FootprintConfig.model_validate({"idle_seconds": 0, "require": "measured", "cpu": "rapl", "ram": "none"})
    m = Monitor(cfg, clock=clock, device="cpu", powercap_root=root)
    m.start()
    assert m.measured_components() == ["cpu"]
    m.close()


def test_an_explicit_gpu_meter_with_cpu_work_is_refused(fake_nvml, clock) -> None:
    two_gpus(fake_nvml, clock)
    with pytest.raises(SensorError, match="footprint.gpu is 'counter' but the work runs on cpu"):
        started(clock, "cpu", gpu="counter")


def test_a_work_gpu_nvml_does_not_show_is_said(fake_nvml, clock) -> None:
    two_gpus(fake_nvml, clock)
    m = started(clock, "cuda:5")
    with m.window("train") as w:
        clock.advance(1.0)
    m.close()
    assert w.result.components["gpu"].energy_j is None
    assert "no GPU as CUDA device 5" in w.result.components["gpu"].reason
    with pytest.raises(SensorError, match="no GPU as CUDA device 5"):
        started(clock, "cuda:5", gpu="counter")


class _Props:
    def __init__(self, uuid: str):
        self.uuid = uuid  # torch's _CUuuid prints the bare UUID, without NVIDIA's GPU- prefix


def fake_cuda(monkeypatch, uuids: list[str]) -> None:
    """torch.cuda at its boundary: CUDA's devices in CUDA's order (FASTEST_FIRST), by their UUIDs."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(uuids))
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: _Props(uuids[i]))


def test_cuda_devices_are_matched_to_nvml_by_uuid_not_index(fake_nvml, clock, monkeypatch) -> None:
    """Two GPUs NVML lists as (a, b) by PCI bus; CUDA orders them fastest first: (b, a). cuda:0 is b, whatever the
    indices say (before, cuda:0 metered NVML's GPU 0, the other card)."""
    fake_nvml([FakeGpu("GPU-aaaa-0001", power_w=100.0), FakeGpu("GPU-bbbb-0002", power_w=300.0)], clock)
    fake_cuda(monkeypatch, ["bbbb-0002", "aaaa-0001"])
    for device, want_j, uuid in (("cuda:0", 300.0, "GPU-bbbb-0002"), ("cuda:1", 100.0, "GPU-aaaa-0001")):
        m = started(clock, device)
        with m.window("train") as w:
            clock.advance(1.0)
        manifest = m.manifest()
        m.close()
        assert w.result.components["gpu"].energy_j == pytest.approx(want_j), device
        assert [(d["uuid"], d["mapped_by"], d["scope"]) for d in manifest["gpu_devices"]] == [(uuid, "uuid", "gpu")]


def test_a_mig_instance_is_metered_through_its_parent_and_labelled_whole_gpu(fake_nvml, clock, monkeypatch) -> None:
    import pynvml

    fake_nvml([FakeGpu("GPU-aaaa", power_w=100.0), FakeGpu("GPU-bbbb", power_w=250.0)], clock)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetMaxMigDeviceCount", lambda h: 2 if h == 1 else 0)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetMigDeviceHandleByIndex", lambda h, k: ("mig", h, k))
    real_uuid = pynvml.nvmlDeviceGetUUID
    monkeypatch.setattr(pynvml, "nvmlDeviceGetUUID",
                        lambda h: f"MIG-{h[1]}{h[2]}11-22" if isinstance(h, tuple) else real_uuid(h))
    fake_cuda(monkeypatch, ["1111-22"])  # the work's CUDA device 0 is MIG slice 1 of NVML's GPU 1
    m = started(clock, "cuda:0")
    with m.window("train") as w:
        clock.advance(2.0)
    manifest = m.manifest()
    m.close()
    assert w.result.components["gpu"].energy_j == pytest.approx(500.0)  # the parent's 250 W: the whole GPU
    (dev,) = manifest["gpu_devices"]
    assert dev["uuid"] == "GPU-bbbb" and dev["scope"].startswith("whole-gpu (MIG instance MIG-1111-22")
    assert "whole-gpu" in manifest["notes"]["gpu"]
