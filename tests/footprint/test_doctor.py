"""`ecobench doctor` says what is measured, what is not, and how to fix RAPL permissions."""

from __future__ import annotations

from pathlib import Path

from ecobench.footprint.doctor import doctor_report
from tests.footprint.conftest import FakeGpu, make_powercap


def test_report_on_a_gpu_machine_with_root_only_rapl(fake_nvml, tmp_path, monkeypatch):
    fake_nvml([FakeGpu("GPU-aaaa"), FakeGpu("GPU-bbbb", counter=False, name="Tesla P100")])
    root = make_powercap(tmp_path, {0: 1})
    real_read = Path.read_text

    def read_text(self, *args, **kwargs):
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    report = doctor_report(root)
    assert "gpu0 = NVML 0: NVIDIA Fake H100 GPU-aaaa; energy counter: yes" in report
    assert "gpu1 = NVML 1: Tesla P100 GPU-bbbb; energy counter: NO (power sampling instead)" in report
    assert "sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj" in report
    assert "codecarbon's TDP table" in report and "RAM estimate" in report


def test_report_without_gpu_or_rapl(no_nvml, tmp_path):
    report = doctor_report(tmp_path / "absent")
    assert "NVML unavailable" in report and "does not exist" in report
