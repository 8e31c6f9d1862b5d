"""Untrusted inputs: results are JSON and weights safetensors (never unpickled); a corpus URL is fetched only with
its checksum, and bytes that fail it are neither used nor cached."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import re
import urllib.request
from pathlib import Path

import pytest
import torch

import ecobench
import ecobench.data.corpus as corpus
from ecobench.config.load import load_suite
from ecobench.config.schema import DataConfig
from ecobench.dense import load_dense, load_recorded
from ecobench.errors import DataError, ResultsError, UserError
from ecobench.results import load, load_cells, load_manifest

from .conftest import SMOKE, TINY_SETS, run_inprocess

PACKAGE = Path(ecobench.__file__).parent


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("something was unpickled")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)


def test_reading_a_results_folder_never_unpickles(tiny_run: Path, no_unpickling) -> None:
    assert load_manifest(tiny_run)["schema_version"] >= 1
    assert len(load(tiny_run)) > 0 and len(load_cells(tiny_run)) > 0
    suite = load_suite(SMOKE, TINY_SETS).suite
    from ecobench.data.dataset import load_data

    data = load_data(suite.data, suite.model)
    dense = tiny_run / "dense" / "seed-0"
    assert sum(p.numel() for p in load_dense(suite, 0, dense, data).parameters()) > 0
    assert load_recorded(dense)


def test_a_pickle_in_the_results_is_data_not_code(tiny_run: Path, tmp_path: Path) -> None:
    """A results line that is really a pickle is reported as corrupt; nothing runs."""
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(tiny_run, out)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    with open(out / "cells.jsonl", "ab") as f:
        f.write(pickle.dumps(Payload()) + b"\n")
    with pytest.raises(ResultsError, match="corrupt results line"):
        load(out)
    assert not marker.exists()


def test_the_package_has_no_unsafe_loaders() -> None:
    """Source scan: no pickle, no torch.load without weights_only=True, no unsafe YAML, no allow_pickle=True."""
    bad = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        for pattern in (r"\bimport pickle\b", r"\bimport dill\b", r"allow_pickle\s*=\s*True", r"yaml\.(unsafe_load|full_load)",
                        r"yaml\.load\((?![^)]*Loader=SuiteLoader)", r"trust_remote_code\s*=\s*True", r"(?<![.\w])eval\(", r"(?<![.\w])exec\("):
            bad += [f"{path.relative_to(PACKAGE)}: {m.group(0)}" for m in re.finditer(pattern, text)]
        for m in re.finditer(r"torch\.load\(([^)]*)\)", text):
            if "weights_only=True" not in m.group(1):
                bad.append(f"{path.relative_to(PACKAGE)}: {m.group(0)}")
    assert bad == []


# ----------------------------------------------------------------------------- corpus by URL


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    """urlopen answers with `served['body']` and counts its calls; the cache is a fresh folder."""
    state = {"body": b"", "calls": 0}

    def urlopen(url, timeout=None):
        state["calls"] += 1
        if isinstance(state["body"], Exception):
            raise state["body"]
        return FakeResponse(state["body"])

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setenv("ECOBENCH_CACHE", str(tmp_path / "cache"))
    return state


def _cached_files(tmp_path: Path) -> list[Path]:
    root = tmp_path / "cache"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_fetch_refuses_bytes_that_fail_the_checksum(served: dict, tmp_path: Path) -> None:
    served["body"] = b"print('hello')  # not the corpus you asked for\n"
    dest = tmp_path / "cache" / "corpora" / "x.txt"
    want = hashlib.sha256(b"the real corpus").hexdigest()
    with pytest.raises(DataError, match=f"data.sha256: checksum mismatch for https://example.org/c.txt: expected {want}"):
        corpus._fetch("https://example.org/c.txt", want, dest)
    assert _cached_files(tmp_path) == []


def test_fetch_refuses_an_oversized_download(served: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpus, "MAX_DOWNLOAD_BYTES", 1000)
    served["body"] = b"x" * 5000
    with pytest.raises(DataError, match="larger than 1000 bytes"):
        corpus._fetch("https://example.org/c.txt", "0" * 64, tmp_path / "cache" / "c.txt")
    assert _cached_files(tmp_path) == []


def test_fetch_failure_says_how_to_work_offline(served: dict, tmp_path: Path) -> None:
    served["body"] = OSError("network unreachable")
    with pytest.raises(DataError, match="cannot fetch .*network unreachable; give a local copy with data.path"):
        corpus._fetch("https://example.org/c.txt", "0" * 64, tmp_path / "c.txt")


def test_a_verified_download_is_cached_and_reused(served: dict, tmp_path: Path) -> None:
    body = ("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 50).encode()
    served["body"] = body
    cfg = DataConfig(corpus="tinyshakespeare", url="https://example.org/t.txt", sha256=hashlib.sha256(body).hexdigest())
    assert corpus.load_corpus(cfg).text == body.decode()
    assert corpus.load_corpus(cfg).text == body.decode()
    assert served["calls"] == 1
    assert [p.read_bytes() for p in _cached_files(tmp_path)] == [body]


def test_suite_with_a_url_that_fails_its_checksum(served: dict, tmp_path: Path, capsys) -> None:
    served["body"] = b"<html>404 not found</html>"
    suite = tmp_path / "url.yaml"
    suite.write_text(SMOKE.read_text().replace("  corpus: shakespeare\n", "  corpus: tinyshakespeare\n  url: https://example.org/t.txt\n"))
    rc, _, err = run_inprocess(["run", str(suite), "--out", str(tmp_path / "out"), "-q"], capsys)
    assert rc == 2
    assert err.startswith(f"error: {suite}:6: data.sha256: checksum mismatch for https://example.org/t.txt: expected 86c4e6aa")
    assert not (tmp_path / "out").exists() and _cached_files(tmp_path) == []


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pretrained_pickle_weights_are_not_executed(tmp_path: Path) -> None:
    """A local checkpoint whose weights file is a malicious pickle: loading it never runs the payload."""
    from transformers import GPT2Config

    from ecobench.config.schema import ModelConfig
    from ecobench.models.build import build_model

    ckpt = tmp_path / "ckpt"
    GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=50, n_positions=32).save_pretrained(ckpt)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (ckpt / "pytorch_model.bin").write_bytes(pickle.dumps({"transformer.wte.weight": Payload()}))
    with pytest.raises(UserError, match="model.pretrained: .* holds only pickle weights"):  # one line, never read
        build_model(ModelConfig(pretrained=str(ckpt)), 50, 32, 0)
    assert not marker.exists()
    json.loads((ckpt / "config.json").read_text())  # the checkpoint is still only data
