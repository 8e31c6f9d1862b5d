"""Absent energy stays absent in tables and figures; the energy basis and the water convention are chosen and said."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ecobench.errors import ResultsError
from ecobench.record import SCHEMA_VERSION, CellRecord, parse_record
from ecobench.report.formats import build_columns, render
from ecobench.report.runs import load_runs
from ecobench.report.tables import compare_frame
from ecobench.report.units import fmt, pick_unit
from ecobench.results import records_to_frame
from tests.report.conftest import copy_run


def _phase(p: str, e: float | None, above: float | None = None, sources: dict | None = None) -> dict:
    return {"phase": p, "energy_kwh": e, "co2e_g": None if e is None else 2 * e,
            "water_l": None if e is None else 3 * e, "energy_above_idle_kwh": above,
            "co2e_above_idle_g": None if above is None else 2 * above,
            "water_above_idle_l": None if above is None else 3 * above, "tokens": 1000,
            "ewif_convention": "mix:hydro-excluded",
            **(sources or {"source_cpu": "measured:rapl", "source_gpu": "none", "source_ram": "none"})}


def _rec(seed: int, method: str, ratio: float, phases: list[dict]) -> CellRecord:
    cell = {"suite": "s", "key": f"seed{seed}/{method}/r{ratio}", "model": "m", "seed": seed, "method": method,
            "method_name": method, "scope": "-" if method == "dense" else "layer", "ratio": ratio, "multiplier": None}
    return parse_record({"schema": SCHEMA_VERSION, "key": cell["key"], "cell": cell, "status": "ok", "phases": phases,
                         "metrics": {"loss": 2.0 + ratio, "sparsity": ratio, "params_nonzero": 10, "params_total": 20}},
                        "test")


def test_an_unknown_phase_energy_makes_the_cell_total_unknown_not_smaller() -> None:
    recs = [_rec(0, "dense", 0.0, [_phase("train", 10.0), _phase("eval", 1.0)]),
            _rec(0, "magnitude", 0.5, [_phase("score", 1.0), _phase("recover", None), _phase("eval", 1.0)])]
    agg = compare_frame(records_to_frame(recs, run="r"))
    row = agg[agg["method"] == "magnitude"].iloc[0]
    assert math.isnan(row["recover_energy_kwh"]) and math.isnan(row["cell_energy_kwh"])  # not 2.0
    assert row["score_energy_kwh"] == pytest.approx(1.0)
    assert agg[agg["method"] == "dense"].iloc[0]["cell_energy_kwh"] == pytest.approx(1.0)  # phases not run: fine
    table = render(agg, "table", view="full")  # the per-phase columns
    line = next(x for x in table.splitlines() if x.startswith("magnitude"))
    assert "–" in line


def test_a_seed_without_a_value_makes_the_mean_unknown() -> None:
    recs = [_rec(0, "dense", 0.0, [_phase("eval", 1.0)]), _rec(1, "dense", 0.0, [_phase("eval", None)])]
    agg = compare_frame(records_to_frame(recs, run="r"))
    assert agg.iloc[0]["n_seeds"] == 2 and math.isnan(agg.iloc[0]["cell_energy_kwh"])


def test_above_idle_basis_is_chosen_and_labelled() -> None:
    recs = [_rec(0, "dense", 0.0, [_phase("train", 10.0, 4.0), _phase("eval", 1.0, 0.25)])]
    gross = compare_frame(records_to_frame(recs, run="r"))
    above = compare_frame(records_to_frame(recs, run="r"), energy="above-idle")
    assert gross.iloc[0]["cell_energy_kwh"] == pytest.approx(1.0)
    assert above.iloc[0]["cell_energy_kwh"] == pytest.approx(0.25)
    assert above.iloc[0]["cell_co2e_g"] == pytest.approx(0.5)
    assert above.iloc[0]["inference_kwh_per_1k_tokens"] != above.iloc[0]["inference_kwh_per_1k_tokens"]  # no row
    heads = [c.header for c in build_columns(above, view="full")]
    assert "cell energy (kWh, above idle)" in heads and "train (kWh, above idle, shared)" in heads
    assert "energy: above idle" in render(above, "markdown")
    assert "energy: gross" in render(gross, "markdown")
    assert "above-idle" in render(above, "csv").splitlines()[1]


def test_energy_source_says_none_when_nothing_was_metered() -> None:
    none = {"source_cpu": "none", "source_gpu": "none", "source_ram": "none"}
    recs = [_rec(0, "dense", 0.0, [_phase("eval", None, sources=none)])]
    agg = compare_frame(records_to_frame(recs, run="r"))
    col = next(c for c in build_columns(agg, view="full") if c.header == "energy source")
    assert col.text(agg.iloc[0]) == "none"  # not "measured"


def test_one_unit_scaler() -> None:
    assert pick_unit(pd.Series([0.0004, math.nan]), "energy_kwh") == ("mWh", 1e6)
    assert pick_unit(pd.Series([math.nan]), "water_l") == ("L", 1.0)  # nothing known: base unit
    assert pick_unit([2e-7], "co2e_g") == ("µgCO2e", 1e6)
    assert fmt(math.nan) == fmt(None) == "–" and fmt(0.0) == "0"


def test_runs_with_different_water_conventions_are_refused(smoke_run, tmp_path) -> None:
    def include(r: dict) -> None:
        for p in r.get("phases") or []:
            p["ewif_convention"] = "mix:hydro-included"

    other = copy_run(smoke_run, tmp_path / "other", cell_edit=include)
    with pytest.raises(ResultsError, match=r"different water \(EWIF\) conventions .*--force") as err:
        load_runs([smoke_run, other])
    assert "\n" not in str(err.value)
    forced = load_runs([smoke_run, other], force=True)
    agg = compare_frame(forced.rows, forced.names)
    assert set(agg["water_convention"]) == {"mix:hydro-excluded", "mix:hydro-included"}
