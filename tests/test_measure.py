"""The paired protocol v2: both sides warmed outside every window, pairs in ABBA order, windows as long as the meters
need, short windows labelled, contended windows flagged, retried or stopped. A real Monitor on a fake clock."""

from __future__ import annotations

import math

import pytest

from ecobench.config.footprint import FootprintConfig
from ecobench.errors import MeasurementStopped
from ecobench.footprint import Monitor
from ecobench.footprint.contention import ContentionTracker
from ecobench.footprint.meters.base import SHORT_WINDOW, Channel
from ecobench.measure import Workload, measure_paired, paired_row
from tests.footprint.conftest import FakeClock


class Watts(Channel):
    """A component drawing constant power on the fake clock."""

    component, device, source = "cpu", "cpu", "estimated:test"

    def __init__(self, clock: FakeClock, watts: float = 10.0, resolution_s: float = 1e-6, read_cost_s: float = 0.0):
        super().__init__(clock)
        self.watts, self.resolution_s, self.read_cost_s = watts, resolution_s, read_cost_s
        self._t = 0.0

    def _first_reading(self) -> None:
        self._t = self.clock()

    def _energy_since_last_j(self) -> float:
        self.clock.advance(self.read_cost_s)  # reading the meter takes time (a process-tree walk)
        now = self.clock()
        energy, self._t = self.watts * (now - self._t), now
        return energy


class Load:
    """Machine and process-tree CPU seconds: the tree uses what the test says, others what `busy` says."""

    def __init__(self, clock: FakeClock, cpus: int = 2):
        self.clock, self.cpus = clock, cpus
        self.busy = 0.0  # share of the machine others use from now on
        self.machine = self.tree = 0.0
        self._t = clock()

    def __call__(self) -> tuple[float, float]:
        now = self.clock()
        self.machine += self.busy * self.cpus * (now - self._t)
        self._t = now
        return self.machine, self.tree


def monitor(clock: FakeClock, channel: Channel | None = None, load: Load | None = None, **cfg) -> Monitor:
    config = FootprintConfig.model_validate({"idle_seconds": 0, "gpu": "none", "cpu": "none", "ram": "none", **cfg})
    load = load or Load(clock)
    mon = Monitor(config, clock=clock, sleep=clock.advance,
                  contention=ContentionTracker(load, cpus=load.cpus, span_s=0.2))
    mon.start()
    if channel is not None:
        channel.start()
        mon._meters.cpu = [channel]  # a meter of a known resolution, in place of the probe's
    return mon


def workload(clock: FakeClock, seconds: dict[str, float], log: list, first_extra: float = 0.0,
             switch_extra: float = 0.0) -> Workload:
    """Each run advances the clock by its model's seconds; a model's first call costs `first_extra` more (cold
    caches), a call right after the other model's costs `switch_extra` more (the side that runs second pays)."""
    seen: set[str] = set()

    def run(model: str, _state: object) -> int:
        cost = seconds[model]
        if model not in seen:
            cost *= 1 + first_extra
        if log and log[-1] != model:
            cost *= 1 + switch_extra
        seen.add(model)
        log.append(model)
        clock.advance(cost)
        return 100

    return Workload("decode", 1, run)


def test_each_window_lasts_at_least_min_window_s() -> None:
    clock, log = FakeClock(), []
    mon = monitor(clock, min_window_s=2.0)
    (row,) = measure_paired(mon, "k", "P", "D", [workload(clock, {"P": 0.3, "D": 0.3}, log)], repeats=2)
    assert row["inner_runs"] == 8  # ceil(2 s x 1.2 / 0.3 s)
    assert min(row["wall_s_repeats"] + row["dense_wall_s_repeats"]) >= 2.0
    assert row["tokens"] == 800 and row["tokens_per_s"] == pytest.approx(800 / 2.4)  # reported per token


def test_min_window_s_comes_from_the_coarsest_meter_resolution() -> None:
    clock = FakeClock()
    mon = monitor(clock, Watts(clock, resolution_s=0.01))  # a 10 ms meter: windows of 1 s
    assert mon.min_window_s == pytest.approx(1.0)
    assert mon.manifest()["meters"][0]["resolution_s"] == 0.01
    assert mon.manifest()["min_window"]["seconds"] == pytest.approx(1.0)
    (row,) = measure_paired(mon, "k", "P", "D", [workload(clock, {"P": 0.005, "D": 0.005}, [])], repeats=2)
    assert min(row["wall_s_repeats"] + row["dense_wall_s_repeats"]) >= 1.0
    assert row["source_cpu"] == "estimated:test" and row["energy_kwh_ratio"] == pytest.approx(1.0)


def test_a_fine_meter_still_gets_windows_longer_than_scheduler_quanta() -> None:
    """A ns clock resolves a 5 ms window, but one timer tick or interrupt is then a 20-80% error: CPU windows last
    at least 50 ms (a 5 ms workload runs 12 times per window), and the manifest says why."""
    from ecobench.footprint.probe import CPU_MIN_WINDOW_S

    clock = FakeClock()
    mon = monitor(clock, Watts(clock, resolution_s=1e-6))
    assert mon.min_window_s == CPU_MIN_WINDOW_S == 0.05
    assert "scheduler quanta" in mon.manifest()["min_window"]["why"]
    (row,) = measure_paired(mon, "k", "P", "D", [workload(clock, {"P": 0.005, "D": 0.005}, [])], repeats=2)
    assert row["inner_runs"] == 12 and min(row["wall_s_repeats"] + row["dense_wall_s_repeats"]) >= 0.05


def test_a_window_shorter_than_its_meter_is_labelled_and_gives_no_energy_ratio() -> None:
    clock = FakeClock()
    mon = monitor(clock, Watts(clock, resolution_s=0.01))
    with mon.window("short") as w:
        clock.advance(0.05)  # 50 ms < the 1 s a 10 ms meter needs
    cols = mon.columns(w.result)
    assert cols["source_cpu"] == SHORT_WINDOW and cols["energy_cpu_kwh"] is not None
    assert "0.05 s < the 1 s" in cols["reason_cpu"] and w.result.provenance == "unreliable"
    ok = {**cols, "source_cpu": "estimated:test", "tokens": 1}
    wl = Workload("prefill", 1, lambda m, s: 1)
    row = paired_row(wl, [ok, ok], [cols, ok])
    assert row["source_cpu"] == SHORT_WINDOW and row["short_windows"] == 1
    assert row["energy_kwh_ratio"] is None and row["energy_kwh_per_1k_tokens_ratio"] is None
    assert row["wall_s_ratio"] == pytest.approx(1.0)  # the clock resolves it: time ratios stay


def test_the_window_edges_leave_the_meters_reading_time_outside() -> None:
    clock = FakeClock()
    mon = monitor(clock, Watts(clock, read_cost_s=0.001))
    with mon.window("empty") as w:
        pass
    assert w.result.wall_s == 0.0  # reading the meters took 2 ms, none of it inside the window
    with mon.window("work") as w:
        clock.advance(0.5)
    assert w.result.wall_s == pytest.approx(0.5)


@pytest.mark.parametrize("order_seed", [0, 1])
def test_identical_models_with_a_slower_first_call_and_a_second_side_penalty_come_out_equal(order_seed: int) -> None:
    clock, log = FakeClock(), []
    mon = monitor(clock)
    wl = workload(clock, {"P": 1.0, "D": 1.0}, log, first_extra=0.3, switch_extra=0.05)
    (row,) = measure_paired(mon, "k", "P", "D", [wl], repeats=2, order_seed=order_seed)
    assert log[:2] == (["D", "P"] if order_seed == 0 else ["P", "D"])  # both warmed, outside the windows
    assert row["wall_s_ratio"] == pytest.approx(1.0)  # no side systematically first, none cold
    measured = log[-4:]
    assert measured in (["P", "D", "D", "P"], ["D", "P", "P", "D"])  # ABBA
    assert row["order"] == ("ABBA from pruned" if order_seed == 0 else "ABBA from dense")


def test_pairs_keep_the_ratio_of_unequal_models_and_name_their_windows() -> None:
    clock, log = FakeClock(), []
    mon = monitor(clock)
    (row,) = measure_paired(mon, "seed0/m", "P", "D", [workload(clock, {"P": 0.5, "D": 1.0}, log)], repeats=3)
    assert row["repeats"] == 3 and row["wall_s_ratio"] == pytest.approx(0.5)
    assert row["wall_s_ratio_ci_high"] == pytest.approx(0.5) and row["wall_s_ratio_p"] == 0.0
    assert row["contended_windows"] == 0 and row["contended_repeats"] == [False] * 3


def _busy_after(clock: FakeClock, load: Load, windows: int):
    """Others take 80% of the machine once `windows` window edges have passed, for 10 s of the fake clock."""
    calls = {"n": 0, "until": None}
    read = load.__call__

    def reading() -> tuple[float, float]:
        calls["n"] += 1
        if calls["n"] == 2 * windows + 1:
            load.busy, calls["until"] = 0.8, clock() + 10.0
        if calls["until"] is not None and clock() >= calls["until"]:
            load.busy = 0.0
        return read()

    return reading


def test_contended_windows_are_flagged_per_window_and_counted() -> None:
    clock = FakeClock()
    load = Load(clock)
    mon = monitor(clock, load=load)
    mon.contention._read = _busy_after(clock, load, windows=4)  # the warm-up reads nothing; pair 0 quiet
    (row,) = measure_paired(mon, "k", "P", "D", [workload(clock, {"P": 0.3, "D": 0.3}, [])], repeats=4)
    assert row["contended_windows"] >= 2 and row["contended"] is True
    assert row["contended_repeats"][0] is False and row["dense_contended_repeats"][0] is False
    assert row["contention_retries"] == 0  # flag: measured on, not retried


def test_retry_re_measures_a_contended_pair_after_backing_off() -> None:
    clock = FakeClock()
    load = Load(clock)
    mon = monitor(clock, load=load, on_contention="retry", quiet={"backoff_s": 4.0, "retries": 3})
    mon.contention._read = _busy_after(clock, load, windows=2)
    (row,) = measure_paired(mon, "k", "P", "D", [workload(clock, {"P": 0.3, "D": 0.3}, [])], repeats=3)
    assert row["contention_retries"] >= 1
    assert row["contended_windows"] == 0  # the busy spell passed during the back-off: every kept pair is quiet


def test_retry_is_bounded_and_keeps_the_last_pair_flagged() -> None:
    clock = FakeClock()
    load = Load(clock)
    load.busy = 0.9
    mon = monitor(clock, load=load, on_contention="retry", quiet={"backoff_s": 0.1, "retries": 2})
    (row,) = measure_paired(mon, "k", "P", "D", [workload(clock, {"P": 0.3, "D": 0.3}, [])], repeats=2)
    assert row["contention_retries"] == 4 and row["contended_windows"] == 4  # 2 tries per pair, then flagged
    assert row["other_cpu_share"] == pytest.approx(0.9)


def test_stop_ends_the_measurement_with_a_resumable_error() -> None:
    clock = FakeClock()
    load = Load(clock)
    load.busy = 0.5
    mon = monitor(clock, load=load, on_contention="stop")
    with pytest.raises(MeasurementStopped, match="re-run the same command to resume"):
        measure_paired(mon, "k", "P", "D", [workload(clock, {"P": 0.3, "D": 0.3}, [])], repeats=2)


def test_a_missing_window_leaves_no_ratio() -> None:
    wl = Workload("decode", 1, lambda m, s: 1)
    win = {"wall_s": 1.0, "energy_kwh": None, "cpu_process_s": 1.0, "energy_above_idle_kwh": None, "tokens": 1,
           "tokens_per_s": 1.0, "energy_kwh_per_1k_tokens": None}
    row = paired_row(wl, [win, win], [win, win])
    assert row["energy_kwh"] is None and row["energy_kwh_ratio"] is None and row["wall_s_ratio"] == pytest.approx(1)
    assert not math.isnan(row["wall_s"])


def test_a_workload_that_consumes_its_state_gets_a_fresh_one_per_run_made_outside_the_window() -> None:
    clock = FakeClock()
    mon = monitor(clock, min_window_s=1.0)
    made, used = [], []

    def setup(model: str) -> object:
        clock.advance(5.0)  # a prefill: outside every window, so it must not lengthen one
        made.append(object())
        return made[-1]

    def run(model: str, state: object) -> int:
        assert state not in used  # a decode extends its KV cache: never decoded from twice
        used.append(state)
        clock.advance(0.25)
        return 10

    (row,) = measure_paired(mon, "k", "P", "D", [Workload("decode", 1, run, setup, fresh_state=True)], repeats=2)
    assert row["inner_runs"] == 5 and row["wall_s_repeats"] == [pytest.approx(1.25)] * 2


def _suite(**footprint):
    from pathlib import Path

    from ecobench.config.load import load_suite

    sets = [f"footprint.{k}={v}" for k, v in footprint.items()]
    return load_suite(Path(__file__).resolve().parents[1] / "suites" / "llm.yaml", sets).suite


def test_detect_chooses_the_repeats_from_the_noise_floor_and_a_resume_keeps_them() -> None:
    from ecobench.footprint import stats
    from ecobench.measure import family_size, paired_repeats, pooled_df

    assert paired_repeats(_suite(), 0.02, 36) == {"repeats": 2, "why": "footprint.repeats"}
    suite = _suite(detect=0.9)
    tests = family_size(suite, 36)
    assert tests == 18 * 5  # eval + prefill and decode at 2 batch sizes, per table row (36 cells over 2 seeds)
    # one pruned row (5 tests, df 1): the seed means' variance has nothing to pool over
    quiet, noisy = paired_repeats(suite, 0.005, 1), paired_repeats(suite, 0.01, 1)
    assert quiet["repeats"] == stats.repeats_for(0.9, math.log1p(0.005), 2, 5) == 5
    assert quiet["repeats"] < noisy["repeats"] == 19  # more noise: more pairs for the same detectable ratio
    assert "footprint.detect 0.9" in noisy["why"]
    kept = paired_repeats(suite, 0.5, 1, earlier=noisy)  # a resumed session measured another floor: same choice
    assert kept["repeats"] == noisy["repeats"] and "kept on resume" in kept["why"]
    unreachable = paired_repeats(suite, 0.1, 1)
    assert unreachable["repeats"] == 50 and "not reachable" in unreachable["why"]
    # llm.yaml's 78 pruned cells: 39 rows, the seed variance pooled over 13 rows of a structure (df 13), so 2
    # repeats reach 0.9 at a 2% pair CV, where df 1 would need 75
    assert pooled_df(suite, 78) == 13 and paired_repeats(suite, 0.02, 78)["repeats"] == 2
    assert paired_repeats(suite, 0.02, 1)["repeats"] == 75


def test_threads_follow_the_cpus_this_process_may_use(monkeypatch) -> None:
    import torch

    from ecobench import measure

    before = torch.get_num_threads()
    try:
        assert measure.set_threads(3) == {"threads": 3, "why": "train.threads"} and torch.get_num_threads() == 3
        torch.set_num_threads(16)  # torch's default on a big host
        monkeypatch.setattr(measure.cputime, "usable_cpus", lambda: (2, "cgroup CPU quota 2"))
        monkeypatch.setattr(measure.cputime, "machine_cpus", lambda: 64)
        chosen = measure.set_threads(None)
        assert chosen["threads"] == 2 == torch.get_num_threads() and "quota" in chosen["why"]
        monkeypatch.setattr(measure.cputime, "usable_cpus", lambda: (64, "affinity"))
        assert measure.set_threads(None)["threads"] == 2  # every CPU usable: torch's choice stands
    finally:
        torch.set_num_threads(before)


def test_the_run_summary_counts_contended_windows() -> None:
    import pandas as pd

    from ecobench.footprint.contention import contention_line

    rows = pd.DataFrame([{"phase": "train", "contended_windows": None, "repeats": None},
                         {"phase": "eval", "contended_windows": 3, "repeats": 2},
                         {"phase": "decode", "contended_windows": 0, "repeats": 2}])
    assert contention_line(rows, "flag") == ("contended windows (others used the machine): 3 of 8 paired windows, "
                                             "flagged in their rows")
    assert "not recorded" in contention_line(pd.DataFrame([{"phase": "eval"}]), "flag")
