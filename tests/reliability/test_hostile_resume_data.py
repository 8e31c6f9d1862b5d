"""Issue 22, class 3: a resume never mixes data. The corpus's and the tokenizer's sha256 bind a results folder as
its suite's fingerprint does: edit a `data.path` corpus between sessions (one character is enough) and the resume
is refused in one line naming both digests, before anything is measured or written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecobench.store import data_problem

from .conftest import cell_lines, ecobench, write_rows
from .hostile import Case, run_case, suite


@pytest.fixture(scope="module")
def path_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small path-corpus suite, run once (2 cells)."""
    root = tmp_path_factory.mktemp("pathrun")
    suite()(root)
    assert ecobench(["run", str(root / "s.yaml"), "--out", str(root / "r"), "-q"]) == 0
    return root


def _copy(path_run: Path, tmp: Path, drop_last_row: bool) -> None:
    """The finished folder copied to `tmp`/r (the suite and its corpus stay where they were: their path is part of
    the suite's fingerprint)."""
    import shutil

    shutil.copytree(path_run / "r", tmp / "r", ignore=shutil.ignore_patterns("lock.json"))
    if drop_last_row:
        write_rows(tmp / "r", cell_lines(tmp / "r")[:-1])


@pytest.fixture
def corpus(path_run: Path):
    """The suite's corpus, put back as it was after the test edits it."""
    from ecobench.data.dataset import load_data

    path = path_run / "corpus.txt"
    text = path.read_text()
    load_data.cache_clear()  # a process that ran before the edit holds the old text (one run per process for users)
    yield path
    path.write_text(text)
    load_data.cache_clear()


@pytest.mark.parametrize("drop_last_row", [True, False], ids=["unfinished", "finished"])
@pytest.mark.parametrize("how", ["one_more_char", "one_char_changed", "same_length_swap"])
def test_resume_on_an_edited_corpus_is_refused(how: str, drop_last_row: bool, path_run: Path, corpus: Path,
                                               tmp_path: Path, capsys, monkeypatch) -> None:
    _copy(path_run, tmp_path, drop_last_row)
    was = json.loads((tmp_path / "r" / "manifest.json").read_text())["data"]["corpus_sha256"]
    text = corpus.read_text()
    corpus.write_text({"one_more_char": text + "Z", "one_char_changed": "J" + text[1:],
                       "same_length_swap": text[::-1]}[how])
    case = Case(how, ["run", str(path_run / "s.yaml"), "--out", "{tmp}/r", "-q"],
                f"r: the corpus changed since this folder's earlier sessions (sha256 {was} then, ")
    _, err = run_case(case, tmp_path, capsys, monkeypatch)
    assert "now); restore it, or run into a new --out" in err


def test_resume_on_the_same_corpus_goes_on(path_run: Path, tmp_path: Path) -> None:
    _copy(path_run, tmp_path, drop_last_row=True)
    rc = ecobench(["run", str(path_run / "s.yaml"), "--out", str(tmp_path / "r"), "-q"])
    assert rc == 0 and len(cell_lines(tmp_path / "r")) == 2
    m = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert len(m["data"]["tokenizer_sha256"]) == 64


@pytest.mark.parametrize("key", ["corpus_sha256", "tokenizer_sha256"])
def test_data_problem_names_both_digests(key: str) -> None:
    old = {"data": {"corpus_sha256": "a" * 64, "tokenizer_sha256": "b" * 64}}
    new = {"data": dict(old["data"]) | {key: "c" * 64}}
    problem = data_problem(old, new)
    assert problem is not None and old["data"][key] in problem and "c" * 64 in problem
    assert data_problem(old, old) is None
    assert data_problem({"data": {"corpus_sha256": "a" * 64}}, new if key == "tokenizer_sha256" else old) is None
