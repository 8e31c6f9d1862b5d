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


def test_every_unmeasured_component_gets_a_fix_line(no_nvml, tmp_path):
    report = doctor_report(tmp_path / "absent")
    lines = report.splitlines()
    assert any(line.strip().startswith("fix: install the NVIDIA driver") for line in lines)  # GPU
    assert any(line.strip().startswith("fix: on bare-metal Linux load the driver") for line in lines)  # CPU
    assert any(line.strip().startswith("fix: none on this kind of machine") for line in lines)  # RAM


def test_site_ewif_with_source_and_convention():
    from ecobench.footprint import SiteConfig
    from ecobench.footprint.doctor import site_lines

    text = "\n".join(site_lines(SiteConfig(country="NOR", hydro_evaporation="include")))
    assert "derived:codecarbon-mix:NOR" in text and "mix:hydro-included" in text


def test_cli_doctor_with_a_suite_prints_its_site(capsys):
    from tests.conftest import SUITES
    from tests.reliability.conftest import run_inprocess

    rc, out, err = run_inprocess(["doctor", str(SUITES / "smoke.yaml"), "--set", "footprint.site.country=FRA"], capsys)
    assert rc == 0, err
    assert "EWIF 1.62 L/kWh (derived:codecarbon-mix:FRA; convention mix:hydro-excluded)" in out
