"""Report fixtures: a second real run (two seeds, fewer ratios) and helpers to make edited copies of a run."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ecobench.config.base import fingerprint_of
from ecobench.integrity import seal_manifest
from ecobench.record import seal_row
from tests.conftest import RUN_TIMEOUT_S, SUITES, run_cli, shared_run
from tests.reliability.conftest import run_inprocess


@pytest.fixture(scope="session")
def seeds_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke suite under another name with seeds 1 and 2, ratio 0.5 and the shortest windows: two seeds per
    group for the mean/std and claims checks (~13 s; 33 s with the shipped 50 ms windows)."""
    def make(out: Path) -> None:
        proc = run_cli("run", str(SUITES / "smoke.yaml"), "--out", str(out), "-q", "--set", "name=smoke-seeds",
                       "--set", "seeds=[1, 2]", "--set", "prune.ratios=[0.5]", "--set", "footprint.min_window_s=0",
                       timeout=RUN_TIMEOUT_S)
        assert proc.returncode == 0, proc.stderr

    return shared_run(tmp_path_factory, "seeds", make)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture):
    """`ecobench ARGS` in this process, answering as `run_cli` does (returncode, stdout, stderr): the report commands
    without a fresh interpreter's imports each time (seconds of CPU per call)."""

    def call(*args: str) -> subprocess.CompletedProcess:
        rc, out, err = run_inprocess(list(args), capsys)
        return subprocess.CompletedProcess(list(args), rc, out, err)

    return call


def copy_run(src: Path, dst: Path, suite_edit=None, cell_edit=None) -> Path:
    """A copy of a real run with its manifest's suite and/or its cell records edited (results the runner wrote,
    changed only where a test needs a value the schema will not produce)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("dense", "lock.json"))
    mpath = dst / "manifest.json"
    m = json.loads(mpath.read_text())
    if suite_edit:
        suite_edit(m)
        m["suite_fingerprint"] = fingerprint_of(m["suite"])  # as a run of the edited suite would have it
    mpath.write_text(json.dumps(seal_manifest(m)))
    if cell_edit or suite_edit:
        cpath = dst / "cells.jsonl"
        recs = [json.loads(line) for line in cpath.read_text().splitlines() if line.strip()]
        for r in recs:
            r["suite_fingerprint"] = m["suite_fingerprint"]
            if cell_edit:
                cell_edit(r)
        cpath.write_text("".join(json.dumps(seal_row(r)) + "\n" for r in recs))
    return dst


ENERGY_FIELDS = ("energy_kwh", "energy_gpu_kwh", "energy_cpu_kwh", "energy_ram_kwh", "energy_above_idle_kwh",
                 "energy_gpu_above_idle_kwh", "energy_cpu_above_idle_kwh", "energy_ram_above_idle_kwh",
                 "energy_facility_kwh", "co2e_g", "water_onsite_l", "water_offsite_l", "water_l", "co2e_above_idle_g",
                 "water_above_idle_l", "wall_s", "cpu_process_s", "energy_kwh_per_1k_tokens")


def busy_record(r: dict, factor: float) -> None:
    """One cell as if a competing load had slowed everything it measured `factor` times: every window (both sides of
    each pair: they ran back to back) takes `factor` x the time and energy, and is flagged contended."""
    for ph in r["phases"]:
        for k in ENERGY_FIELDS:
            if isinstance(ph.get(k), (int, float)):
                ph[k] *= factor
            for side in ("", "dense_"):
                vals = ph.get(f"{side}{k}_repeats")
                if isinstance(vals, list):
                    ph[f"{side}{k}_repeats"] = [None if v is None else v * factor for v in vals]
        for side in ("", "dense_"):
            tps = ph.get(f"{side}tokens_per_s_repeats")
            if isinstance(tps, list):
                ph[f"{side}tokens_per_s_repeats"] = [None if v is None else v / factor for v in tps]
                ph[f"{side}contended_repeats"] = [True] * len(tps)
        if isinstance(ph.get("tokens_per_s"), (int, float)):
            ph["tokens_per_s"] /= factor
        ph["contended"] = True
        ph["contended_windows"] = 2 * len(ph.get("tokens_per_s_repeats") or []) or 1


def quiet_record(r: dict) -> None:
    """One cell as if nothing else had used the machine: the real run under the test may itself have been contended
    (another test's workers, CI neighbours), which would move the dense reference the busy copy is judged against."""
    for ph in r["phases"]:
        for side in ("", "dense_"):
            if isinstance(ph.get(f"{side}contended_repeats"), list):
                ph[f"{side}contended_repeats"] = [False] * len(ph[f"{side}contended_repeats"])
        if "contended" in ph:
            ph["contended"] = False
        if "contended_windows" in ph:
            ph["contended_windows"] = 0


def _busy_copy(smoke_run: Path, dst: Path, factor: float) -> Path:
    """The smoke run with half its pruned cells (every other cell group) flagged contended and slowed `factor`x,
    the other windows marked quiet (the real run may itself have been contended: the tests set which are)."""
    keys = sorted({json.loads(line)["key"] for line in (smoke_run / "cells.jsonl").read_text().splitlines()
                   if line.strip() and '"method": "dense"' not in line.split('"phases"')[0]})
    groups = sorted({k.partition("/")[2] for k in keys})  # every seed of a cell alike
    busy = {k for k in keys if k.partition("/")[2] in groups[::2]}

    def edit(r: dict) -> None:
        quiet_record(r)
        if r["key"] in busy:
            busy_record(r, factor)

    return copy_run(smoke_run, dst, cell_edit=edit)


@pytest.fixture(scope="session")
def busy_run(smoke_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke run with half its pruned cells measured as if another program had made the machine 10x slower."""
    return _busy_copy(smoke_run, tmp_path_factory.mktemp("runs") / "busy", 10.0)


@pytest.fixture(scope="session")
def flagged_run(smoke_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`busy_run` without the slowing: the same cells flagged contended, their numbers as measured. What busy_run
    is judged against: both leave the same dense windows out of the reference, so only the 10x can move a value
    (against an all-quiet copy, a real run made beside busy test workers moved every anchored value 1.5x: its dense
    windows differ from cell to cell, and the reference is the median of another set of them)."""
    return _busy_copy(smoke_run, tmp_path_factory.mktemp("runs") / "flagged", 1.0)


def _cut_down(tmp_path_factory: pytest.TempPathFactory, suite: str, *sets: str) -> Path:
    # the layout test needs every label, structure and workload a real run writes, not windows that resolve savings
    common = ["train.record_every=10", "train.warmup_steps=5", "prune.ratios=[0.5, 0.9]", "footprint.idle_seconds=0",
              "eval.batches=2", "footprint.min_window_s=0"]
    args = [a for s in [*common, *sets] for a in ("--set", s)]

    def make(out: Path) -> None:
        proc = run_cli("run", str(SUITES / f"{suite}.yaml"), "--out", str(out), "-q", *args, timeout=900)
        assert proc.returncode == 0, proc.stderr

    return shared_run(tmp_path_factory, suite, make)


@pytest.fixture(scope="session")
def llm_cut_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """suites/llm.yaml cut down (2 layers, 40 steps, ratios 0.5 and 0.9): every structure, two seeds."""
    # context 64 and batches of 8 (not 128 and 64): the run's cost is its eval and decode windows (37 s -> 13 s)
    return _cut_down(tmp_path_factory, "llm", "train.steps=40", "model.n_layer=2", "model.n_embd=64", "data.context=64",
                     "train.batch_size=8", "eval.batch_size=8", "eval.inference_tokens=4", "eval.prefill_batches=1")


@pytest.fixture(scope="session")
def multimodal_cut_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """suites/multimodal.yaml cut down (30 steps, ratios 0.5 and 0.9, 5 recovery steps): MAE, two seeds."""
    # its claims name ratio 0.3; 5 recovery steps still make the dense+recover rows; batches of 16 and 32, one
    # prefill batch (not 64, 256 and 4): 24 s -> 16 s
    return _cut_down(tmp_path_factory, "multimodal", "train.steps=30", "claims=[]", "prune.recover_steps=5",
                     "train.batch_size=16", "eval.batch_size=32", "eval.prefill_batches=1")
