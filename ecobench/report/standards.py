"""`ecobench statement R --format sci | ai-act`: the fields two standards ask for, every number from the folder.

SCI (Software Carbon Intensity, Green Software Foundation, ISO/IEC 21031:2024): SCI = (E x I + M) per R.
  E  energy of the software for the functional unit, at the facility (IT energy x PUE: the spec asks for the
     data centre's overhead where it is known)
  I  the grid's carbon intensity (gCO2e/kWh)
  M  embodied carbon of the hardware, amortised over its lifetime by the share of it the work used
  R  the functional unit: one run for training (the whole run: every session, start-up included), 1k generated
     tokens for inference (each cell's decode workload at each batch size)
The interval of E x I is the row's or run's Monte Carlo interval; M's is the embodied range; their sum's interval
adds the bounds (conservative: it assumes the two move together).

AI Act (Regulation (EU) 2024/1689, Annex XI, Section 1, point 2(d) and (e)): the computational resources used to
train the model (operations, time, hardware) and its known or estimated energy consumption, with the method;
here the dense training per seed, the pruning pipeline (score + prune + recover) over all cells, and the whole run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecobench.footprint.measurement import COMPONENTS
from ecobench.footprint.uncertainty import Energy, energy_interval
from ecobench.record import CellRecord
from ecobench.report.units import MISSING, with_unit

FORMATS = ("sci", "ai-act")
TRAIN_FLOPS_RULE = ("3 x forward FLOPs per token (every matmul at its full shape: forward, and a backward of about "
                    "twice the forward) x tokens trained")


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def _g(x: float | None) -> str:
    return MISSING if x is None else f"{x:.4g}"


# -- SCI -----------------------------------------------------------------------------------------------------------


def sci_facts(f: dict[str, Any]) -> dict[str, Any]:
    """SCI per run (training) and per 1k generated tokens (each decode row), with E, I, M and R and their sources."""
    site, t, emb = f["site"], f["total"], f.get("embodied")
    ci = site.get("carbon_intensity_g_per_kwh")
    e_run = t.totals.get("energy_facility_kwh")
    op = None if e_run is None or ci is None else e_run * ci
    iv = (f.get("intervals") or {}).get("co2e_g")
    m_run = emb["g"] if emb else None
    run = {"E_kwh": e_run, "I_g_per_kwh": ci, "M_g": m_run, "SCI_g": _add(op, m_run), "operational_g": op,
           "low": _add(iv["low"], emb["low"]) if iv and emb else None,
           "high": _add(iv["high"], emb["high"]) if iv and emb else None}
    inference = []
    for rec in f["records"]:
        if rec.status != "ok":
            continue
        for p in rec.phases:
            row = p.model_dump()
            if row["phase"] != "decode" or not row.get("tokens") or row.get("energy_kwh_per_1k_tokens") is None:
                continue
            e = row["energy_kwh_per_1k_tokens"] * row["pue"]
            i = row["carbon_intensity_g_per_kwh"]
            m = None if row.get("embodied_co2e_g") is None else row["embodied_co2e_g"] * 1000 / row["tokens"]
            per_k = 1000 / row["tokens"]
            low = high = None
            if row.get("co2e_g_low") is not None and m is not None:
                low = row["co2e_g_low"] * per_k + row["embodied_co2e_g_low"] * per_k
                high = row["co2e_g_high"] * per_k + row["embodied_co2e_g_high"] * per_k
            inference.append({"cell": rec.key, "batch_size": row.get("batch_size"), "E_kwh": e, "I_g_per_kwh": i,
                              "M_g": m, "SCI_g": _add(e * i, m), "low": low, "high": high})
    return {"run": run, "inference": inference}


def _sci_text(f: dict[str, Any]) -> str:
    s, m, site, emb = sci_facts(f), f["manifest"], f["site"], f.get("embodied")
    r = s["run"]
    sources = "; ".join(f"{c.upper()} {(f['total'].sources or {}).get(c, 'none')}" for c in COMPONENTS)
    m_line = (f"M = {_g(r['M_g'])} gCO2e embodied ({emb['source']}: {emb['kg']:g} kgCO2e per server over "
              f"{emb['lifetime_s'] / 3.15576e7:.0f} years x {emb['machine_s']:.4g} machine-seconds used)" if emb
              else "M = not recorded (the folder predates embodied carbon)")
    lines = [
        "Software Carbon Intensity (ISO/IEC 21031:2024): SCI = (E x I + M) per R; every number from the results folder.",
        f"Training: R = one run (suite {m.get('suite_name')}, {f['cells']} cells, all sessions, start-up included)",
        f"  E = {_g(r['E_kwh'])} kWh at the facility (IT energy x PUE {site.get('pue')}, {site.get('pue_source')}; "
        f"{sources})",
        f"  I = {_g(r['I_g_per_kwh'])} gCO2e/kWh ({site.get('carbon_intensity_source')})",
        f"  {m_line}",
        f"  SCI = {_g(r['SCI_g'])} gCO2e per run"
        + (f" ({_g(r['low'])}-{_g(r['high'])}: the operational interval plus the embodied range)"
           if r["low"] is not None else ""),
        "Inference: R = 1k generated tokens (decode workload of each cell; E and M per 1k tokens; gCO2e)",
        "  cell | batch | E kWh | I g/kWh | M g | SCI g (interval)",
    ]
    for x in s["inference"]:
        iv = f" ({_g(x['low'])}-{_g(x['high'])})" if x["low"] is not None else " (interval absent)"
        lines.append(f"  {x['cell']} | {x['batch_size']} | {_g(x['E_kwh'])} | {_g(x['I_g_per_kwh'])} | "
                     f"{_g(x['M_g'])} | {_g(x['SCI_g'])}{iv}")
    if not s["inference"]:
        lines.append("  (no decode rows: the suite generated no tokens)")
    return "\n".join(lines) + "\n"


# -- AI Act, Annex XI ----------------------------------------------------------------------------------------------


def _sum_rows(rows: list[dict[str, Any]], col: str) -> float | None:
    vals = [r.get(col) for r in rows]
    if not vals or any(v is None for v in vals):
        return None
    return float(sum(vals))


def _energy_iv(rows: list[dict[str, Any]]) -> tuple[float, float] | None:
    """The measurement interval of a sum of single-window rows (each component's band; no repeats)."""
    comps = {c: _sum_rows(rows, f"energy_{c}_kwh") if any(r.get(f"energy_{c}_kwh") is not None for r in rows) else None
             for c in COMPONENTS}
    sources = {c: next((r.get(f"source_{c}") for r in rows if r.get(f"source_{c}")), "none") for c in COMPONENTS}
    e = Energy(comps, sources)
    return None if e.total is None else energy_interval(e)


def ai_act_facts(f: dict[str, Any]) -> dict[str, Any]:
    records: list[CellRecord] = f["records"]
    ok = [r for r in records if r.status == "ok"]
    train = [p.model_dump() for r in ok if r.cell.method_name == "dense" for p in r.phases if p.phase == "train"]
    pipeline = [p.model_dump() for r in ok for p in r.phases if p.phase in ("score", "prune", "recover")]
    flops_per_token = {r.cell.seed: r.metrics.get("flops_per_token_dense") for r in ok if r.cell.method_name == "dense"}
    train_tokens = sum(p.get("tokens") or 0 for p in train)
    flops = None
    if train and all(flops_per_token.get(s) for s in flops_per_token):
        fpt = next(iter(flops_per_token.values()))
        flops = 3 * fpt * train_tokens
    return {
        "training": {"energy_kwh": _sum_rows(train, "energy_kwh"), "interval": _energy_iv(train),
                     "wall_s": _sum_rows(train, "wall_s"), "tokens": train_tokens, "flops": flops,
                     "seeds": len(train)},
        "pipeline": {"energy_kwh": _sum_rows(pipeline, "energy_kwh"), "interval": _energy_iv(pipeline),
                     "wall_s": _sum_rows(pipeline, "wall_s")},
        "run": {"energy_kwh": f["total"].energy_kwh, "wall_s": f["total"].totals.get("wall_s")},
    }


def _ai_act_text(f: dict[str, Any]) -> str:
    from ecobench.report.statement import _component  # how each component was obtained, in words

    a, m, fp = ai_act_facts(f), f["manifest"], f["footprint"]
    hw = m.get("hardware") or {}
    tr, pl, run = a["training"], a["pipeline"], a["run"]
    measured = {(fp.get("sources") or {}).get(c, "none").split(":")[0] for c in COMPONENTS} - {"none"}
    kind = "measured" if measured == {"measured"} else ("estimated" if measured == {"estimated"} else
                                                        "partly measured, partly estimated")

    def iv(x: tuple[float, float] | None) -> str:
        return f" ({with_unit(x[0], 'energy_kwh')} to {with_unit(x[1], 'energy_kwh')}: the meters' and models' own error)" if x else ""

    gpus = hw.get("gpus") or []
    lines = [
        "EU AI Act, Annex XI, Section 1, point 2: energy and compute (from the results folder alone)",
        f"(d) Computational resources used to train the model: {tr['seeds']} dense training run(s), "
        f"{tr['tokens']:,} tokens, about {tr['flops']:.3g} floating-point operations ({TRAIN_FLOPS_RULE})"
        if tr["flops"] is not None else
        f"(d) Computational resources used to train the model: {tr['seeds']} dense training run(s), "
        f"{tr['tokens']:,} tokens; operations not recorded",
        f"    training time {(tr['wall_s'] or 0) / 3600:.3g} hours on {hw.get('cpu', 'an unrecorded CPU')}"
        + (f" and {', '.join(gpus)}" if gpus else ", no GPU") + ".",
        f"(e) Energy consumption ({kind}; method: " + "; ".join(_component(c, fp) for c in COMPONENTS) + "):",
        f"    training the model(s): {with_unit(tr['energy_kwh'], 'energy_kwh')} of IT energy{iv(tr['interval'])}",
        f"    pruning and recovery (score + prune + recover, every cell): {with_unit(pl['energy_kwh'], 'energy_kwh')}"
        f"{iv(pl['interval'])}",
        f"    all compute used by the run (training, pruning, evaluation, inference, start-up): "
        f"{with_unit(run['energy_kwh'], 'energy_kwh')} over {(run['wall_s'] or 0) / 3600:.3g} hours",
        f"    at the facility (x PUE {f['site'].get('pue')}): {with_unit(f['total'].totals.get('energy_facility_kwh'), 'energy_kwh')}",
    ]
    return "\n".join(lines) + "\n"


def render(f: dict[str, Any], fmt: str) -> str:
    if fmt == "sci":
        return _sci_text(f)
    if fmt == "ai-act":
        return _ai_act_text(f)
    raise ValueError(fmt)


def standard(run: str | Path, fmt: str) -> str:
    from ecobench.report.statement import facts

    return render(facts(run), fmt)
