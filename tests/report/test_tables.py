"""Aggregation: mean/std/count over seeds, deltas against the dense cell of the same seed, honest totals."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ecobench.record import SCHEMA_VERSION, parse_record
from ecobench.report.tables import CELL_PHASES, cell_table, compare_frame
from ecobench.results import load, load_cells, records_to_frame


def _rec(seed: int, method: str, ratio: float, loss: float, phases: dict[str, float], source: str = "measured:rapl"):
    cell = {"suite": "s", "key": f"seed{seed}/{method}/layer/r{ratio}", "model": "m", "seed": seed, "method": method,
            "method_name": method, "scope": "-" if method == "dense" else "layer", "ratio": ratio, "multiplier": None}
    return parse_record({"schema": SCHEMA_VERSION, "key": cell["key"], "cell": cell, "status": "ok", "metrics": {"loss": loss, "sparsity": ratio, "params_nonzero": 10,
                                                      "params_total": 20},
            "phases": [{"phase": p, "energy_kwh": e, "co2e_g": 2 * e, "water_l": 3 * e, "source_cpu": source}
                       for p, e in phases.items()]}, "test")


def test_mean_std_count_and_same_seed_deltas() -> None:
    # dense losses differ by seed, so a delta against a pooled dense mean would give another std
    recs = [
        _rec(0, "dense", 0.0, 2.0, {"train": 100.0, "eval": 1.0}),
        _rec(1, "dense", 0.0, 3.0, {"train": 200.0, "eval": 1.0}),
        _rec(0, "magnitude", 0.5, 2.5, {"score": 1.0, "prune": 1.0, "recover": 4.0, "eval": 1.0}),
        _rec(1, "magnitude", 0.5, 3.1, {"score": 1.0, "prune": 1.0, "recover": 6.0, "eval": 1.0}, "estimated:x"),
    ]
    agg = compare_frame(records_to_frame(recs, run="r"))
    row = agg[agg["method"] == "magnitude"].iloc[0]
    assert row["n_seeds"] == 2
    assert row["loss_mean"] == pytest.approx(2.8)
    assert row["loss_std"] == pytest.approx(pd.Series([2.5, 3.1]).std())
    assert row["loss_delta_mean"] == pytest.approx(0.3)  # (0.5 + 0.1) / 2
    assert row["loss_delta_std"] == pytest.approx(pd.Series([0.5, 0.1]).std())
    assert row["loss_delta_pct_mean"] == pytest.approx((25 + 100 * 0.1 / 3) / 2)
    # the cell's own phases only; the dense training of its seed is carried beside it, not summed in
    assert row["cell_energy_kwh"] == pytest.approx((7 + 9) / 2)
    assert row["train_energy_kwh"] == pytest.approx(150)
    assert row["pipeline_energy_kwh"] == pytest.approx((107 + 209) / 2)
    assert row["cell_co2e_g"] == pytest.approx(16) and row["cell_water_l"] == pytest.approx(24)
    assert bool(row["estimated"]) is True
    dense = agg[agg["method"] == "dense"].iloc[0]
    assert dense["loss_delta_mean"] == 0 and dense["cell_energy_kwh"] == pytest.approx(1.0)
    assert bool(dense["estimated"]) is False
    assert list(agg["method"]) == ["dense", "magnitude"]  # dense first


def test_failed_cells_are_counted_not_averaged() -> None:
    recs = [_rec(0, "dense", 0.0, 2.0, {"train": 1.0, "eval": 1.0}),
            _rec(0, "magnitude", 0.5, 2.5, {"eval": 1.0}),
            _rec(1, "magnitude", 0.5, math.nan, {}).model_copy(update={"status": "failed", "reason": "nan", "metrics": {}})]
    row = compare_frame(records_to_frame(recs, run="r")).query("method == 'magnitude'").iloc[0]
    assert row["n_seeds"] == 1 and row["n_failed"] == 1 and row["loss_mean"] == pytest.approx(2.5)


def test_real_run_one_row_per_group(smoke_run) -> None:
    rows = load(smoke_run)
    agg = compare_frame(rows)
    cells = load_cells(smoke_run)
    assert len(agg) == len(cells)  # one seed: one group per cell
    assert (agg["n_seeds"] == 1).all()
    assert agg.loc[agg["method"] == "dense", "loss_delta_mean"].eq(0).all()
    # a pruned cell's total is the sum of its own phase rows, as the runner wrote them
    key = cells.loc[cells["method"] != "dense", "key"].iloc[0]
    own = rows[(rows["key"] == key) & rows["phase"].isin(CELL_PHASES)]["energy_kwh"].sum()
    ct = cell_table(rows).set_index("key")
    assert ct.loc[key, "cell_energy_kwh"] == pytest.approx(own)
    dense_train = rows[(rows["method"] == "dense") & (rows["phase"] == "train")]["energy_kwh"].iloc[0]
    assert ct.loc[key, "train_energy_kwh"] == pytest.approx(dense_train)
    # `estimated` says whether any energy of the group came from a model rather than a meter: check it per group
    sources = rows.groupby("key")[["source_gpu", "source_cpu", "source_ram"]].agg(
        lambda c: any(str(v).startswith("estimated:") for v in c))
    by_key = sources.any(axis=1)
    for _, g in agg.iterrows():
        keys = cells[(cells["method"] == g["method"]) & (cells["scope"] == g["scope"])
                     & (cells["ratio"].fillna(-1) == (-1 if pd.isna(g["ratio"]) else g["ratio"]))]["key"]
        assert bool(g["estimated"]) == bool(by_key[keys].any()), g["method"]


@pytest.mark.slow  # a second real run (two seeds) besides the smoke run
def test_real_two_seed_run(seeds_run) -> None:
    agg = compare_frame(load(seeds_run))
    cells = load_cells(seeds_run)
    dense = cells[cells["method"] == "dense"].set_index("seed")["loss"]
    g = cells[(cells["method"] == "magnitude") & (cells["scope"] == "global")]
    row = agg[(agg["method"] == "magnitude") & (agg["scope"] == "global")].iloc[0]
    assert row["n_seeds"] == 2 and row["seeds"] == "1 2"
    assert row["loss_mean"] == pytest.approx(g["loss"].mean())
    assert row["loss_std"] == pytest.approx(g["loss"].std())
    deltas = g["loss"].to_numpy() - dense.loc[g["seed"]].to_numpy()
    assert row["loss_delta_mean"] == pytest.approx(deltas.mean())
