"""A results folder is bound to one suite: the manifest and every row carry the suite's fingerprint; `run` resumes
only a folder whose manifest is whole and of the same suite; readers refuse rows of another suite unless --force."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecobench.config.base import fingerprint_of
from ecobench.config.load import load_suite
from ecobench.results import load

from .conftest import SMOKE, TINY_SETS, cell_lines, copy_folder, one_line_error, run_inprocess, tiny_args


def test_manifest_and_every_row_carry_the_fingerprint(tiny_run: Path) -> None:
    m = json.loads((tiny_run / "manifest.json").read_text())
    suite = load_suite(SMOKE, TINY_SETS).suite
    assert m["suite_fingerprint"] == suite.fingerprint() == fingerprint_of(m["suite"]) and m["schema_version"] == 3
    rows = cell_lines(tiny_run)
    assert {r["suite_fingerprint"] for r in rows} == {suite.fingerprint()}
    assert all(r["schema"] == 3 and len(r["dense_sha256"]) == 64 for r in rows)


def test_run_refuses_cells_without_a_manifest(other_run: Path, tmp_path: Path, capsys) -> None:
    """Reproduction 1: another suite's cells.jsonl without a manifest was adopted ('7 already finished')."""
    out = tmp_path / "orphan"
    out.mkdir()
    (out / "cells.jsonl").write_bytes((other_run / "cells.jsonl").read_bytes())
    rc, _, err = run_inprocess(tiny_args(out), capsys)
    assert rc == 2 and "no manifest.json" in one_line_error(err)
    assert (out / "cells.jsonl").read_bytes() == (other_run / "cells.jsonl").read_bytes()
    assert not (out / "manifest.json").exists()


@pytest.mark.parametrize("text", ['{"schema_version": 3, "suite_na', "[]", "null", "{}", ""])
def test_run_refuses_a_broken_manifest(tiny_run: Path, tmp_path: Path, capsys, text: str) -> None:
    """Reproduction 3: a truncated manifest crashed `run` with a JSONDecodeError traceback."""
    out = copy_folder(tiny_run, tmp_path / "r")
    (out / "manifest.json").write_text(text)
    before = (out / "cells.jsonl").read_bytes()
    rc, _, err = run_inprocess(tiny_args(out), capsys)
    assert rc == 2 and "manifest" in one_line_error(err)
    assert (out / "manifest.json").read_text() == text and (out / "cells.jsonl").read_bytes() == before


@pytest.mark.parametrize("text", ["[]", "null", "{}", '{"schema_version": 3, "suite_na'])
@pytest.mark.parametrize("command", ["compare", "plot", "report"])
def test_readers_refuse_a_broken_manifest(tiny_run: Path, tmp_path: Path, capsys, text: str, command: str) -> None:
    """Reproduction 3: `[]`, `null` or `{}` passed compare and plot silently and crashed report."""
    out = copy_folder(tiny_run, tmp_path / "r")
    (out / "manifest.json").write_text(text)
    extra = {"compare": [], "plot": ["--out", str(tmp_path / "figs")], "report": ["--out", str(tmp_path / "r.html")]}
    rc, stdout, err = run_inprocess([command, str(out), *extra[command]], capsys)
    assert rc == 2 and "manifest" in one_line_error(err) and stdout == ""
    assert not (tmp_path / "figs").exists() and not (tmp_path / "r.html").exists()


def test_run_refuses_another_suites_folder(other_run: Path, tmp_path: Path, capsys) -> None:
    out = copy_folder(other_run, tmp_path / "r")
    rc, _, err = run_inprocess(tiny_args(out), capsys)
    assert rc == 2 and "different suite" in one_line_error(err)


def test_a_manifest_copied_over_another_suites_rows_is_refused(tiny_run: Path, other_run: Path, tmp_path: Path,
                                                                capsys, caplog) -> None:
    """Reproduction 1: a smoke manifest over llm cells made `report` title llm data 'smoke'."""
    out = copy_folder(other_run, tmp_path / "r")
    (out / "manifest.json").write_bytes((tiny_run / "manifest.json").read_bytes())
    for command, extra in (("compare", []), ("report", ["--out", str(tmp_path / "r.html")])):
        rc, _, err = run_inprocess([command, str(out), *extra], capsys)
        assert rc == 2 and "--force" in one_line_error(err) and "fingerprint" in err
    rc, _, err = run_inprocess(tiny_args(out), capsys)  # nor does `run` adopt them
    assert rc == 2 and "fingerprint" in one_line_error(err)
    rc, stdout, err = run_inprocess(["compare", str(out), "--force"], capsys)
    assert rc == 0 and "--force: reading rows that are not the manifest's" in caplog.text and "dense" in stdout


def test_rows_of_two_suites_in_one_file_are_refused(tiny_run: Path, other_run: Path, tmp_path: Path) -> None:
    out = copy_folder(tiny_run, tmp_path / "r")
    with open(out / "cells.jsonl", "ab") as f:
        f.write((other_run / "cells.jsonl").read_bytes().splitlines(keepends=True)[1])
    from ecobench.errors import ResultsError

    with pytest.raises(ResultsError, match=r"cells.jsonl:9: row of suite fingerprint"):  # after 8 own rows
        load(out)
    assert len(load(out, force=True)) > 0


def test_new_with_an_existing_out_is_refused(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """Reproduction 7: `--new` with an existing --out silently resumed it."""
    out = copy_folder(tiny_run, tmp_path / "r")
    rc, _, err = run_inprocess([*tiny_args(out), "--new"], capsys)
    assert rc == 2 and "--new" in one_line_error(err)


def test_a_schema_2_folder_of_the_same_suite_is_resumed(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """Folders written before schema 3 (a name-less fingerprint, rows without one) still resume and read."""
    out = copy_folder(tiny_run, tmp_path / "r")
    suite = load_suite(SMOKE, TINY_SETS).suite
    m = json.loads((out / "manifest.json").read_text())
    m |= {"schema_version": 2, "suite_fingerprint": suite.legacy_fingerprint()}
    del m["manifest_sha256"]
    (out / "manifest.json").write_text(json.dumps(m))
    rows = cell_lines(out)
    for r in rows:
        r["schema"] = 2
        del r["suite_fingerprint"], r["dense_sha256"], r["row_sha256"]
    (out / "cells.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:-1]))  # the last cell to run again
    assert len(load(out)) > 0
    rc, _, err = run_inprocess(tiny_args(out), capsys)
    assert rc == 0, err
    assert json.loads((out / "manifest.json").read_text())["suite_fingerprint"] == suite.fingerprint()
    assert [r["schema"] for r in cell_lines(out)] == [2] * (len(rows) - 1) + [3]
    assert len(load(out)) > 0
