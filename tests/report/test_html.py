"""The HTML report: self-contained, every text from suites and results escaped, rendered by headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from ecobench.report.html import render_report
from ecobench.report.runs import load_runs
from tests.conftest import ROOT
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


def test_report_sections(smoke_run, tmp_path, cli) -> None:
    out = tmp_path / "r.html"
    proc = cli("report", str(smoke_run), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    for section in ("Summary", "Best method per ratio band", "What was measured", "Comparison", "Figures",
                    "Manifest", "Site factors", "Idle baseline", "Reproduce"):
        assert section in page, section
    assert page.count("<figure>") == 5
    assert re.search(r"ecobench run \S*smoke.yaml --out", page)  # the exact command that made the run


@pytest.fixture(scope="session")
def chromium() -> None:
    """Skip where no headless Chromium is installed; in CI (which installs it) its absence is a failure."""
    if not any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")):
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI=true but no headless Chromium on PATH (.ci/run installs it with apt-get)")
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")


def _script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "screenshot_report.py"), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # a headless browser (6 s): end to end
def test_chromium_renders_report(chromium, evil_run, tmp_path) -> None:
    html = tmp_path / "r.html"
    html.write_text(render_report(load_runs([evil_run])))
    proc = _script(str(html), "--inspect")
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["title"] == f"ecobench report: {EVIL}"  # the escaped text, read back as text
    assert len(shown["images"]) == 5  # the five figures, and no <img> parsed out of a method label
    assert all(img["complete"] and img["natural_width"] > 0 for img in shown["images"]), shown["images"]
    assert shown["errors"] == []  # no script ran, nothing the CSP had to block, no failed load
    png = tmp_path / "r.png"
    proc = _script(str(html), str(png))
    assert proc.returncode == 0, proc.stderr
    assert png.stat().st_size > 20_000
    dom = _script(str(html), "--dump-dom")
    assert dom.returncode == 0, dom.stderr
    assert "<script" not in dom.stdout.lower() and "alert(1)" in dom.stdout  # shown as text, never parsed
