"""A local Hugging Face checkpoint is pruned without training (train.steps: 0)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecobench.results import load_cells

from .conftest import run_cli

pytestmark = pytest.mark.slow


def test_local_pretrained_checkpoint_is_pruned_post_training(tmp_path: Path) -> None:
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
  methods: [{{name: trajectory}}, {{name: magnitude}}]
  ratios: [0, 0.5]
eval: {{batches: 2, batch_size: 8}}
footprint: {{idle_seconds: 0}}
""")
    proc = run_cli("run", str(suite), "--out", str(tmp_path / "out"), "-q")
    assert proc.returncode == 0, proc.stderr
    cells = load_cells(tmp_path / "out")
    assert set(cells["method"]) == {"dense", "trajectory", "magnitude"}
    assert (cells["status"] == "ok").all()
    # with no training the trajectory is the loaded weights alone, so it ranks exactly as magnitude does
    by = cells.set_index("method")
    assert by.loc["trajectory", "loss"] == pytest.approx(by.loc["magnitude", "loss"])
    assert by.loc["magnitude", "sparsity"] == pytest.approx(0.5, abs=1e-3)
