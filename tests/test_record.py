"""The cell record is one type for runner, store and results; its schema version is read back on load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecobench.errors import ResultsError
from ecobench.record import SCHEMA_VERSION, CellRecord, parse_record
from ecobench.store import read_cells

CELL = {"suite": "s", "key": "seed0/magnitude/layer/r0.5", "model": "m", "seed": 0, "method": "magnitude",
        "method_name": "magnitude", "scope": "layer", "ratio": 0.5, "multiplier": None}


def _v1_row() -> dict:
    """A schema-1 line as the first round wrote it: no GPU meter stored as 0.0 beside source 'none'."""
    phase = {"phase": "eval", "wall_s": 1.0, "energy_kwh": 3e-6, "energy_gpu_kwh": 0.0, "energy_cpu_kwh": 2e-6,
             "energy_ram_kwh": 1e-6, "energy_above_idle_kwh": None, "energy_gpu_above_idle_kwh": None,
             "energy_cpu_above_idle_kwh": 1e-6, "energy_ram_above_idle_kwh": 0.0, "source_gpu": "none",
             "source_cpu": "estimated:codecarbon-cpu-load", "source_ram": "estimated:codecarbon-ram"}
    return {"schema": 1, "key": CELL["key"], "cell": CELL, "status": "ok", "reason": None,
            "metrics": {"loss": 2.0}, "phases": [phase]}


def test_schema_1_loads_with_absent_components_made_absent() -> None:
    rec = parse_record(_v1_row(), "f:1")
    ph = rec.phases[0].model_dump()
    assert rec.schema_version == 2  # the form it was migrated to: no suite fingerprint (schema 3) to recover
    assert ph["energy_gpu_kwh"] is None and ph["energy_gpu_above_idle_kwh"] is None
    assert ph["energy_cpu_kwh"] == 2e-6  # measured components untouched
    assert ph["energy_above_idle_kwh"] == pytest.approx(1e-6)  # the sum over the present components


def test_a_newer_schema_is_refused_in_one_line(tmp_path: Path) -> None:
    p = tmp_path / "cells.jsonl"
    p.write_text(json.dumps({**_v1_row(), "schema": SCHEMA_VERSION + 1}) + "\n")
    with pytest.raises(ResultsError) as err:
        read_cells(p)
    msg = str(err.value)
    assert "\n" not in msg and f"{p}:1: written by a newer ecobench (results schema {SCHEMA_VERSION + 1})" in msg


@pytest.mark.parametrize("bad", [{"schema": "2"}, {"schema": 0}, {"cell": {**CELL, "seed": "zero"}}, {"status": "done"}])
def test_malformed_records_are_one_line_errors(bad: dict) -> None:
    with pytest.raises(ResultsError) as err:
        parse_record({**_v1_row(), "schema": SCHEMA_VERSION, **bad}, "cells.jsonl:7")
    assert str(err.value).startswith("cells.jsonl:7: ") and "\n" not in str(err.value)


def test_round_trip_keeps_extra_columns() -> None:
    rec = CellRecord(key=CELL["key"], cell=CELL, status="ok", metrics={"loss": 1.5},
                     phases=[{"phase": "eval", "wall_s": 2.0, "energy_kwh": None, "tokens_per_s": 10.0}])
    back = parse_record(json.loads(json.dumps(rec.to_json_dict())), "x")
    assert back == rec and back.phases[0].model_dump()["tokens_per_s"] == 10.0
