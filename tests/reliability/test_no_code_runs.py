"""No code of anyone else's runs during `validate` or `run` (issue 22, class 1): a `package:` name is found without
importing anything (and never in the current folder), and a checkpoint that ships code of its own (`auto_map`, or a
model type transformers does not know) is refused in one line, without reading standard input.

Each case has a marker: a file the hostile code would create if it ran. Every case exits 2 with one line, writes
nothing, creates no marker, changes no file, and ends within a bound."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

from .conftest import one_line_error, run_inprocess

BASE = """\
name: hostile
seeds: [0]
data:
  corpus: path
  path: {corpus}
  context: 16
model:
  pretrained: {pretrained}
train:
  steps: 4
  batch_size: 4
prune:
  methods:
    - name: magnitude
  ratios: [0, 0.5]
footprint:
  idle_seconds: 0
"""
MARK = "import pathlib; pathlib.Path({marker!r}).touch()\n"


def _weights(folder: Path) -> None:
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(folder / "model.safetensors"))


def _package(root: Path, name: str, marker: Path) -> Path:
    """A package folder whose import (of it or any module in it) touches `marker`."""
    d = root / name
    (d / "x").mkdir(parents=True)
    (d / "__init__.py").write_text(MARK.format(marker=str(marker)))
    (d / "x" / "__init__.py").write_text(MARK.format(marker=str(marker)))
    return d


def _checkpoint(root: Path, marker: Path, config: dict | None, tokenizer: dict | None = None) -> Path:
    """A local checkpoint with safetensors weights, a modeling.py that touches `marker` when imported, and the
    given config.json and tokenizer_config.json."""
    d = root / "ckpt"
    d.mkdir()
    _weights(d)
    for name in ("modeling.py", "tokenization.py"):
        (d / name).write_text(MARK.format(marker=str(marker)) + "class HostileConfig: pass\nclass HostileModel: pass\n")
    if config is not None:
        (d / "config.json").write_text(json.dumps(config))
    if tokenizer is not None:
        (d / "tokenizer_config.json").write_text(json.dumps(tokenizer))
    return d


AUTO_MAP = {"AutoConfig": "modeling.HostileConfig", "AutoModelForCausalLM": "modeling.HostileModel"}
GPT2 = {"model_type": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 16, "vocab_size": 64, "n_positions": 32}


@dataclass
class Case:
    id: str
    expect: str  # in the one error line


CASES = [
    Case("package_in_the_current_folder", "model.pretrained: package 'hostile.x' is not installed"),
    Case("package_this_zen", "model.pretrained: package 'this.x' is not installed"),
    Case("package_on_the_path_is_not_imported", "model.pretrained: no model weights in"),
    Case("package_name_with_dots_up", "model.pretrained: package '..etc' is not installed"),
    Case("auto_map_unknown_type", "names code of its own (auto_map: AutoConfig, AutoModelForCausalLM)"),
    Case("auto_map_known_type", "names code of its own (auto_map: AutoConfig, AutoModelForCausalLM)"),
    Case("unknown_model_type", "model_type 'hostile-net' is not one transformers ships"),
    Case("tokenizer_auto_map", "tokenizer_config.json names code of its own (auto_map: AutoTokenizer)"),
    Case("config_is_a_fifo", "config.json: is a FIFO, not a regular file"),
    Case("config_is_a_link_to_dev_zero", "config.json: is a symbolic link, not a regular file"),
]


def _setup(case: Case, tmp: Path, marker: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The `model.pretrained` value of a case, with what it names made in `tmp`."""
    if case.id == "package_in_the_current_folder":
        _package(tmp, "hostile", marker)
        monkeypatch.syspath_prepend(str(tmp))  # as `python -m ecobench` run in tmp has it (cwd first on sys.path)
        return "package:hostile.x"
    if case.id == "package_this_zen":
        return "package:this.x"
    if case.id == "package_on_the_path_is_not_imported":
        site = tmp / "site"
        _package(site, "hostile", marker)
        monkeypatch.syspath_prepend(str(site))  # an installed package: found, never imported
        return "package:hostile.x"
    if case.id == "package_name_with_dots_up":
        return "package:..etc"
    if case.id == "auto_map_unknown_type":
        return str(_checkpoint(tmp, marker, {"model_type": "hostile-net", "auto_map": AUTO_MAP}))
    if case.id == "auto_map_known_type":
        return str(_checkpoint(tmp, marker, {**GPT2, "auto_map": AUTO_MAP}))
    if case.id == "unknown_model_type":
        return str(_checkpoint(tmp, marker, {"model_type": "hostile-net"}))
    if case.id == "tokenizer_auto_map":
        return str(_checkpoint(tmp, marker, GPT2, {"auto_map": {"AutoTokenizer": ["tokenization.T", None]}}))
    d = _checkpoint(tmp, marker, None)
    if case.id == "config_is_a_fifo":
        os.mkfifo(d / "config.json")
    else:
        (d / "config.json").symlink_to("/dev/zero")
    return str(d)


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


@pytest.fixture
def bounded():
    """Fail, rather than hang, a case that blocks (a FIFO read) for more than 60 s."""
    import signal

    def hung(*_):
        raise AssertionError("the command hung")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_no_code_runs(case: Case, command: str, tmp_path: Path, capsys, monkeypatch, bounded) -> None:
    marker = tmp_path / "pwned"
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    pretrained = _setup(case, work, marker, monkeypatch)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("hello world. " * 400)
    suite = tmp_path / "suite.yaml"
    suite.write_text(BASE.format(corpus=corpus, pretrained=json.dumps(pretrained)))
    before = _digest(tmp_path)
    modules = set(sys.modules)
    out = tmp_path / "out"
    extra = ["--out", str(out), "-q"] if command == "run" else []
    rc, stdout, err = run_inprocess([command, str(suite), *extra], capsys)
    assert rc == 2, err
    assert case.expect in one_line_error(err), err
    assert "Beautiful is better than ugly" not in stdout + err  # `import this` prints the Zen of Python
    assert not marker.exists(), "hostile code ran"
    assert not {"hostile", "this", "modeling", "tokenization"} & (set(sys.modules) - modules)
    assert not out.exists() and not (work / "results").exists()
    assert _digest(tmp_path) == before


def test_every_transformers_loader_refuses_remote_code() -> None:
    """Source scan: every from_pretrained in the package is given LOADER_KW (trust_remote_code=False), so
    transformers neither runs a checkpoint's code nor asks on standard input whether to."""
    from ecobench.config.pretrained import LOADER_KW

    assert LOADER_KW == {"trust_remote_code": False}
    bad = []
    for path in (ROOT / "ecobench").rglob("*.py"):
        text = path.read_text()
        for m in re.finditer(r"\.from_pretrained\(", text):
            call = text[m.end(): text.find("\n", m.end())]
            if "LOADER_KW" not in call:
                bad.append(f"{path.relative_to(ROOT)}: {text[m.start(): m.end()]}{call}")
    assert bad == []


@pytest.mark.slow
def test_validate_with_auto_map_never_reads_stdin(tmp_path: Path) -> None:
    """As a user runs it, `echo y | python -m ecobench validate` from a folder holding a hostile package: exit 2,
    one line, nothing of the checkpoint's or the folder's code runs."""
    import subprocess

    marker = tmp_path / "pwned"
    _package(tmp_path, "transformers_stream_generator", marker)  # an optional import's name, shadowed in cwd
    ckpt = _checkpoint(tmp_path, marker, {"model_type": "hostile-net", "auto_map": AUTO_MAP})
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("hello world. " * 400)
    suite = tmp_path / "suite.yaml"
    suite.write_text(BASE.format(corpus=corpus, pretrained=json.dumps(str(ckpt))))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "ecobench", "validate", str(suite)], input="y\ny\ny\n",
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "names code of its own" in one_line_error(proc.stderr)
    assert "[y/N]" not in proc.stdout + proc.stderr
    assert not marker.exists()


@pytest.mark.slow
def test_python_m_does_not_resolve_packages_from_the_current_folder(tmp_path: Path) -> None:
    import subprocess

    marker = tmp_path / "pwned"
    _package(tmp_path, "hostile", marker)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("hello world. " * 400)
    suite = tmp_path / "suite.yaml"
    suite.write_text(BASE.format(corpus=corpus, pretrained="package:hostile.x"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "ecobench", "validate", str(suite)], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr
    assert "package 'hostile.x' is not installed" in one_line_error(proc.stderr)
    assert not marker.exists()
