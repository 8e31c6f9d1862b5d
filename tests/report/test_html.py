"""The HTML report: self-contained, every text from suites and results escaped, rendered by headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from ecobench.report.html import render_report
from ecobench.report.runs import load_runs
from tests.conftest import ROOT, run_cli
from tests.report.conftest import copy_run

EVIL = "<script>alert(1)</script>"
EVIL_METHOD = "<img src=x onerror=alert(2)>"


@pytest.fixture(scope="module")
def evil_run(smoke_run, tmp_path_factory):
    """The smoke run with its suite renamed to a script tag and one method label turned into an img tag."""

    def suite(m: dict) -> None:
        m["suite_name"] = m["suite"]["name"] = EVIL
        m["sessions"][0]["command"][2] = f"suites/{EVIL}.yaml"

    def cell(r: dict) -> None:
        r["cell"]["suite"] = EVIL
        if r["cell"]["method"] == "magnitude":
            r["cell"]["method"] = EVIL_METHOD

    return copy_run(smoke_run, tmp_path_factory.mktemp("evil") / "run", suite_edit=suite, cell_edit=cell)


def test_text_from_results_is_inert(evil_run) -> None:
    page = render_report(load_runs([evil_run]))
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    # self-contained: every image inline, no external URL in any src or href
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r"src='([^']*)'", page))
    assert not re.search(r"(src|href)=['\"]?(https?:|//)", page)
    assert "Content-Security-Policy" in page


def test_report_sections(smoke_run, tmp_path) -> None:
    out = tmp_path / "r.html"
    proc = run_cli("report", str(smoke_run), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    for section in ("Summary", "Best method per ratio band", "What was measured", "Comparison", "Figures",
                    "Manifest", "Site factors", "Idle baseline", "Reproduce"):
        assert section in page, section
    assert page.count("<figure>") == 4
    assert re.search(r"ecobench run \S*smoke.yaml --out", page)  # the exact command that made the run


@pytest.mark.skipif(not any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")),
                    reason="headless Chromium is not installed (apt-get install chromium)")
def test_chromium_renders_report(evil_run, tmp_path) -> None:
    html = tmp_path / "r.html"
    html.write_text(render_report(load_runs([evil_run])))
    png = tmp_path / "r.png"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "screenshot_report.py"), str(html), str(png)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert png.stat().st_size > 20_000
    dom = subprocess.run([sys.executable, str(ROOT / "scripts" / "screenshot_report.py"), str(html), "--dump-dom"],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr
    assert "<script" not in dom.stdout.lower() and "alert(1)" in dom.stdout  # shown as text, never parsed
