"""RAPL against a fake powercap tree: discovery, counter math, wrap-around, unreadable files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecobench.errors import SensorError, UserError
from ecobench.footprint import FootprintConfig, Monitor
from ecobench.footprint.meters import rapl
from tests.footprint.conftest import make_powercap, set_energy

CPU_ONLY = {"idle_seconds": 0, "gpu": "none", "ram": "none", "min_window_s": 0}  # windows here test the channels


def test_probe_finds_packages_and_skips_subdomains_and_psys(tmp_path):
    root = make_powercap(tmp_path, {0: 10, 1: 20})
    probe = rapl.probe(root)
    assert [d.name for d in probe.usable] == ["package-0", "package-1"]
    assert probe.problem is None


def test_counter_delta_in_joules(tmp_path):
    root = make_powercap(tmp_path, {0: 1_000})
    channel = rapl.RaplChannel(rapl.probe(root).usable[0])
    channel.start()
    set_energy(root, 0, 5_001_000)
    assert channel.update() == pytest.approx(5.0)
    set_energy(root, 0, 6_001_000)
    assert channel.update() == pytest.approx(6.0)


def test_wrap_around_uses_max_energy_range(tmp_path):
    root = make_powercap(tmp_path, {0: 9_000_000}, max_uj=10_000_000)
    channel = rapl.RaplChannel(rapl.probe(root).usable[0])
    channel.start()
    set_energy(root, 0, 1_000_000)  # 1 J to the top, wrapped, 1 J more
    assert channel.update() == pytest.approx(2.0)


def test_permission_denied_is_explained_with_the_fix(tmp_path, monkeypatch):
    root = make_powercap(tmp_path, {0: 1})
    denied = root / "intel-rapl:0" / "energy_uj"
    real_read = Path.read_text

    def read_text(self, *args, **kwargs):
        if self == denied:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    probe = rapl.probe(root)
    assert probe.usable == []
    assert "permission denied" in probe.problem and "chmod" in probe.problem


def test_unreadable_file_falls_back_to_codecarbon(tmp_path):
    root = make_powercap(tmp_path, {0: 1})
    energy = root / "intel-rapl:0" / "energy_uj"
    energy.unlink()
    energy.mkdir()  # reading a directory fails like a broken sysfs file
    m = Monitor(FootprintConfig.model_validate(CPU_ONLY), powercap_root=root)
    m.start()
    with m.window("w") as w:
        pass
    m.close()
    assert w.result.components["cpu"].source == "estimated:codecarbon-cpu-process"
    assert "no RAPL" in m.summary_line()


def test_asking_for_rapl_without_it_is_a_sensor_error(tmp_path):
    m = Monitor(FootprintConfig.model_validate({**CPU_ONLY, "cpu": "rapl"}), powercap_root=tmp_path / "absent")
    with pytest.raises(SensorError, match="RAPL is not readable"):
        m.start()


def test_monitor_window_reads_rapl(tmp_path):
    root = make_powercap(tmp_path, {0: 1_000_000, 1: 2_000_000})
    m = Monitor(FootprintConfig.model_validate({**CPU_ONLY, "require": "measured"}), powercap_root=root)
    m.start()
    with m.window("train") as w:
        set_energy(root, 0, 4_000_000)
        set_energy(root, 1, 3_500_000)
    m.close()
    assert w.result.components["cpu"].source == "measured:rapl"
    assert w.result.components["cpu"].energy_j == pytest.approx(3.0 + 1.5)
    assert "CPU measured (RAPL, 2 package(s))" in m.summary_line()


def test_file_vanishing_mid_run_reports_none_not_zero(tmp_path):
    root = make_powercap(tmp_path, {0: 1_000_000})
    m = Monitor(FootprintConfig.model_validate(CPU_ONLY), powercap_root=root)
    m.start()
    with m.window("train") as w:
        set_energy(root, 0, 3_000_000)  # 2 J counted before the file goes
        (root / "intel-rapl:0" / "energy_uj").unlink()
    with m.window("eval") as later:
        pass
    m.close()
    cpu = w.result.components["cpu"]
    assert cpu.energy_j is None and cpu.source == "none"  # not 0, and not the 2 J read before it vanished
    assert "package-0" in cpu.reason and "FileNotFoundError" in cpu.reason
    assert w.result.energy_j is None  # no other component: the total is unknown too
    cols = m.columns(w.result)
    assert cols["energy_cpu_kwh"] is None and cols["energy_kwh"] is None and cols["co2e_g"] is None
    assert cols["reason_cpu"] == cpu.reason
    assert later.result.components["cpu"].energy_j is None  # stays unknown for the rest of the run


def test_one_package_failing_makes_the_cpu_unknown_not_partial(tmp_path):
    root = make_powercap(tmp_path, {0: 0, 1: 0})
    m = Monitor(FootprintConfig.model_validate({**CPU_ONLY, "ram": "codecarbon"}), powercap_root=root)
    m.start()
    with m.window("train") as w:
        set_energy(root, 0, 5_000_000)
        set_energy(root, 1, 5_000_000)
        (root / "intel-rapl:1" / "energy_uj").unlink()
    m.close()
    r = w.result
    assert r.components["cpu"].energy_j is None and "package-1" in r.components["cpu"].reason
    assert r.components["ram"].energy_j is not None
    assert r.energy_j == r.components["ram"].energy_j  # the total is over the components still present


def test_require_measured_without_any_meter_exits_2(tmp_path, no_nvml):
    m = Monitor(FootprintConfig(require="measured", idle_seconds=0), powercap_root=tmp_path / "absent")
    with pytest.raises(SensorError) as err:
        m.start()
    assert isinstance(err.value, UserError)  # the CLI prints one line and exits 2
    assert "nothing on this machine is measured" in str(err.value) and "ecobench doctor" in str(err.value)
