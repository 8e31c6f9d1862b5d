"""Tiny Shakespeare ships with the package, is checked by its sha256 on every load, and `validate` never fetches."""

from __future__ import annotations

import fnmatch
import lzma
import urllib.request
from pathlib import Path

import pytest

import ecobench.data.corpus as corpus
from ecobench.cli import main
from ecobench.config.schema import DataConfig
from ecobench.errors import DataError
from tests.conftest import ROOT, SUITES


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """No network (every urlopen is recorded and refused), and an empty cache."""
    calls: list[str] = []

    def refuse(url, *args, **kwargs):
        calls.append(str(url))
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setenv("ECOBENCH_CACHE", str(tmp_path / "cache"))
    return calls


def test_the_packaged_copy_is_the_known_text(offline: list[str]) -> None:
    c = corpus.load_corpus(DataConfig(corpus="tinyshakespeare"))
    assert len(c.text.encode()) == 1_115_394
    assert c.sha256 == corpus.TINYSHAKESPEARE_SHA256
    assert c.text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")
    assert "packaged copy" in c.description
    assert offline == []


def test_a_damaged_packaged_copy_is_refused(offline: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    damaged = tmp_path / "t.txt.xz"
    damaged.write_bytes(lzma.compress(lzma.decompress(corpus.PACKAGED_TINYSHAKESPEARE.read_bytes()).replace(b"Romeo", b"Romeu")))
    monkeypatch.setattr(corpus, "PACKAGED_TINYSHAKESPEARE", damaged)
    with pytest.raises(DataError, match=f"data.corpus: checksum mismatch for the packaged copy .*expected {corpus.TINYSHAKESPEARE_SHA256}"):
        corpus.load_corpus(DataConfig(corpus="tinyshakespeare"))
    damaged.write_bytes(b"not xz")
    with pytest.raises(DataError, match="is unreadable"):
        corpus.load_corpus(DataConfig(corpus="tinyshakespeare"))


def test_the_paper_suite_validates_offline(offline: list[str], capsys: pytest.CaptureFixture) -> None:
    assert main(["validate", str(SUITES / "paper-llm.yaml")]) == 0
    out = capsys.readouterr().out
    assert "tinyshakespeare (packaged copy" in out and "10,770,816 parameters" in out
    assert offline == []


def test_validate_describes_an_uncached_url_without_fetching(offline: list[str], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    suite = tmp_path / "url.yaml"
    suite.write_text((SUITES / "paper-llm.yaml").read_text().replace(
        "  corpus: tinyshakespeare\n", "  corpus: tinyshakespeare\n  url: https://example.org/t.txt\n"))
    assert main(["validate", str(suite)]) == 0
    out = capsys.readouterr().out
    assert ("data: https://example.org/t.txt is not cached: it will be fetched at run time and checked against "
            f"sha256 {corpus.TINYSHAKESPEARE_SHA256}") in out
    assert offline == []
    assert main(["run", str(suite), "--out", str(tmp_path / "out"), "-q"]) == 2  # the run does try, and says so
    assert offline == ["https://example.org/t.txt"]
    assert "give a local copy with data.path" in capsys.readouterr().err


def test_the_packaged_copy_is_package_data() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["ecobench"]
    rel = corpus.PACKAGED_TINYSHAKESPEARE.relative_to(ROOT / "ecobench").as_posix()
    assert any(fnmatch.fnmatch(rel, p) for p in patterns), (rel, patterns)
