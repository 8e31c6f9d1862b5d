"""`ecobench statement R`: the impact paragraph for a paper's appendix, as text, Markdown or LaTeX.

Every number comes from the results folder (the manifest's sessions, meters and site; the phase rows); none is
typed here. What is measured and what is estimated is said per component, with the model that estimated it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecobench.accounting import STARTUP_SOURCE, estimated, run_total, windows_estimated
from ecobench.errors import ResultsError
from ecobench.footprint.meters.base import NONE
from ecobench.report import ranges
from ecobench.report.formats import latex_escape, md_escape, one_line
from ecobench.report.units import with_unit
from ecobench.results import load_manifest
from ecobench.run_parts import contended
from ecobench.store import CELLS, read_cells

FORMATS = ("text", "markdown", "latex")
TITLE = "Environmental impact."
SOFTWARE = ("ecobench", "python", "torch", "transformers", "codecarbon", "nvidia-ml-py")
PHASE_WORDS = "training, scoring, pruning, recovery, evaluation and inference"


def _num(x: Any, spec: str) -> str:
    """A site factor as the sentence shows it; an older manifest may hold none (null): said, not a traceback."""
    return format(x, spec) if isinstance(x, (int, float)) and not isinstance(x, bool) else "unrecorded"


def _component(c: str, fp: dict) -> str:
    """How one component's energy was obtained, in words, from the manifest's meters."""
    source = (fp.get("sources") or {}).get(c, NONE)
    name = {"gpu": "GPU", "cpu": "CPU", "ram": "RAM"}[c]
    if source == NONE:
        return f"{name} not counted ({(fp.get('notes') or {}).get(c, 'no meter')})"
    meter = next((m for m in fp.get("meters") or [] if m.get("component") == c), {})
    kind, _, how = source.partition(":")
    detail = ""
    if c == "cpu" and kind == "estimated":
        detail = (f", {meter.get('max_power_w', '?')} W maximum for {meter.get('model', 'this CPU')}, "
                  f"{meter.get('attribution', '?')} attribution")
    elif c == "ram" and kind == "estimated":
        detail = f", {meter.get('power_w', '?')} W for {meter.get('memory_gb', 0):.0f} GB"
    return f"{name} {kind} ({how}{detail})"


def facts(run: str | Path) -> dict[str, Any]:
    """What the statement says, read from the results folder."""
    run = Path(run)
    m = load_manifest(run)
    records = read_cells(run / CELLS)
    total = run_total(m, records)
    if total.accounted == 0:
        raise ResultsError(f"{run}: the manifest has no run footprint (written before run accounting, or no "
                           "session finished); re-run the suite with this version of ecobench")
    fp = m.get("footprint") or {}
    site = fp.get("site") or {}
    from ecobench.claims.folder import judge_folder

    return {"manifest": m, "total": total, "footprint": fp, "site": site,
            "cells": len({r.key for r in records}), "planned": len(m.get("cells") or []),
            "intervals": ranges.run_intervals(site, total.totals, total.sources) if total.totals else None,
            "embodied": ranges.run_embodied_g(m), "records": records, "contended": contended(records),
            "claims": judge_folder(run)}  # the suite's stated claims and their verdicts ([] when it states none)


def _with_range(f: dict[str, Any], q: str) -> str:
    """'193 mgCO2e (150–270 mgCO2e, dominated by the energy measurement)', or the point and 'interval absent'."""
    point = f["total"].totals[q]
    iv = (f.get("intervals") or {}).get(q)
    if iv is None:
        return f"{with_unit(point, q)} ({ranges.ABSENT}: the folder predates factor ranges)"
    text = ranges.value_with_range(point, iv["low"], iv["high"], q)
    return text[:-1] + ranges.dominated(iv["dominant"]) + ")"


def _embodied(f: dict[str, Any]) -> list[str]:
    e = f.get("embodied")
    if e is None:
        return []
    return [f"Embodied carbon of the hardware, amortised over its {e['lifetime_s'] / 3.15576e7:.0f}-year lifetime by "
            f"the machine-time the run used, is {ranges.value_with_range(e['g'], e['low'], e['high'], 'co2e_g')} "
            f"from {e['source']}, reported apart from the operational carbon above; embodied water is not counted "
            "(no source has a usable figure)."]


def sentences(f: dict[str, Any]) -> list[str]:
    """The paragraph as plain-text sentences (units: with_unit's; the CO2e and µ forms are typeset later)."""
    m, t, site, fp = f["manifest"], f["total"], f["site"], f["footprint"]
    hw = m.get("hardware") or {}
    gpus = hw.get("gpus") or []
    tt = t.totals
    where = site.get("country") or "a world average"
    if site.get("region"):
        where += f"/{site['region']}"
    sessions = "one session" if t.sessions == 1 else f"{t.sessions} sessions"
    out = [
        f"The experiments (suite {m.get('suite_name')}, {f['cells']} of {f['planned']} cells, {sessions}) ran on "
        f"{hw.get('cpu', 'an unrecorded CPU')} ({hw.get('cpu_count', '?')} logical CPUs; "
        + (f"GPUs: {', '.join(gpus)}" if gpus else "no GPU") + f") for {tt['wall_s'] / 3600:.3g} hours.",
        f"They used {'an estimated ' if estimated(t) else ''}{with_unit(t.energy_kwh, 'energy_kwh')} of IT energy: "
        + "; ".join(_component(c, fp) for c in ("gpu", "cpu", "ram"))
        + f". Of this, {with_unit(t.startup_kwh, 'energy_kwh')} was spent before the meters started "
          f"(interpreter start-up and imports, {t.startup_wall_s:.1f} s) and is extrapolated from the run's "
          f"mean power ({STARTUP_SOURCE}).",
        f"With a PUE of {site.get('pue')} ({site.get('pue_source')}), this is "
        f"{with_unit(tt['energy_facility_kwh'], 'energy_kwh')} at the facility and "
        f"{_with_range(f, 'co2e_g')} at a grid carbon intensity of "
        f"{_num(site.get('carbon_intensity_g_per_kwh'), '.4g')} gCO2e/kWh for {where} "
        f"({site.get('carbon_intensity_source')}).",
        f"Water: {_with_range(f, 'water_l')} in all, {with_unit(tt['water_onsite_l'], 'water_l')} "
        f"on-site for cooling (WUE {_num(site.get('wue_l_per_kwh'), '.3g')} L/kWh, {site.get('wue_source')}) and "
        f"{with_unit(tt['water_offsite_l'], 'water_l')} off-site for generating the electricity "
        f"(EWIF {_num(site.get('ewif_l_per_kwh'), '.3g')} L/kWh, {site.get('ewif_source')}, convention "
        f"{site.get('ewif_convention')}), water = E x (WUE + PUE x EWIF) after Li et al. (2023).",
    ]
    out += _embodied(f)
    if t.phase_share is not None:
        kind = ("estimated from a power model in their measurement windows" if windows_estimated(t.sources)
                else "measured in their windows")
        rest = "; ".join(f"{p.name}, {with_unit(p.energy_kwh, 'energy_kwh')} "
                         f"({'estimated' if p.kind == 'estimated' else 'the remainder' if p.kind == 'remainder' else p.kind})"
                         for p in t.parts)
        out.append(f"The phases ({PHASE_WORDS}), {kind}, account for {100 * t.phase_share:.0f}% of this energy; "
                   + (f"the rest is: {rest}." if rest else "the rest is start-up, meter set-up, data loading, "
                      "building and loading models, and checkpoints."))
    else:
        out.append("The phases' share of the run's energy is unknown: "
                   + ("a session ended without recording its footprint." if not t.complete else "energy unknown."))
    busy, windows = f.get("contended", (0, 0))
    if busy:
        out.append(f"{busy} of {windows} measured windows ran while other processes used the machine (contended); "
                   "ratios to dense are paired, so load shared by both sides cancels, and absolute figures are "
                   "anchored on the quiet dense windows.")
    if t.forecast and t.forecast["energy_kwh"]["point"] is not None:
        e = t.forecast["energy_kwh"]
        out.append(f"Before running, ecobench forecast {with_unit(e['point'], 'energy_kwh')} "
                   f"({with_unit(e['low'], 'energy_kwh')} to {with_unit(e['high'], 'energy_kwh')}) from a "
                   "calibration probe on the same machine.")
    if f.get("claims"):
        from ecobench.claims.render import sentence

        out.append(sentence(f["claims"]))
    v = m.get("versions") or {}
    sw = ", ".join(f"{k} {v[k]}" for k in SOFTWARE if v.get(k) and v[k] != "absent")
    out.append(f"Software: {sw}.")
    return out




def render(f: dict[str, Any], fmt: str) -> str:
    text = one_line(" ".join(sentences(f)))  # a suite name holding a newline must not start a heading
    if fmt == "text":
        return f"{TITLE} {text}\n"
    if fmt == "markdown":
        return f"**{TITLE}** {md_escape(text).replace('CO2e', 'CO₂e')}\n"
    if fmt == "latex":
        body = latex_escape(text).replace(" x ", r" $\times$ ")
        return f"% ecobench statement; every number from the results folder\n\\paragraph{{{TITLE}}} {body}\n"
    raise ValueError(fmt)


def statement(run: str | Path, fmt: str = "text") -> str:
    """The paragraph (text, markdown, latex). A standard's fields (sci, ai-act) are report/standards.py's
    `standard`, built on these facts (it imports this module, never the other way)."""
    return render(facts(run), fmt)
