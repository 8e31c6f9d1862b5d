"""Issue 22, class 7: injection through names. Control characters (newline and tab included) in names and labels
are refused at `validate`; what still reaches a report from elsewhere (a folder's name, an older manifest) is
neutralised: CSV cells that a spreadsheet would run get a leading quote, Markdown is escaped fully (no row, heading,
link or image can be forged), plain tables keep one line per row."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from ecobench.report.formats import csv_safe, md_escape

from .conftest import copy_folder, run_inprocess, write_manifest
from .hostile import Case, run_case, suite

CATALOGUE = [
    Case("suite_name_with_newline", ["validate", "{tmp}/s.yaml"], "name: name 'tiny",
         setup=suite(("name: tiny", 'name: "tiny\\n## Injected heading"'))),
    Case("suite_name_with_tab", ["validate", "{tmp}/s.yaml"], "control or text-direction character U+0009",
         setup=suite(("name: tiny", 'name: "a\\tb"'))),
    Case("suite_name_with_cr", ["validate", "{tmp}/s.yaml"], "U+000D", setup=suite(("name: tiny", 'name: "a\\rb"'))),
    Case("label_with_newline", ["validate", "{tmp}/s.yaml"], "label 'm",
         setup=suite(("- name: magnitude", '- name: magnitude\n      label: "m\\n| forged | row |"'))),
    Case("model_name_with_newline", ["validate", "{tmp}/s.yaml"], "model.name: name 'x",
         setup=suite(("  n_layer: 1", '  name: "x\\ny"\n  n_layer: 1'))),
    Case("name_by_set_with_newline", ["validate", "{tmp}/s.yaml", "--set", "name=\"a\\nb\""], "U+000A", setup=suite()),
    Case("formula_label_is_valid", ["validate", "{tmp}/s.yaml"], "is valid", rc=0,
         setup=suite(("- name: magnitude", "- name: magnitude\n      label: '=HYPERLINK(\"x\")'"))),
]


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda c: c.id)
def test_names_catalogue(case: Case, tmp_path: Path, capsys, monkeypatch) -> None:
    run_case(case, tmp_path, capsys, monkeypatch)


@pytest.mark.parametrize("text", ["=1+2", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_csv_cells_that_a_spreadsheet_would_run_get_a_quote(text: str) -> None:
    assert csv_safe(text) == "'" + text
    assert csv_safe(-2.5) == -2.5 and csv_safe("dense") == "dense"


@pytest.mark.parametrize("text", ["a\n| forged | row |", "![img](javascript:alert)", "[link](http://x)", "<b>x</b>",
                                  "**bold** _em_ `code` ~strike~ #h"])
def test_markdown_escape_leaves_no_syntax(text: str) -> None:
    out = md_escape(text)
    assert "\n" not in out
    for ch in "[]!<>*_`~#|":  # parentheses alone make no link
        assert all(out[i - 1] == "\\" for i, c in enumerate(out) if c == ch), (ch, out)


def _hostile_folder(tiny_run: Path, root: Path, name: str) -> Path:
    return copy_folder(tiny_run, root / name)


@pytest.mark.parametrize("fmt", ["csv", "markdown", "table"])
def test_compare_neutralises_hostile_folder_names(fmt: str, tiny_run: Path, tmp_path: Path, capsys) -> None:
    a = _hostile_folder(tiny_run, tmp_path, "=HYPERLINK(1)")
    b = _hostile_folder(tiny_run, tmp_path, "x\n| forged | row | ![i](javascript:1)")
    rc, out, err = run_inprocess(["compare", str(a), str(b), "--format", fmt], capsys)
    assert rc == 0, err
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert {r["run"] for r in rows} == {"'=HYPERLINK(1)", "x | forged | row | ![i](javascript:1)"}
        return
    assert "forged" in out
    assert not any(line.startswith("| forged") or line.startswith("forged") for line in out.splitlines())
    if fmt == "markdown":
        assert "\\!\\[i\\](javascript:1)" in out
        assert all(out[i - 1] == "\\" for i in range(1, len(out)) if out.startswith("](", i))


def test_statement_markdown_cannot_gain_a_heading(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """An older folder whose manifest names its suite with a newline: the statement stays one paragraph."""
    run = copy_folder(tiny_run, tmp_path / "r")
    m = json.loads((run / "manifest.json").read_text())
    m["suite_name"] = "tiny\n## Injected [link](http://x)"
    write_manifest(run, m)
    rc, out, err = run_inprocess(["statement", str(run), "--format", "markdown"], capsys)
    assert rc == 0, err
    assert out.count("\n") == 1 and not out.startswith("#")
    assert "\\#\\# Injected \\[link\\](http://x)" in out
