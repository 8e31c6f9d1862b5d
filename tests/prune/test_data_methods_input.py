"""Bad input for the data-reading methods and pretrained checkpoints: one line each, exit 2, before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.conftest import run_inprocess

SUITE = """\
name: s
seeds: [0]
data: {{corpus: path, path: "{corpus}", tokenizer: byte, context: 32}}
model: {model}
train: {{steps: {steps}}}
prune:
  methods: [{methods}]
  ratios: [0, 0.5]
  scope: {scope}
  calibration: {{batches: {batches}, batch_size: 4}}
eval: {{batches: 1, batch_size: 4}}
"""


def _suite(tmp_path: Path, *, model: str = "{n_layer: 1, n_head: 2, n_embd: 16}", steps: int = 2,
           methods: str = "{name: wanda}", scope: str = "layer", batches: int = 2) -> Path:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be, that is the question. " * 100)  # 4,300 bytes: ~120 windows of 32
    path = tmp_path / "s.yaml"
    path.write_text(SUITE.format(corpus=corpus, model=model, steps=steps, methods=methods, scope=scope,
                                 batches=batches))
    return path


def _validate(path: Path, capsys) -> tuple[int, str]:
    rc, out, err = run_inprocess(["validate", str(path)], capsys)
    return rc, err


def test_unknown_method_option_is_one_line_with_a_hint(tmp_path: Path, capsys) -> None:
    rc, err = _validate(_suite(tmp_path, methods="{name: wanda, compar: row}"), capsys)
    assert rc == 2
    assert err.strip() == "error: " + f"{tmp_path / 's.yaml'}:7: prune.methods[0].compar: unknown key (did you mean 'compare'?)"


def test_calibration_larger_than_the_training_split(tmp_path: Path, capsys) -> None:
    rc, err = _validate(_suite(tmp_path, batches=1000), capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "prune.calibration: 1000 x 4 windows of 32 tokens" in err and "more than the training split holds" in err
    rc, out, err = run_inprocess(["validate", str(_suite(tmp_path, batches=2))], capsys)
    assert rc == 0, err
    assert "calibration: 2 x 4 windows of 32 tokens (256 training tokens, fixed draw) for wanda" in out


def test_a_pickle_only_checkpoint_is_refused(tmp_path: Path, capsys) -> None:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text('{"model_type": "gpt2"}')  # a type transformers ships: only the weights are wrong
    (ckpt / "pytorch_model.bin").write_bytes(b"not even read")
    rc, err = _validate(_suite(tmp_path, model=f'{{pretrained: "{ckpt}"}}'), capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "model.pretrained: " in err and "only pickle weights" in err and "safetensors" in err


def test_a_missing_gguf_file_is_one_line(tmp_path: Path, capsys) -> None:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "other.gguf").write_bytes(b"GGUF")
    rc, err = _validate(_suite(tmp_path, model=f'{{pretrained: "{ckpt}", gguf_file: model.gguf}}'), capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "model.gguf_file: no such file in" in err and "GGUF files there: other.gguf" in err


def test_an_uninstalled_package_checkpoint_is_one_line(tmp_path: Path, capsys) -> None:
    rc, err = _validate(_suite(tmp_path, model="{pretrained: 'package:no_such_pkg_ecobench', gguf_file: m.gguf}"), capsys)
    assert rc == 2 and "package 'no_such_pkg_ecobench' is not installed" in err


@pytest.mark.parametrize("method", ["trajectory", "movement"])
def test_recorded_methods_need_training(tmp_path: Path, capsys, method: str) -> None:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "m.gguf").write_bytes(b"GGUF")
    model = f'{{pretrained: "{ckpt}", gguf_file: m.gguf}}'
    rc, err = _validate(_suite(tmp_path, model=model, steps=0, methods=f"{{name: {method}}}"), capsys)
    assert rc == 2
    assert err.strip().endswith(f"train.steps: {method} is recorded during training; a pretrained model needs a "
                                "recorded fine-tuning phase: set train.steps > 0")


def test_sparsegpt_refuses_global_scope_alone(tmp_path: Path, capsys) -> None:
    rc, err = _validate(_suite(tmp_path, methods="{name: sparsegpt}", scope="global"), capsys)
    assert rc == 2 and "it needs scope 'layer'" in err
    rc, out, err = run_inprocess(["validate", str(_suite(tmp_path, methods="{name: sparsegpt}, {name: wanda}",
                                                         scope="[layer, global]"))], capsys)
    assert rc == 0, err
    assert "cells: 4 = 1 dense references + 3 pruned" in out  # at 0.5, sparsegpt: layer only; wanda: both


def test_activation_methods_refuse_embedding_targets(tmp_path: Path, capsys) -> None:
    path = _suite(tmp_path)
    path.write_text(path.read_text().replace("  scope: layer\n", "  scope: layer\n  targets: {embeddings: true}\n"))
    rc, err = _validate(path, capsys)
    assert rc == 2 and "prune.targets.embeddings: wanda reads the input activations" in err


def test_sparsegpt_takes_n_m_and_refuses_structured(tmp_path: Path, capsys) -> None:
    path = _suite(tmp_path, methods="{name: sparsegpt}")
    text = path.read_text()
    path.write_text(text.replace("  scope: layer\n", "  scope: layer\n  structures: [unstructured, \"2:4\"]\n"))
    rc, out, _ = run_inprocess(["validate", str(path)], capsys)
    assert rc == 0 and "cells: 3 = 1 dense references + 2 pruned" in out
    path.write_text(text.replace("  scope: layer\n", "  scope: layer\n  structures: [unstructured, structured]\n"))
    rc, err = _validate(path, capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "prune.structures: sparsegpt rewrites weights rather than scoring them" in err and "drop structured" in err
    path.write_text(text.replace("{name: sparsegpt}", "{name: sparsegpt, blocksize: 6}").replace(
        "  scope: layer\n", "  scope: layer\n  structures: [\"2:4\"]\n"))
    rc, err = _validate(path, capsys)
    assert rc == 2 and "blocksize 6 is not a multiple of M in 2:4" in err
