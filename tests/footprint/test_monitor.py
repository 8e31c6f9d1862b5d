"""Windows and the row columns: provenance on every number, carbon and water from the row's factors."""

from __future__ import annotations

import json

import pytest

from ecobench.footprint import ComponentEnergy, FootprintConfig, Measurement, Monitor
from tests.footprint.conftest import FakeGpu, make_powercap, set_energy

ROW_KEYS = {
    "wall_s", "cpu_process_s", "energy_kwh", "energy_gpu_kwh", "energy_cpu_kwh", "energy_ram_kwh",
    "energy_above_idle_kwh", "energy_gpu_above_idle_kwh", "energy_cpu_above_idle_kwh",
    "energy_ram_above_idle_kwh", "energy_facility_kwh", "co2e_g", "water_onsite_l", "water_offsite_l",
    "water_l", "source_gpu", "source_cpu", "source_ram", "energy_provenance", "site_name", "site_country",
    "site_region", "pue", "carbon_intensity_g_per_kwh", "carbon_intensity_source", "wue_l_per_kwh",
    "ewif_l_per_kwh", "ewif_source", "ewif_convention", "co2e_above_idle_g", "water_above_idle_l",
    "reason_gpu", "reason_cpu", "reason_ram", "cpu_attribution", "ram_attribution", "other_cpu_s",
    "other_cpu_share", "other_cpu_span_s", "other_gpu_processes", "contended",
}  # fmt: skip
US_EWIF = 1.2050  # derived from codecarbon's 2023 U.S. mix, hydro evaporation excluded (test_site pins it)


@pytest.fixture
def measured(fake_nvml, clock, tmp_path):
    """GPU (fake NVML counter, 200 W) and CPU (fake RAPL) measured, RAM off, US-average site."""
    fake_nvml([FakeGpu("GPU-aaaa", power_w=200.0)], clock)
    root = make_powercap(tmp_path, {0: 0})
    config = FootprintConfig.model_validate({"idle_seconds": 0, "ram": "none", "site": {"preset": "us-average"}})
    m = Monitor(config, powercap_root=root, clock=clock)
    m.start()
    yield m, clock, root
    m.close()


def test_columns_of_a_phase(measured):
    m, clock, root = measured
    with m.window("seed0/trajectory/0.5/train") as w:
        clock.advance(9.0)  # 1800 J of GPU
        set_energy(root, 0, 1_800_000_000)  # 1800 J of CPU
    cols = m.columns(w.result)
    assert set(cols) == ROW_KEYS
    json.dumps(cols)  # scalars only
    assert cols["energy_kwh"] == pytest.approx(3600 / 3.6e6)
    assert cols["energy_gpu_kwh"] == pytest.approx(0.0005) and cols["energy_cpu_kwh"] == pytest.approx(0.0005)
    assert cols["energy_ram_kwh"] is None and cols["source_ram"] == "none"  # absent, not zero
    assert cols["reason_ram"] == "off (footprint.ram: none)" and cols["reason_cpu"] is None
    assert cols["cpu_attribution"] == "machine"  # RAPL measures whole packages
    assert (cols["source_gpu"], cols["source_cpu"]) == ("measured:nvml-counter", "measured:rapl")
    assert cols["energy_provenance"] == "measured"
    assert cols["energy_above_idle_kwh"] is None  # no baseline taken: unknown, not zero
    assert cols["energy_facility_kwh"] == pytest.approx(0.001 * 1.17)
    assert cols["co2e_g"] == pytest.approx(0.001 * 1.17 * 369.473)
    assert cols["water_onsite_l"] == pytest.approx(0.001 * 0.55)
    assert cols["ewif_l_per_kwh"] == pytest.approx(US_EWIF, abs=1e-4)
    assert cols["ewif_convention"] == "mix:hydro-excluded"
    assert cols["water_offsite_l"] == pytest.approx(0.001 * 1.17 * cols["ewif_l_per_kwh"])
    assert cols["water_l"] == cols["energy_kwh"] * (cols["wue_l_per_kwh"] + cols["pue"] * cols["ewif_l_per_kwh"])
    assert cols["water_l"] == pytest.approx(cols["water_onsite_l"] + cols["water_offsite_l"])


def test_windows_nest_and_overlap(measured):
    m, clock, _ = measured
    with m.window("outer") as outer:
        clock.advance(1.0)
        with m.window("inner") as inner:
            clock.advance(2.0)
    assert inner.result.components["gpu"].energy_j == pytest.approx(400.0)
    assert outer.result.components["gpu"].energy_j == pytest.approx(600.0)


def test_result_is_set_when_the_phase_raises(measured):
    m, clock, _ = measured
    with pytest.raises(ValueError):
        with m.window("train") as w:
            clock.advance(1.0)
            raise ValueError("nan loss")
    assert w.result is not None and w.result.components["gpu"].energy_j == pytest.approx(200.0)


def test_manifest_is_json_and_says_where_numbers_come_from(measured):
    m, _, _ = measured
    manifest = json.loads(json.dumps(m.manifest()))
    assert manifest["sources"] == {"gpu": "measured:nvml-counter", "cpu": "measured:rapl", "ram": "none"}
    assert manifest["site"]["ewif_source"] == "derived:codecarbon-mix:USA"
    assert manifest["site"]["ewif_convention"] == "mix:hydro-excluded"
    assert {c["device"] for c in manifest["meters"]} == {"gpu0", "package-0"}
    assert manifest["idle_baseline"] is None


def test_window_before_start_is_a_bug():
    with pytest.raises(RuntimeError, match="start"):
        with Monitor(FootprintConfig()).window("train"):
            pass


def test_above_idle_is_floored_at_zero():
    m = Measurement("eval", wall_s=2.0, cpu_process_s=0.0)
    m.components["cpu"] = ComponentEnergy(10.0, "measured:rapl", idle_w=6.0)
    assert m.above_idle_j("cpu") == 0.0
    m.components["cpu"] = ComponentEnergy(20.0, "measured:rapl", idle_w=6.0)
    assert m.above_idle_j("cpu") == pytest.approx(8.0)
    assert m.above_idle_j("gpu") is None


def test_totals_are_sums_over_present_components():
    m = Measurement("eval", wall_s=2.0, cpu_process_s=0.0)
    assert m.energy_j is None and m.above_idle_j() is None  # nothing present: unknown, not 0
    m.components["cpu"] = ComponentEnergy(20.0, "measured:rapl", idle_w=6.0)
    m.components["ram"] = ComponentEnergy(10.0, "estimated:codecarbon-ram", idle_w=5.0)
    # no GPU: the totals are over CPU and RAM, and the above-idle total is not lost because the GPU is absent
    assert m.energy_j == pytest.approx(30.0)
    assert m.above_idle_j() == pytest.approx(8.0 + 0.0)
    assert m.provenance == "mixed"
    m.components["ram"] = ComponentEnergy(10.0, "estimated:codecarbon-ram")  # present without a baseline
    assert m.above_idle_j() is None


def test_absent_energy_gives_absent_carbon_and_water(measured):
    m, _, _ = measured
    empty = Measurement("w", wall_s=1.0, cpu_process_s=0.0)
    cols = m.columns(empty)
    assert {k: cols[k] for k in ("energy_kwh", "energy_facility_kwh", "co2e_g", "water_l", "energy_gpu_kwh")} == {
        "energy_kwh": None, "energy_facility_kwh": None, "co2e_g": None, "water_l": None, "energy_gpu_kwh": None}
    assert cols["energy_provenance"] == "none"


def test_site_footprint_is_one_conversion():
    from ecobench.footprint import SiteConfig, resolve_site

    site = resolve_site(SiteConfig(preset="us-average", ewif_l_per_kwh=3.14))
    f = site.footprint(2.0)
    assert f.facility_kwh == pytest.approx(2.0 * 1.17) and f.co2e_g == pytest.approx(2.0 * 1.17 * 369.473)
    assert f.water_onsite_l == pytest.approx(2.0 * 0.55) and f.water_offsite_l == pytest.approx(2.0 * 1.17 * 3.14)
    assert f.water_l == pytest.approx(f.water_onsite_l + f.water_offsite_l)
    assert site.ewif_convention == "given"
    assert site.footprint(None).co2e_g is None
