"""The forecast's review (issue 22): the probe is counted once; each method's scoring is costed by its own work
(SparseGPT's solves, Wanda's calibration passes: not the magnitude mask's time); eval.domains, the per-cell dense
reloads and the noise floor are costed; a quiet machine's range is at most 3x wide (high / low), and the smoke
run's actual time falls inside it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from ecobench import run_parts
from ecobench.accounting import StartUp
from ecobench.config.load import suite_from_text
from ecobench.data.dataset import load_data
from ecobench.footprint import Monitor
from ecobench.forecast import calibrate, make_forecast
from ecobench.store import read_cells
from ecobench.sweep import expand
from tests.conftest import RUN_TIMEOUT_S, SUITES, run_cli

TEXT = """\
name: s
seeds: [0]
data: {corpus: shakespeare, tokenizer: byte, context: 16, max_chars: 20000}
model: {n_layer: 1, n_head: 2, n_embd: 16}
train: {steps: 5, batch_size: 2}
prune:
  methods: [{name: magnitude}, {name: wanda}, {name: sparsegpt}]
  ratios: [0, 0.5]
  recover_steps: 2
  calibration: {batches: 2, batch_size: 2}
eval: {batches: 2, batch_size: 2, inference_tokens: 0, domains: [python-stdlib], domain_batches: 1}
footprint: {idle_seconds: 0, gpu: none, cpu: none, ram: none, noise_windows: 4}
"""


@pytest.fixture(scope="module")
def probed():
    suite = suite_from_text(TEXT).suite
    data = load_data(suite.data, suite.model)
    monitor = Monitor(suite.footprint, device="cpu")
    monitor.start(measure_idle=False)
    try:
        cal, m = calibrate(suite, data, monitor)
    finally:
        monitor.close()
    return suite, data, cal, m, monitor.site


def _forecast(probed, cal=None, startup_s: float = 5.0, known: bool = True):
    suite, data, cal0, m, site = probed
    cal = cal or cal0
    cells = expand(suite)
    return make_forecast(suite, data, cal, m, site, cells, list(suite.seeds),
                         StartUp(wall_s=cal.probe_s + startup_s, cpu_s=1.0), known)


def test_the_probe_is_counted_once(probed) -> None:
    """`startup` is taken after the probe, so it holds it: the parts add up to the point, the probe among them once."""
    fc = _forecast(probed)
    assert fc.parts_s["start-up so far"] == pytest.approx(5.0)
    assert fc.parts_s["calibration probe"] == pytest.approx(probed[2].probe_s)
    assert sum(fc.parts_s.values()) == pytest.approx(fc.wall_s["point"])


def test_each_method_scoring_is_costed_by_its_own_work(probed) -> None:
    suite, _, cal, _, _ = probed
    assert set(cal.score_s) == {"magnitude", "wanda", "sparsegpt"}
    assert cal.score_s["magnitude"] == cal.mask_s
    assert cal.score_s["sparsegpt"] > cal.mask_s  # its calibration passes and per-layer solves, timed
    pruned = [c for c in expand(suite) if not c.is_dense and not c.is_control]
    fc = _forecast(probed)
    assert fc.parts_s["score and prune"] == pytest.approx(sum(cal.score_s[c.method] for c in pruned))


def test_domains_reloads_and_noise_floor_are_costed(probed) -> None:
    suite, _, cal, _, _ = probed
    cells = expand(suite)
    fc = _forecast(probed)
    assert cal.reload_s > 0
    assert fc.parts_s["cell set-up (data, models)"] == pytest.approx(
        len(cells) * (cal.data_s + 2 * (cal.build_s + cal.reload_s)))
    assert fc.parts_s["evaluation on eval.domains"] == pytest.approx(len(cells) * 1 * 1 * cal.eval_batch_s)
    assert fc.parts_s["noise floor"] == pytest.approx(5 * cal.eval_batch_s)


@pytest.mark.parametrize("known", [True, False], ids=["run", "validate"])
def test_a_quiet_probe_gives_a_range_at_most_3x_wide(probed, known: bool) -> None:
    """On a quiet machine (steps within 10 % of each other, the CPU all the probe's) the range is at most 3x wide."""
    cal = dataclasses.replace(probed[2], step_s=[0.100, 0.104, 0.097, 0.108, 0.101, 0.099], cpu_share=1.0)
    w = _forecast(probed, cal, known=known).wall_s
    assert w["low"] <= w["point"] <= w["high"]
    assert w["high"] / w["low"] <= 3


@pytest.fixture(scope="module")
def alone_smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke suite (one scope: 8 cells, ~19 s) run afresh for the forecast checks: `make test` runs them alone,
    after the parallel tests, so this run has the machine to itself (the shared smoke_run is made while the other
    worker is busy, and a forecast judged on it would always be skipped)."""
    out = tmp_path_factory.mktemp("alone") / "smoke"
    proc = run_cli("run", str(SUITES / "smoke.yaml"), "--out", str(out), "-q", "--set", "prune.scope=layer",
                   timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.slow
@pytest.mark.alone
def test_the_smoke_run_lands_inside_its_forecast_range(alone_smoke_run: Path) -> None:
    """Energy and wall time of the whole run (run_footprint) inside the forecast's ranges."""
    run = json.loads((alone_smoke_run / "manifest.json").read_text())["run_footprint"]
    fc = run["forecast"]
    assert fc is not None
    _skip_if_contended(alone_smoke_run, fc["wall_s"], run["totals"]["wall_s"])
    energy, wall = run["totals"]["energy_kwh"], run["totals"]["wall_s"]
    assert fc["energy_kwh"]["low"] <= energy <= fc["energy_kwh"]["high"], (energy, fc)
    assert fc["wall_s"]["low"] <= wall <= fc["wall_s"]["high"], (wall, fc)


def _skip_if_contended(run: Path, wall: dict, actual: float) -> None:
    """Load that arrives after the probe (a neighbour, another build) is in the run's own windows: then the forecast,
    a promise about the machine as probed, is not being judged."""
    contended = run_parts.contended(read_cells(run / "cells.jsonl"))[0]  # counted as the run total counts them
    if contended:
        pytest.skip(f"others used the machine in {contended} measured window(s) of the run: forecast "
                    f"{wall['low']:.0f}-{wall['high']:.0f} s, actual {actual:.0f} s")


@pytest.mark.slow
@pytest.mark.alone
def test_the_smoke_forecast_holds_on_a_quiet_machine(alone_smoke_run: Path) -> None:
    """The smoke run's own forecast (made by its probe, before any cell) against the run's measured wall time. On a
    machine shared with other load the probe says so (its CPU share) and the range is not a claim about a quiet one:
    skipped then, with the numbers."""
    m = json.loads((alone_smoke_run / "manifest.json").read_text())
    session = m["sessions"][-1]["footprint"]
    fc = session["forecast"]
    wall, share = fc["wall_s"], fc["calibration"]["cpu_share"]
    actual = session["wall_s"]
    if share < 0.8:
        pytest.skip(f"a loaded machine (the probe got {share:.0%} of the CPU it asked for): forecast "
                    f"{wall['low']:.0f}-{wall['high']:.0f} s, actual {actual:.0f} s")
    _skip_if_contended(alone_smoke_run, wall, actual)
    assert wall["high"] / wall["low"] <= 3
    assert wall["low"] <= actual <= wall["high"]
