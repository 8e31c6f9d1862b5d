"""Issue 22, class 8 (and the `--set` alias bomb of class 5): smaller UX faults, each a case of the catalogue
contract (exit 0 or 2, one line, no traceback, nothing written, within a bound)."""

from __future__ import annotations

import hashlib
import resource
from pathlib import Path

import pytest

from .hostile import Case, both, run_case, suite

TEXT = "hello world. " * 400
SHA = hashlib.sha256(TEXT.encode()).hexdigest()


def _bomb() -> str:
    value = "{a: &a [x,x,x,x,x,x,x,x,x,x]"
    for i, prev in zip("bcdef", "abcde", strict=True):
        value += f", {i}: &{i} [" + ",".join([f"*{prev}"] * 10) + "]"
    return value + ", g: [" + ",".join(["*f"] * 10) + "]}"


def _not_gguf(tmp: Path) -> None:
    (tmp / "ckpt").mkdir()
    (tmp / "ckpt" / "model.gguf").write_bytes(b"PK\x03\x04 a zip, not a GGUF file")


def _folder_with_notes(tmp: Path) -> None:
    (tmp / "mine").mkdir()
    (tmp / "mine" / "notes.txt").write_text("my thesis")


def _glob_name(tmp: Path) -> None:
    (tmp / "run[1].txt").write_text(TEXT)


def _sparse_3gb(tmp: Path) -> None:
    with open(tmp / "big.txt", "wb") as f:
        f.write(TEXT.encode())
        f.truncate(3_000_000_000)  # sparse: costs no disk; read whole it would take ~6 GB of memory


CATALOGUE = [
    Case("set_duplicate_key_in_a_mapping", ["validate", "{tmp}/s.yaml", "--set", "prune.methods.0={name: magnitude, name: random}"],
         "--set prune.methods.0: cannot parse value", setup=suite()),
    Case("set_whole_method_entry", ["validate", "{tmp}/s.yaml", "--set", "prune.methods.0={name: random}"], "is valid",
         rc=0, setup=suite()),
    Case("set_alias_bomb", ["validate", "{tmp}/s.yaml", "--set", "train.steps=" + _bomb()],
         "expands to more than 100,000 values", setup=suite()),
    Case("set_long_value_is_cut_short", ["validate", "{tmp}/s.yaml", "--set", "train.steps=[" + "x," * 5000 + "x]"],
         "train.steps: Input should be a valid integer, got a list of 5,001 items", setup=suite()),
    Case("sha256_upper_case", ["validate", "{tmp}/s.yaml"], "is valid", rc=0,
         setup=suite(("  context: 16", f"  context: 16\n  sha256: {SHA.upper()}"))),
    Case("sha256_not_hex", ["validate", "{tmp}/s.yaml"], "data.sha256: sha256 must be 64 hexadecimal digits",
         setup=suite(("  context: 16", "  context: 16\n  sha256: abc"))),
    Case("max_chars_bounds_the_read", ["validate", "{tmp}/s.yaml"], "is valid", rc=0,
         setup=both(suite(("path: {tmp}/corpus.txt", "path: {tmp}/big.txt"),
                          ("  context: 16", "  context: 16\n  max_chars: 5000")), _sparse_3gb)),
    Case("path_with_glob_characters", ["validate", "{tmp}/s.yaml"], "1 file(s) matching", rc=0,
         setup=both(suite(("path: {tmp}/corpus.txt", "path: '{tmp}/run[1].txt'")), _glob_name)),
    Case("gguf_file_not_gguf", ["validate", "{tmp}/s.yaml"], "is not a GGUF file (it does not start with b'GGUF')",
         setup=both(suite(("  n_layer: 1", "  pretrained: {tmp}/ckpt\n  gguf_file: model.gguf\n  n_layer: 1")),
                    _not_gguf)),
    Case("unrelated_folder_as_out", ["run", "{tmp}/s.yaml", "--out", "{tmp}/mine", "-q"],
         "is not empty and not an ecobench results folder (it holds 'notes.txt')",
         setup=both(suite(), _folder_with_notes)),
    Case("no_inference_says_so", ["validate", "{tmp}/s.yaml"], "eval (no prefill or decode: eval.inference_tokens is 0)",
         rc=0, setup=suite()),
    Case("gpt2_structured_defaults_to_mlp", ["validate", "{tmp}/s.yaml"], "removes MLP neurons only here", rc=0,
         setup=suite(("ratios: [0, 0.5]", "ratios: [0, 0.5]\n  structures: [structured]"))),
    Case("gpt2_structured_heads_asked_for", ["validate", "{tmp}/s.yaml"], "prune.structured.heads: a GPT-2 with fewer heads",
         setup=suite(("ratios: [0, 0.5]", "ratios: [0, 0.5]\n  structures: [structured]\n  structured: {heads: true}"))),
]


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda c: c.id)
def test_ux_catalogue(case: Case, tmp_path: Path, capsys, monkeypatch, caplog) -> None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out, _ = run_case(case, tmp_path, capsys, monkeypatch, caplog)
    if case.id == "max_chars_bounds_the_read":
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
        assert grown_mb < 500, f"peak memory grew {grown_mb:.0f} MB for 5,000 characters"
        assert "5,000" in out or "train /" in out
