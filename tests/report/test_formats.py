"""Output formats: CSV round-trips through pandas, LaTeX has one row per group, Markdown and the CLI."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from ecobench.errors import UserError
from ecobench.report.formats import latex_escape, parse_list, render
from ecobench.report.tables import compare_frame
from ecobench.results import load


@pytest.fixture(scope="module")
def agg(smoke_run) -> pd.DataFrame:
    return compare_frame(load(smoke_run))


def test_csv_round_trips(agg) -> None:
    back = pd.read_csv(io.StringIO(render(agg, "csv")))
    assert len(back) == len(agg)
    for col in back.columns:
        if pd.api.types.is_numeric_dtype(back[col]) and col not in ("estimated",):
            pd.testing.assert_series_equal(back[col].astype(float), agg[col].astype(float), check_names=False,
                                           rtol=1e-12)
        else:
            assert back[col].astype(str).tolist() == agg[col].astype(str).tolist(), col
    assert {"cell_energy_kwh", "train_energy_kwh", "pipeline_co2e_g", "loss_std", "estimated"} <= set(back.columns)


def test_latex_one_row_per_group(agg) -> None:
    tex = render(agg, "latex", view="full")  # every column; the default view is the compact paper table
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    body = tex.split("\\midrule", 1)[1].split("\\bottomrule")[0]
    rows = [line for line in body.splitlines() if line.endswith("\\\\")]
    assert len(rows) == len(agg)
    assert "\\textbf{" in tex  # best per column
    header = tex.split("\\toprule")[1].split("\\\\")[0]
    assert "nats/token" in header and "Wh" in header and "CO\\textsubscript{2}e" in header


def test_latex_escapes_text() -> None:
    assert latex_escape("a_b & 50% #1 {x}") == r"a\_b \& 50\% \#1 \{x\}"


def test_markdown_and_metric_phase_selection(agg) -> None:
    md = render(agg, "markdown", ["loss", "ppl"], ["recover", "total"], view="full")
    lines = [line for line in md.splitlines() if line.startswith("|")]
    assert len(lines) == len(agg) + 2
    head = lines[0]
    assert "ppl" in head and "recover" in head and "cell energy" in head and "eval (" not in head


def test_unknown_metric_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown metric 'los'"):
        parse_list(["loss,los"], ("loss", "bpc"), "metric")


def test_cli_compare_writes_file(smoke_run, tmp_path, cli) -> None:
    out = tmp_path / "t.csv"
    proc = cli("compare", str(smoke_run), "--format", "csv", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_csv(out)) == len(load(smoke_run).drop_duplicates("key"))
    proc = cli("compare", str(smoke_run), "--metric", "nope")
    assert proc.returncode == 2 and "unknown metric" in proc.stderr and "Traceback" not in proc.stderr
