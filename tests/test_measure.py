"""The paired protocol: warm-up outside every window, then pruned and dense alternately (A/B/A/B), one row each."""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from ecobench.measure import Workload, measure_paired


class FakeMonitor:
    """Records window names and what ran inside them; each window 'measures' what its workload says it cost."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.open = False
        self.cost = 0.0

    @contextmanager
    def window(self, name: str):
        self.names.append(name)
        self.open, self.cost = True, 0.0
        w = SimpleNamespace(result=None)
        yield w
        self.open = False
        w.result = self.cost

    def columns(self, cost: float) -> dict:
        return {"wall_s": cost, "energy_kwh": cost * 1e-6, "cpu_process_s": cost, "energy_above_idle_kwh": None,
                "source_cpu": "estimated:test"}


def _workload(monitor: FakeMonitor, log: list, cost: dict) -> Workload:
    def run(model: str, _state: object) -> int:
        log.append((model, monitor.open))
        monitor.cost = cost[model].pop(0) if monitor.open else 0.0
        return 1000

    return Workload("decode", 1, run)


def test_warm_up_then_a_b_a_b() -> None:
    mon, log = FakeMonitor(), []
    cost = {"P": [1.0, 1.1, 0.9], "D": [2.0, 2.2, 1.8]}
    rows = measure_paired(mon, "seed0/m/layer/r0.5", "P", "D", [_workload(mon, log, cost)], repeats=3)
    assert log[0] == ("P", False)  # the warm-up, outside any window
    assert [m for m, inside in log[1:]] == ["P", "D", "P", "D", "P", "D"] and all(i for _, i in log[1:])
    assert mon.names == [f"seed0/m/layer/r0.5/decode-b1/{s}{i}" for i in range(3) for s in ("pruned", "dense")]
    (row,) = rows
    assert row["phase"] == "decode" and row["batch_size"] == 1 and row["repeats"] == 3
    assert row["wall_s_repeats"] == [1.0, 1.1, 0.9] and row["dense_wall_s_repeats"] == [2.0, 2.2, 1.8]
    assert row["wall_s"] == pytest.approx(1.0)  # the row's value: the pruned side's mean
    # every pair is exactly half: the ratio is 0.5 with a zero-width interval, a difference beyond noise
    assert row["energy_kwh_ratio"] == pytest.approx(0.5)
    assert row["energy_kwh_ratio_ci_high"] == pytest.approx(0.5) and row["energy_kwh_ratio_p"] == 0.0
    assert row["energy_kwh_per_1k_tokens_repeats"] == pytest.approx([1e-6, 1.1e-6, 0.9e-6])
    assert row["energy_above_idle_kwh"] is None and row["energy_kwh_ratio_ci_low"] is not None
    assert row["source_cpu"] == "estimated:test"


def test_a_missing_window_leaves_no_ratio() -> None:
    mon, log = FakeMonitor(), []
    wl = _workload(mon, log, {"P": [1.0, 1.0], "D": [1.0, 1.0]})
    mon_columns = mon.columns
    mon.columns = lambda c: {**mon_columns(c), "energy_kwh": None}  # an absent meter
    (row,) = measure_paired(mon, "k", "P", "D", [wl], repeats=2)
    assert row["energy_kwh"] is None and row["energy_kwh_ratio"] is None and row["wall_s_ratio"] == pytest.approx(1)
