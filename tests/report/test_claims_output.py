"""`ecobench claims` and the claims in compare, report and statement, on a folder the real runner wrote (the smoke
suite, seeds 1 and 2, ratio 0.5, shortest windows) with claims added to its manifest's suite (claims are not part of the
fingerprint, so the folder stays whole)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ecobench.cli import main as ecobench

from .conftest import copy_run

pytestmark = pytest.mark.slow  # every test reads a second real run (two seeds, ~13 s to make): end to end

CLAIMS = [
    {"name": "keeps-quality", "says": "moderate pruning keeps quality", "form": "not_worse", "metric": "loss",
     "cells": {"method": "trajectory", "ratio": 0.5}, "than": "dense+recover", "margin": 5.0},
    {"name": "beats-magnitude", "form": "better", "cells": {"method": "trajectory"}, "than": {"method": "magnitude"}},
    {"name": "huge-harm", "form": "much_worse", "cells": {"method": "random", "ratio": 0.5}, "effect": 50.0},
    {"name": "cheaper-eval", "form": "ratio_below", "metric": "eval_ratio", "cells": {"method": "magnitude"},
     "bound": 1.0},
]


@pytest.fixture(scope="module")
def claims_run(seeds_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    def add(m: dict) -> None:
        m["suite"]["claims"] = CLAIMS

    return copy_run(seeds_run, tmp_path_factory.mktemp("claims") / "run", suite_edit=add)


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = ecobench(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_claims_prints_one_verdict_per_claim(claims_run: Path, capsys) -> None:
    rc, out, err = _run(["claims", str(claims_run)], capsys)
    assert rc == 0, err  # a verdict is a result, not an error
    verdict_lines = [ln for ln in out.splitlines() if ln.split(" ")[0] in ("HOLDS", "CONTRADICTED", "INCONCLUSIVE")]
    assert [ln.split()[1] for ln in verdict_lines] == [c["name"] for c in CLAIMS]
    assert all("(Holm)" in ln and "2 seed(s)" in ln for ln in verdict_lines)
    assert "“moderate pruning keeps quality”" in out
    # 5 nats of slack: trajectory at 0.5 is within it on both seeds, far beyond any noise: it holds; random at 0.5
    # is not 50 nats worse than dense: contradicted
    assert verdict_lines[0].startswith("HOLDS") and verdict_lines[2].startswith("CONTRADICTED")


def test_strict_exits_1_when_a_claim_does_not_hold(claims_run: Path, capsys) -> None:
    assert _run(["claims", str(claims_run), "--strict"], capsys)[0] == 1


def test_json_markdown_latex(claims_run: Path, capsys) -> None:
    rc, out, _ = _run(["claims", str(claims_run), "--format", "json"], capsys)
    data = json.loads(out)
    assert rc == 0 and [c["name"] for c in data["claims"]] == [c["name"] for c in CLAIMS]
    first = data["claims"][0]
    assert first["verdict"] == "holds" and first["seeds"] == 2 and len(first["per_seed"]) == 2
    assert first["ci_low"] < first["estimate"] < first["ci_high"] and 0 <= first["p_holm"] <= 1
    assert first["p_sign_flip"] is not None  # under 5 seeds the exact sign-flip test is beside the t test
    rc, out, _ = _run(["claims", str(claims_run), "--format", "markdown"], capsys)
    assert "| keeps-quality |" in out and out.count("\n|") == len(CLAIMS) + 2  # header, rule, a row per claim
    rc, out, _ = _run(["claims", str(claims_run), "--format", "latex"], capsys)
    assert "\\begin{tabular}" in out and "keeps-quality" in out and "dense+recover" in out


def test_compare_prints_the_verdicts_under_its_table(claims_run: Path, capsys) -> None:
    rc, out, _ = _run(["compare", str(claims_run)], capsys)
    assert rc == 0
    tail = out[out.index("claims of run"):]
    assert "4 claim(s)" in tail and "keeps-quality" in tail and "(Holm)" in tail


def test_report_opens_with_the_claims(claims_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.html"
    assert _run(["report", str(claims_run), "--out", str(out)], capsys)[0] == 0
    page = out.read_text()
    assert page.index("<h2>Claims</h2>") < page.index("<h2>Summary</h2>")
    assert "moderate pruning keeps quality" in page


def test_statement_says_which_claims_hold(claims_run: Path, capsys) -> None:
    rc, out, _ = _run(["statement", str(claims_run)], capsys)
    assert rc == 0 and "Of the suite's 4 stated claims" in out and "“moderate pruning keeps quality” holds" in out


def test_a_run_without_claims_is_refused_in_one_line_and_shows_none(seeds_run: Path, capsys) -> None:
    rc, _, err = _run(["claims", str(seeds_run)], capsys)
    assert rc == 2 and err.count("\n") == 1 and "states no claims" in err
    rc, out, _ = _run(["compare", str(seeds_run)], capsys)
    assert rc == 0 and "claims of" not in out


def test_suite_file_judges_a_finished_run_on_new_claims(claims_run: Path, tmp_path: Path, capsys) -> None:
    """--suite: the same experiment with other claims; a suite that differs in more than claims is refused."""
    suite = json.loads((claims_run / "manifest.json").read_text())["suite"]
    suite["claims"] = CLAIMS[:1]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(suite))
    rc, out, err = _run(["claims", str(claims_run), "--suite", str(path)], capsys)
    assert rc == 0, err
    assert "1 claim(s)" in out and "beats-magnitude" not in out
    suite["train"]["steps"] += 1
    path.write_text(yaml.safe_dump(suite))
    rc, _, err = _run(["claims", str(claims_run), "--suite", str(path)], capsys)
    assert rc == 2 and "only `claims:` may differ" in err
