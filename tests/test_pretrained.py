"""A local Hugging Face checkpoint is pruned without training (train.steps: 0)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecobench.results import load_cells

from .reliability.conftest import run_inprocess

pytestmark = pytest.mark.slow


def test_local_pretrained_checkpoint_is_pruned_post_training(tmp_path: Path, capsys) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    ckpt = tmp_path / "tiny-gpt2"
    GPT2LMHeadModel(GPT2Config(vocab_size=256, n_positions=64, n_embd=32, n_layer=2, n_head=2)).save_pretrained(ckpt)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be, that is the question. " * 400)
    suite = tmp_path / "pre.yaml"
    suite.write_text(f"""\
# ecobench run pre.yaml
name: pre
seeds: [0]
data: {{corpus: path, path: "{corpus}", tokenizer: byte, context: 32}}
model: {{pretrained: "{ckpt}"}}
train: {{steps: 0}}
prune:
  methods: [{{name: wanda}}, {{name: magnitude}}, {{name: sparsegpt}}]
  ratios: [0, 0.5]
  calibration: {{batches: 2, batch_size: 4}}
eval: {{batches: 2, batch_size: 8}}
footprint: {{idle_seconds: 0, min_window_s: 0}}
""")
    rc, _, err = run_inprocess(["run", str(suite), "--out", str(tmp_path / "out"), "-q"], capsys)
    assert rc == 0, err
    cells = load_cells(tmp_path / "out")
    assert set(cells["method"]) == {"dense", "wanda", "magnitude", "sparsegpt"}
    assert (cells["status"] == "ok").all()
    by = cells.set_index("method")
    for m in ("wanda", "magnitude", "sparsegpt"):
        assert by.loc[m, "sparsity"] == pytest.approx(0.5, abs=1e-3)
    # the calibration methods read 2 x 4 windows of 32 training tokens; magnitude reads none
    assert by.loc["wanda", "calibration_tokens"] == by.loc["sparsegpt", "calibration_tokens"] == 256
    assert by.loc["magnitude", "calibration_tokens"] == 0
