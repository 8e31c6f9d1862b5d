"""Embodied carbon (footprint/embodied.py): the archetype chosen, the amortisation by machine-time, hand-computed."""

from __future__ import annotations

import pytest

from ecobench.footprint.embodied import WATER_SOURCE, data, resolve_hardware

LIFETIME_S = 35040 * 3600  # Boavizta's server archetype: 4 years


def test_a_cpu_run_is_charged_its_cpu_seconds_share_of_a_medium_server():
    hw = resolve_hardware([])
    assert (hw.archetype, hw.kg, hw.kg_low, hw.kg_high) == ("platform_compute_medium", 900.0, 275.3, 3943.0)
    cols = hw.columns(wall_s=10.0, cpu_process_s=19.2)
    # 900 kg x 1000 g/kg x (19.2 CPU-s / 96 logical CPUs) / 4 years
    assert cols["embodied_co2e_g"] == pytest.approx(900e3 * 0.2 / LIFETIME_S)
    assert cols["embodied_co2e_g_low"] == pytest.approx(275.3e3 * 0.2 / LIFETIME_S)
    assert cols["embodied_co2e_g_high"] == pytest.approx(3943e3 * 0.2 / LIFETIME_S)
    assert cols["embodied_water_l"] is None and cols["embodied_water_source"] == WATER_SOURCE


def test_a_gpu_run_is_charged_an_eighth_of_an_eight_gpu_server_per_gpu_for_its_wall_time():
    hw = resolve_hardware(["NVIDIA H100 80GB HBM3"])
    assert hw.archetype == "platfom_gpucompute_veryhigh" and hw.source == "boavizta:platfom_gpucompute_veryhigh"
    cols = hw.columns(wall_s=3600.0, cpu_process_s=1.0)
    assert cols["embodied_co2e_g"] == pytest.approx(6800e3 * 3600 / 8 / LIFETIME_S)  # ~87 g per GPU-hour
    small = resolve_hardware(["NVIDIA GeForce RTX 3090", "NVIDIA GeForce RTX 3090"])
    assert small.archetype == "platfom_gpucompute_medium" and small.gpus_used == 2
    assert small.kg_high == data()["archetypes"]["platfom_gpucompute_veryhigh"]["kg_max"]  # unknown: widened
    assert resolve_hardware([]).columns(None, None)["embodied_co2e_g"] is None


def test_ecologits_cross_check_lies_inside_boaviztas_range():
    """EcoLogits' 8 x 80 GB server (5700 kg + 8 x 273 kg, its ecologits/impacts/llm.py) inside Boavizta's range."""
    a = data()["archetypes"]["platfom_gpucompute_veryhigh"]
    assert a["kg_min"] <= 5700 + 8 * 273 <= a["kg_max"]


def test_every_row_of_a_smoke_run_has_intervals_and_embodied_columns(smoke_run):
    from ecobench.store import CELLS, read_cells

    rows = [p.model_dump() for r in read_cells(smoke_run / CELLS) for p in r.phases]
    assert rows
    for p in rows:
        for q in ("co2e_g", "water_l"):
            assert p[f"{q}_low"] <= p[q] <= p[f"{q}_high"], (p["phase"], q)
            assert p[f"{q}_dominant"] in ("energy", "pue", "carbon_intensity", "wue", "ewif")
        assert p["embodied_co2e_g_low"] <= p["embodied_co2e_g"] <= p["embodied_co2e_g_high"]
        assert p["embodied_source"].startswith("boavizta:")
