"""`statement --format sci | ai-act` on the smoke folder, against numbers computed here by hand from its files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecobench.report.standards import TRAIN_FLOPS_RULE, standard
from ecobench.report.statement import facts
from ecobench.report.units import with_unit


def _files(run: Path) -> tuple[dict, list[dict]]:
    m = json.loads((run / "manifest.json").read_text())
    recs = [json.loads(line) for line in (run / "cells.jsonl").read_text().splitlines() if line.strip()]
    return m, recs


def test_sci_per_run_and_per_1k_generated_tokens_by_hand(smoke_run: Path) -> None:
    m, recs = _files(smoke_run)
    site, hw = m["footprint"]["site"], m["footprint"]["embodied"]
    sessions = [s["footprint"] for s in m["sessions"]]
    e = sum(s["energy_facility_kwh"] for s in sessions)  # E: IT energy x PUE, every session
    i = site["carbon_intensity_g_per_kwh"]
    cpu_s = sum(s["window"]["cpu_process_s"] + s["startup"]["cpu_s"] for s in sessions)
    machine_s = cpu_s / 96  # a CPU run: its CPU seconds over the archetype's 96 logical CPUs
    m_g = 900.0 * 1000 * machine_s / (35040 * 3600)
    assert hw["gpus_used"] == 0 and hw["kg"] == 900.0
    sci = e * i + m_g

    text = standard(smoke_run, "sci")
    got = facts(smoke_run)
    from ecobench.report.standards import sci_facts

    run = sci_facts(got)["run"]
    assert (run["E_kwh"], run["I_g_per_kwh"], run["M_g"], run["SCI_g"]) == pytest.approx((e, i, m_g, sci), rel=1e-9)
    assert f"E = {e:.4g} kWh" in text and f"I = {i:.4g} gCO2e/kWh" in text
    assert f"M = {m_g:.4g} gCO2e" in text and f"SCI = {sci:.4g} gCO2e per run" in text
    assert run["low"] < sci < run["high"]

    dense = next(r for r in recs if r["cell"]["method_name"] == "dense")
    row = next(p for p in dense["phases"] if p["phase"] == "decode" and p["batch_size"] == 4)
    e_tok = row["energy_kwh"] / row["tokens"] * 1000 * row["pue"]  # kWh per 1k generated tokens at the facility
    m_tok = row["embodied_co2e_g"] / row["tokens"] * 1000
    sci_tok = e_tok * row["carbon_intensity_g_per_kwh"] + m_tok
    line = f"  {dense['key']} | 4 | {e_tok:.4g} | {row['carbon_intensity_g_per_kwh']:.4g} | {m_tok:.4g} | {sci_tok:.4g} ("
    assert line in text, text


def test_ai_act_training_energy_and_compute_by_hand(smoke_run: Path) -> None:
    m, recs = _files(smoke_run)
    ok = [r for r in recs if r["status"] == "ok"]
    train = [p for r in ok if r["cell"]["method_name"] == "dense" for p in r["phases"] if p["phase"] == "train"]
    pipeline = [p for r in ok for p in r["phases"] if p["phase"] in ("score", "prune", "recover")]
    tokens = sum(p["tokens"] for p in train)
    flops = 3 * next(r["metrics"]["flops_per_token_dense"] for r in ok if r["cell"]["method_name"] == "dense") * tokens
    text = standard(smoke_run, "ai-act")
    assert f"{tokens:,} tokens, about {flops:.3g} floating-point operations ({TRAIN_FLOPS_RULE})" in text
    assert f"training the model(s): {with_unit(sum(p['energy_kwh'] for p in train), 'energy_kwh')} of IT energy" in text
    assert f"every cell): {with_unit(sum(p['energy_kwh'] for p in pipeline), 'energy_kwh')}" in text
    total = sum(s["footprint"]["energy_kwh"] for s in m["sessions"])
    assert f"start-up): {with_unit(total, 'energy_kwh')} over" in text
    assert "(e) Energy consumption (estimated; method: GPU not counted" in text  # this machine: no GPU, no RAPL


def test_cli_formats(smoke_run: Path, cli) -> None:
    for fmt in ("sci", "ai-act"):
        proc = cli("statement", str(smoke_run), "--format", fmt)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("Software Carbon Intensity" if fmt == "sci" else "EU AI Act, Annex XI")
