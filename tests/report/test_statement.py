"""`ecobench statement`: every number from the results folder, in text, Markdown and LaTeX, escaped correctly."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ecobench.accounting import run_total
from ecobench.errors import ResultsError
from ecobench.report.ranges import dominated, value_with_range
from ecobench.report.statement import facts, render, statement
from ecobench.report.units import with_unit
from ecobench.store import read_cells
from tests.conftest import run_cli
from tests.report.conftest import copy_run

NASTY = "a_b&c%d$e#f{g}~h^i\\j"


def _nasty(m: dict) -> None:
    m["suite_name"] = NASTY
    m["hardware"]["cpu"] = "CPU #1 & 50% \"fast\" <x>"


def test_every_figure_comes_from_the_results_folder(smoke_run: Path) -> None:
    text = statement(smoke_run, "text")
    m = json.loads((smoke_run / "manifest.json").read_text())
    t = run_total(m, read_cells(smoke_run / "cells.jsonl"))
    site = m["footprint"]["site"]
    for value, qty in ((t.energy_kwh, "energy_kwh"), (t.totals["water_onsite_l"], "water_l"),
                       (t.totals["water_offsite_l"], "water_l")):
        assert with_unit(value, qty) in text
    f = facts(smoke_run)
    for q in ("co2e_g", "water_l"):  # wide intervals: two significant figures, the range and what dominates it
        iv = f["intervals"][q]
        shown = value_with_range(t.totals[q], iv["low"], iv["high"], q)[:-1] + dominated(iv["dominant"]) + ")"
        assert shown in text and "dominated by" in shown
    assert f"{100 * t.phase_share:.0f}% of this energy" in text
    assert f"PUE of {site['pue']}" in text and site["carbon_intensity_source"] in text
    assert site["ewif_convention"] in text and f"{site['ewif_l_per_kwh']:.3g} L/kWh" in text
    assert f"torch {m['versions']['torch']}" in text and m["hardware"]["cpu"] in text
    assert "CPU estimated" in text or "CPU measured" in text
    assert text.startswith("Environmental impact.") and text.count("\n") == 1  # one paragraph


def test_latex_escapes_every_special_character(smoke_run: Path, tmp_path: Path) -> None:
    run = copy_run(smoke_run, tmp_path / "nasty", suite_edit=_nasty)
    tex = statement(run, "latex")
    assert r"a\_b\&c\%d\$e\#f\{g\}\textasciitilde{}h\textasciicircum{}i\textbackslash{}j" in tex
    assert r"CPU \#1 \& 50\% " in tex and r"CO\textsubscript{2}e" in tex and r"\%" in tex
    body = tex.split("\n", 1)[1]  # past the leading % comment
    stripped = re.sub(r"\$\\times\$|\\[a-zA-Z]+\{[^{}]*\}|\\[a-zA-Z]+\{\}|\\[&%$#_{}]", "", body)
    assert not re.search(r"[&%$#_^~]", stripped), stripped  # nothing special is left unescaped
    assert stripped.count("{") == stripped.count("}")


def test_latex_compiles_when_the_system_has_latex(smoke_run: Path, tmp_path: Path) -> None:
    latex = shutil.which("pdflatex")
    if latex is None:
        pytest.skip("no pdflatex on this machine (not installed on purpose); escaping is checked above")
    run = copy_run(smoke_run, tmp_path / "nasty", suite_edit=_nasty)
    doc = tmp_path / "s.tex"
    doc.write_text("\\documentclass{article}\\usepackage[utf8]{inputenc}\\usepackage{textcomp}\\begin{document}\n"
                   + statement(run, "latex") + "\\end{document}\n")
    proc = subprocess.run([latex, "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_markdown_escapes_and_the_cli_writes_each_format(smoke_run: Path, tmp_path: Path, cli) -> None:
    run = copy_run(smoke_run, tmp_path / "nasty", suite_edit=_nasty)
    md = render(facts(run), "markdown")
    assert md.startswith("**Environmental impact.**") and r"a\_b&c%d$e\#f{g}\~h^i\\j" in md and "CO₂e" in md
    for fmt in ("text", "markdown", "latex"):
        proc = cli("statement", str(smoke_run), "--format", fmt)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == statement(smoke_run, fmt)


def test_a_run_without_accounting_is_refused_in_one_line(smoke_run: Path, tmp_path: Path) -> None:
    def drop(m: dict) -> None:
        for s in m["sessions"]:
            s.pop("footprint", None)

    run = copy_run(smoke_run, tmp_path / "old", suite_edit=drop)
    with pytest.raises(ResultsError, match="no run footprint"):
        statement(run)
    proc = run_cli("statement", str(run))  # a real process: its whole stderr (warnings too) is the one line
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def test_compare_and_report_show_the_run_total_and_the_phases_share(smoke_run: Path, tmp_path: Path, cli) -> None:
    proc = cli("compare", str(smoke_run))
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"run total .* over .* s \((estimated|measured)\); phases: \d+% of the run's energy; the rest \(", proc.stdout)
    csv = cli("compare", str(smoke_run), "--format", "csv")
    assert "run total" not in csv.stdout and "run total" in csv.stderr  # the CSV stays a table
    html = tmp_path / "r.html"
    assert cli("report", str(smoke_run), "--out", str(html)).returncode == 0
    page = html.read_text()
    assert "Environmental impact." in page and "of the run&#x27;s energy" in page


def test_a_folder_written_before_intervals_prints_points_and_says_the_interval_is_absent(smoke_run: Path,
                                                                                        tmp_path: Path) -> None:
    def strip(m: dict) -> None:
        m["footprint"]["site"].pop("factor_ranges")
        m["footprint"].pop("embodied")

    run = copy_run(smoke_run, tmp_path / "old", suite_edit=strip)
    text = statement(run, "text")
    t = run_total(json.loads((run / "manifest.json").read_text()), read_cells(run / "cells.jsonl"))
    assert f"{with_unit(t.totals['co2e_g'], 'co2e_g')} (interval absent" in text
    assert f"{with_unit(t.totals['water_l'], 'water_l')} (interval absent" in text
    assert "Embodied" not in text
