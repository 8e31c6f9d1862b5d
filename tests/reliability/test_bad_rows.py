"""Rows are validated on load: a malformed row is one line naming file and line; a value no measurement can take
is shown as missing, never averaged or marked best; a seed count is the seeds actually averaged."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

from ecobench.config.base import fingerprint_of

from .conftest import cell_lines, copy_folder, one_line_error, run_inprocess, write_manifest, write_rows

MAG = "seed0/magnitude/layer/r0.5"


def _rewrite(out: Path, rows: list[dict]) -> None:
    write_rows(out, rows)  # sealed again: these tests are about values, not damaged bytes


def _two_seeds(tiny_run: Path, out: Path) -> list[dict]:
    """An edited copy of the tiny run with a second seed: seed 1's rows are seed 0's with every loss + 0.1 (the
    manifest's suite and fingerprint edited to match, as a real two-seed run would have them)."""
    copy_folder(tiny_run, out)
    m = json.loads((out / "manifest.json").read_text())
    m["suite"]["seeds"] = [0, 1]
    m["cells"] += [k.replace("seed0/", "seed1/") for k in m["cells"]]
    m["suite_fingerprint"] = fingerprint_of(m["suite"])
    write_manifest(out, m)
    rows = cell_lines(out)
    twins = json.loads(json.dumps(rows))
    for r in twins:
        r["key"] = r["cell"]["key"] = r["key"].replace("seed0/", "seed1/")
        r["cell"]["seed"] = 1
        r["metrics"]["loss"] += 0.1
    rows += twins
    for r in rows:
        r["suite_fingerprint"] = m["suite_fingerprint"]
    _rewrite(out, rows)
    return rows


def _csv(out: Path, capsys) -> dict[str, dict]:
    rc, stdout, err = run_inprocess(["compare", str(out), "--format", "csv"], capsys)
    assert rc == 0, err
    return {f"{r['method']}/{r['target']}": r for r in csv.DictReader(io.StringIO(stdout))}


@pytest.mark.parametrize("edit", ["no cell", "no seed", "seed a string", "key a number", "not an object", "status"])
def test_a_malformed_row_is_one_line_naming_file_and_line(tiny_run: Path, tmp_path: Path, capsys, edit: str) -> None:
    """Reproduction 6: a row without `cell` or `seed` was a traceback in compare."""
    out = copy_folder(tiny_run, tmp_path / "r")
    rows = cell_lines(out)
    r = rows[2]
    if edit == "no cell":
        del r["cell"]
    elif edit == "no seed":
        del r["cell"]["seed"]
    elif edit == "seed a string":
        r["cell"]["seed"] = "0"
    elif edit == "key a number":
        r["key"] = 3
    elif edit == "status":
        r["status"] = "fine"
    else:
        rows[2] = [r]
    _rewrite(out, rows)
    for command in (["compare", str(out)], ["report", str(out), "--out", str(tmp_path / "r.html")]):
        rc, _, err = run_inprocess(command, capsys)
        assert rc == 2 and f"{out / 'cells.jsonl'}:3: " in one_line_error(err)


@pytest.mark.parametrize("value", [-1e-6, math.inf, math.nan])
def test_an_invalid_energy_is_missing_and_never_best(tiny_run: Path, tmp_path: Path, capsys, caplog, value) -> None:
    """Reproduction 6: a negative energy was marked best."""
    out = copy_folder(tiny_run, tmp_path / "r")
    rows = cell_lines(out)
    for r in rows:
        if r["key"] == MAG:
            for ph in r["phases"]:
                ph["energy_kwh"] = value
    _rewrite(out, rows)
    rc, stdout, err = run_inprocess(["compare", str(out), "--format", "markdown", "--phase", "eval", "--view", "full"],
                                    capsys)  # the per-phase energy columns are in the full view
    assert rc == 0, err
    header = next(x for x in stdout.splitlines() if x.startswith("| method")).split("|")
    line = next(x for x in stdout.splitlines() if x.startswith("| magnitude") and "| 0.5 |" in x).split("|")
    col = next(i for i, h in enumerate(header) if h.strip().startswith("eval ("))
    assert line[col].strip() == "–"  # eval energy: missing, not bold, not a number
    assert "invalid value(s) shown as missing" in caplog.text and "hold invalid values" in stdout
    assert _csv(out, capsys)["magnitude/0.5"]["eval_energy_kwh"] == ""


@pytest.mark.parametrize("damage", ["nan loss", "no metrics", "negative loss"])
def test_the_seed_count_is_the_seeds_averaged(tiny_run: Path, tmp_path: Path, capsys, damage: str) -> None:
    """Reproduction 6: a NaN loss (or no metrics) for one seed was averaged away under a '2 seeds' label."""
    rows = _two_seeds(tiny_run, tmp_path / "r")
    whole = _csv(tmp_path / "r", capsys)["magnitude/0.5"]
    assert whole["n_seeds"] == "2"
    seed0 = next(r for r in rows if r["key"] == MAG)["metrics"]["loss"]
    for r in rows:
        if r["key"] == MAG.replace("seed0/", "seed1/"):
            if damage == "no metrics":
                r["metrics"] = {}
            else:
                r["metrics"]["loss"] = math.nan if damage == "nan loss" else -2.0
    _rewrite(tmp_path / "r", rows)
    row = _csv(tmp_path / "r", capsys)["magnitude/0.5"]
    assert (row["n_seeds"], row["n_cells"], row["n_invalid"]) == ("1", "2", "1")
    assert float(row["loss_mean"]) == pytest.approx(seed0) and row["loss_std"] == ""
    rc, stdout, _ = run_inprocess(["compare", str(tmp_path / "r")], capsys)
    line = next(x for x in stdout.splitlines() if x.startswith("magnitude") and " 0.5 " in x)
    assert "1 of 2" in line


def test_a_changed_digit_is_found_not_read_as_a_number(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """Rows and manifest carry checksums: a byte flip that leaves valid JSON (a loss 3.32 -> 3.33) is refused."""
    out = copy_folder(tiny_run, tmp_path / "r")
    raw = (out / "cells.jsonl").read_bytes()
    at = raw.index(b'"loss": 3.') + len(b'"loss": 3.')
    (out / "cells.jsonl").write_bytes(raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1:])
    rc, _, err = run_inprocess(["compare", str(out)], capsys)
    assert rc == 2 and "cells.jsonl:1: damaged results line" in one_line_error(err)
    out2 = copy_folder(tiny_run, tmp_path / "r2")
    text = (out2 / "manifest.json").read_text()
    (out2 / "manifest.json").write_text(text.replace('"torch_threads": 1', '"torch_threads": 3'))
    assert (out2 / "manifest.json").read_text() != text
    rc, _, err = run_inprocess(["compare", str(out2)], capsys)
    assert rc == 2 and "checksum does not match" in one_line_error(err)
