"""The whole run, accounted: the start-up rule, sums over sessions, a budget stop and its resume, the forecast."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ecobench.accounting import StartUp, run_total, session_footprint, share_line, startup_energy_j
from ecobench.config.footprint import SiteConfig
from ecobench.config.load import load_suite
from ecobench.footprint.measurement import ComponentEnergy, Measurement, absent
from ecobench.footprint.site import resolve_site
from ecobench.record import CellInfo, CellRecord, PhaseRow
from tests.conftest import SUITES

SITE = resolve_site(SiteConfig(preset="us-average"))


def _m(wall: float, cpu_s: float, cpu_j: float | None, ram_j: float | None, attribution: str = "process") -> Measurement:
    m = Measurement("run", wall, cpu_s)
    m.components["gpu"] = absent("no GPU")
    m.components["cpu"] = absent("off") if cpu_j is None else ComponentEnergy(cpu_j, "estimated:x", attribution=attribution)
    m.components["ram"] = absent("off") if ram_j is None else ComponentEnergy(ram_j, "estimated:ram")
    return m


def test_startup_is_charged_per_cpu_second_for_process_attribution_else_per_wall_second() -> None:
    up = StartUp(wall_s=2.0, cpu_s=1.0)
    e = startup_energy_j(_m(wall=10.0, cpu_s=5.0, cpu_j=40.0, ram_j=100.0), up)
    assert e["cpu"] == pytest.approx(40.0 / 5.0 * 1.0)  # 8 J per CPU-second of this process
    assert e["ram"] == pytest.approx(100.0 / 10.0 * 2.0)  # 10 W over 2 s
    assert e["gpu"] is None  # absent stays absent
    machine = startup_energy_j(_m(10.0, 5.0, 40.0, 100.0, attribution="machine"), up)
    assert machine["cpu"] == pytest.approx(40.0 / 10.0 * 2.0)


def _record(key: str, *energies: float | None) -> CellRecord:
    info = CellInfo(suite="s", key=key, model="m", seed=0, method="magnitude", method_name="magnitude", scope="layer",
                    ratio=0.5, multiplier=None, method_options="")
    phases = [PhaseRow(phase="eval", wall_s=1.0, energy_kwh=e) for e in energies]
    return CellRecord(key=key, cell=info, status="ok", metrics={}, phases=phases)


def test_sessions_sum_and_phases_plus_rest_is_the_total() -> None:
    s1 = session_footprint(_m(10.0, 5.0, 36.0, 72.0), StartUp(1.0, 0.5), SITE, "budget")
    s2 = session_footprint(_m(20.0, 8.0, 72.0, 144.0), StartUp(2.0, 1.0), SITE, "complete")
    manifest = {"sessions": [{"footprint": s1}, {"footprint": s2}]}
    t = run_total(manifest, [_record("a", 1e-6, 2e-6), _record("b", 3e-6, None)])
    assert t.complete and t.accounted == 2
    assert t.energy_kwh == pytest.approx(s1["energy_kwh"] + s2["energy_kwh"])
    assert t.totals["wall_s"] == pytest.approx(10 + 1 + 20 + 2)
    assert t.totals["co2e_g"] == pytest.approx(t.energy_kwh * SITE.pue * SITE.carbon_intensity_g_per_kwh)
    assert t.phases_kwh == pytest.approx(6e-6) and t.phase_rows_without_energy == 1
    assert math.isclose(t.phases_kwh + t.rest_kwh, t.energy_kwh, rel_tol=1e-12)
    assert t.totals["energy_gpu_kwh"] is None  # absent in every session: unknown, not 0
    assert "phases: " in share_line(t) and "% of the run's energy" in share_line(t)


def test_a_component_missing_in_one_session_is_unknown_and_an_unaccounted_session_hides_the_share() -> None:
    s1 = session_footprint(_m(10.0, 5.0, 36.0, 72.0), StartUp(1.0, 0.5), SITE, "complete")
    s2 = session_footprint(_m(10.0, 5.0, None, 72.0), StartUp(1.0, 0.5), SITE, "complete")
    t = run_total({"sessions": [{"footprint": s1}, {"footprint": s2}]}, [])
    assert t.totals["energy_cpu_kwh"] is None and t.totals["energy_ram_kwh"] is not None
    killed = run_total({"sessions": [{"footprint": s1}, {"command": ["ecobench", "run"]}]}, [_record("a", 1e-9)])
    assert not killed.complete and killed.phase_share is None
    assert "1 of 2 sessions accounted" in share_line(killed)


@pytest.mark.slow  # two real sweeps (~2.6 s)
def test_budget_stops_between_cells_then_the_run_resumes_and_sessions_add_up(tmp_path: Path, monkeypatch) -> None:
    """A measured total past the budget stops cleanly (exit 3, resumable); raising the budget resumes the same
    folder (the budget is not part of the suite's identity), and the run total is the sum of both sessions."""
    from ecobench import runner

    small = ["train.threads=1", "train.steps=20", "prune.methods=[{name: magnitude}]", "prune.ratios=[0.5]",
             "prune.scope=layer", "eval.inference_tokens=0"]
    monkeypatch.setattr(runner, "budget_problem", lambda *a, **k: None)  # let it start: the stop is under test
    out = tmp_path / "run"
    tight = load_suite(SUITES / "smoke.yaml", [*small, "footprint.budget.kwh=1e-12"])
    assert runner.run_suite(tight, out, ["test"], progress=False) == runner.BUDGET_EXIT
    assert not (out / "cells.jsonl").exists() or (out / "cells.jsonl").read_text() == ""
    first = json.loads((out / "manifest.json").read_text())["sessions"][0]["footprint"]
    assert first["ended"] == "budget" and first["energy_kwh"] > 0
    monkeypatch.undo()
    loose = load_suite(SUITES / "smoke.yaml", [*small, "footprint.budget.kwh=1"])
    assert runner.run_suite(loose, out, ["test"], progress=False) == 0
    m = json.loads((out / "manifest.json").read_text())
    s1, s2 = (s["footprint"] for s in m["sessions"])
    assert s2["ended"] == "complete" and s2["forecast"]["cells"] == 3  # dense, its dense+recover control, magnitude
    total = m["run_footprint"]
    assert total["sessions"] == 2 and total["complete"]
    assert total["totals"]["energy_kwh"] == pytest.approx(s1["energy_kwh"] + s2["energy_kwh"], rel=1e-12)
    assert total["totals"]["wall_s"] == pytest.approx(s1["wall_s"] + s2["wall_s"], rel=1e-12)
    assert math.isclose(total["phases_kwh"] + total["rest_kwh"], total["totals"]["energy_kwh"], rel_tol=1e-12)
    assert 0 < total["phase_share"] < 1  # phases nest inside the run window: never more than the run
