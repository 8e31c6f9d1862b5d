"""The vision-language family: image-question data (digits-vqa, a user's JSONL), the llava model, targets by part,
and bad input refused in one line before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ecobench.config.schema import DataConfig, ModelConfig, TargetsConfig
from ecobench.errors import DataError, TargetsError
from ecobench.families import VISION_LANGUAGE, family_name, get
from ecobench.families.vision_language import END, IGNORE, IMAGE, PAD, batch_loss, load_vqa
from ecobench.models.build import build_model
from ecobench.prune.targets import select_targets

from .reliability.conftest import run_inprocess

TINY = ModelConfig(family="llava", n_layer=1, n_head=2, n_embd=16, vision_layers=1, image_size=8, patch_size=4)


def _digits(split_seed: int = 0) -> object:
    load_vqa.cache_clear()
    return load_vqa(DataConfig(corpus="digits-vqa", val_fraction=0.2, split_seed=split_seed), TINY)


def test_digits_data_is_deterministic_per_seed() -> None:
    a, b, c = _digits(3), _digits(3), _digits(4)
    for name in ("train", "val", "train_labels", "train_image", "val_image", "pixels"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert not torch.equal(a.val_image, c.val_image)  # another seed: another split
    assert a.corpus_sha256 == b.corpus_sha256
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert all(torch.equal(x, y) for x, y in zip(a.batch(8, g1).values(), a.batch(8, g2).values(), strict=True))


def test_split_never_shares_an_image() -> None:
    d = _digits(1)
    train, val = set(d.train_image.tolist()), set(d.val_image.tolist())
    assert not train & val
    assert len(train) + len(val) == 1797 == d.train_images + d.val_images
    assert d.val_images == round(0.2 * 1797)


def test_only_answer_tokens_are_scored() -> None:
    d = _digits()
    labels = d.train_labels
    assert (labels[:, : d.prompt_len] == IGNORE).all()  # image placeholders and question: never scored
    scored = labels != IGNORE
    assert torch.equal(labels[scored], d.train[scored])  # answers (and their end token) scored as they are
    assert (scored.sum(1) >= 2).all()  # at least one answer character and the end token
    assert (d.train[:, : d.layout.image_tokens] == d.layout.image).all()
    assert d.layout.image_tokens == (TINY.image_size // TINY.patch_size) ** 2


def test_loss_is_the_answer_cross_entropy() -> None:
    d = _digits()
    model = build_model(TINY, d.vocab_size, d.context, 0)
    batch = d.batch(4, torch.Generator().manual_seed(0))
    logits = model(input_ids=batch["input_ids"], pixel_values=batch["pixel_values"]).logits
    ce, n = 0.0, 0
    for b in range(4):
        for t in range(1, d.context):
            if batch["labels"][b, t] != IGNORE:
                ce -= torch.log_softmax(logits[b, t - 1], -1)[batch["labels"][b, t]].item()
                n += 1
    assert batch_loss(model, batch).item() == pytest.approx(ce / n, rel=1e-5)
    # the image matters: other pixels, another loss
    other = dict(batch, pixel_values=torch.flip(batch["pixel_values"], dims=[0]))
    assert batch_loss(model, other).item() != pytest.approx(batch_loss(model, batch).item(), rel=1e-6)


def test_evaluation_reports_accuracy_mae_and_chance() -> None:
    d = _digits()
    model = build_model(TINY, d.vocab_size, d.context, 0)
    ev = get(VISION_LANGUAGE).evaluate(model, d, 64, 2, "eval")
    m = ev.metrics
    assert m["val_questions"] == 128
    assert 0 <= m["accuracy"] <= 1 and 0 <= m["accuracy_chance"] <= 1
    assert m["mae"] >= 0 and m["mae_chance"] > 0
    # chance: the most frequent training answer of each question; digits are about uniform, so ~10% for "digit?"
    digit = [i for i, q in enumerate(d.val_questions) if q == "digit?"]
    hits = sum(d.val_answers[i] == d.chance["digit?"] for i in digit) / len(digit)
    assert 0.03 < hits < 0.2


def test_targets_by_part_select_exactly_the_named_modules() -> None:
    model = build_model(TINY, 24, 16, 0)
    linears = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    vision = {n for n in linears if ".vision_tower.encoder.layers." in n}
    projector = {n for n in linears if ".multi_modal_projector." in n}
    language = {n for n in linears if ".language_model.layers." in n}
    assert vision and len(projector) == 2 and language
    for parts, want in ((["vision"], vision), (["projector"], projector), (["language"], language),
                        (None, vision | language), (["vision", "projector", "language"], vision | projector | language)):
        got = set(select_targets(model, TargetsConfig(parts=parts)))
        assert got == want, parts
    assert "lm_head.weight" not in set(select_targets(model, TargetsConfig(parts=["language"])))


def test_a_text_model_has_no_vision_part() -> None:
    text = build_model(ModelConfig(family="llama", n_layer=1, n_head=2, n_embd=16), 32, 16, 0)
    assert set(select_targets(text, TargetsConfig(parts=["language"]))) == set(select_targets(text, TargetsConfig()))
    with pytest.raises(TargetsError, match="prune.targets.parts"):
        select_targets(text, TargetsConfig(parts=["vision"]))


def _png(path: Path, seed: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)).save(path)


def _jsonl(tmp_path: Path, lines: list[dict | str]) -> Path:
    for i in range(4):
        _png(tmp_path / f"im{i}.png", i)
    path = tmp_path / "vqa.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def test_a_users_jsonl_is_split_by_image(tmp_path: Path) -> None:
    rows = [{"image": f"im{i % 4}.png", "question": q, "answer": str(i)} for i in range(12) for q in ("a?", "bb?")]
    path = _jsonl(tmp_path, rows)
    load_vqa.cache_clear()
    d = load_vqa(DataConfig(corpus="path", path=str(path), val_fraction=0.25), TINY)
    assert d.pixels.shape == (4, 3, 8, 8)  # resized to model.image_size
    assert not set(d.train_image.tolist()) & set(d.val_image.tolist())
    assert len(d.train) + len(d.val) == 24 and d.val_images == 1


def test_the_char_vocabulary_comes_from_the_training_images_only(tmp_path: Path) -> None:
    """A character only a validation image's answer holds is not in the vocabulary (it maps to the unknown id);
    the shipped digits data, whose characters every split holds, keeps its ids."""
    rows = [{"image": f"im{i % 4}.png", "question": "a?", "answer": str(i % 3)} for i in range(12)]  # 0-2 on each
    load_vqa.cache_clear()
    base = load_vqa(DataConfig(corpus="path", path=str(_jsonl(tmp_path, rows)), val_fraction=0.25), TINY)
    val_image = int(base.val_image[0])
    rows += [{"image": f"im{val_image}.png", "question": "a?", "answer": "Z"}]
    load_vqa.cache_clear()
    d = load_vqa(DataConfig(corpus="path", path=str(_jsonl(tmp_path, rows)), val_fraction=0.25), TINY)
    assert not base.tokenizer.unknown and "Z" not in d.tokenizer.chars and d.tokenizer.unknown
    assert d.tokenizer.chars == base.tokenizer.chars and d.tokenizer.vocab_size == len(base.tokenizer.chars) + 1
    load_vqa.cache_clear()
    digits = load_vqa(DataConfig(corpus="digits-vqa"), TINY)
    assert not digits.tokenizer.unknown and digits.tokenizer.chars[:3] == [PAD, IMAGE, END]
    assert digits.tokenizer.chars[3:] == sorted(set(digits.tokenizer.chars[3:]))


@pytest.mark.parametrize(("line", "says"), [
    ({"image": "im1.png", "question": "q?"}, "`answer` is missing"),
    ({"image": "broken.png", "question": "q?", "answer": "1"}, "cannot be decoded"),
    ({"image": "absent.png", "question": "q?", "answer": "1"}, "not found"),
    ("{not json", "not a JSON object"),
])
def test_bad_jsonl_lines_name_file_and_line(tmp_path: Path, line: dict | str, says: str) -> None:
    path = _jsonl(tmp_path, [{"image": "im0.png", "question": "q?", "answer": "3"}, line])
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    load_vqa.cache_clear()
    with pytest.raises(DataError) as err:
        load_vqa(DataConfig(corpus="path", path=str(path)), TINY)
    assert f"{path}:2: " in str(err.value) and says in str(err.value)


def _suite(tmp_path: Path, data: str, model: str, tokenizer: str = "char", metric: str = "mae") -> Path:
    suite = tmp_path / "mm.yaml"
    suite.write_text(f"""\
# ecobench run mm.yaml
name: mm
seeds: [0]
data: {{{data}, tokenizer: {tokenizer}, val_fraction: 0.25}}
model: {{{model}}}
train: {{steps: 2, batch_size: 8, warmup_steps: 1, threads: 1}}
prune: {{methods: [{{name: magnitude}}], ratios: [0.5], recover_steps: 1}}
eval: {{batches: 1, batch_size: 16, metric: {metric}, inference_tokens: 1, inference_batch_sizes: [2], prefill_batches: 1}}
footprint: {{idle_seconds: 0, noise_windows: 2, min_window_s: 0}}
""")
    return suite


def _refused(tmp_path: Path, suite: Path, says: str, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    rc, _, err = run_inprocess(["run", str(suite), "--out", str(out), "-q"], capsys)
    assert rc == 2, err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and says in lines[0], err
    assert "Traceback" not in err
    assert not out.exists()  # nothing written


def test_run_refuses_a_jsonl_line_without_answer(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _jsonl(tmp_path, [{"image": "im0.png", "question": "q?", "answer": "3"},
                             {"image": "im1.png", "question": "q?"}])
    suite = _suite(tmp_path, f'corpus: path, path: "{path}"',
                   "family: llava, n_layer: 1, n_head: 2, n_embd: 16, vision_layers: 1")
    _refused(tmp_path, suite, f"{path}:2: `answer` is missing", capsys)


def test_run_refuses_an_undecodable_image(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _jsonl(tmp_path, [{"image": "im0.png", "question": "q?", "answer": "3"},
                             {"image": "broken.png", "question": "q?", "answer": "1"}])
    (tmp_path / "broken.png").write_bytes(b"GIF89a garbage")
    suite = _suite(tmp_path, f'corpus: path, path: "{path}"',
                   "family: llava, n_layer: 1, n_head: 2, n_embd: 16, vision_layers: 1")
    _refused(tmp_path, suite, f"{path}:2: image 'broken.png' cannot be decoded", capsys)


def test_run_refuses_a_text_checkpoint_for_image_data(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    ckpt = tmp_path / "tiny-gpt2"
    GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=32, n_embd=16, n_layer=1, n_head=2)).save_pretrained(ckpt)
    assert family_name(ModelConfig(pretrained=str(ckpt))) != VISION_LANGUAGE
    suite = _suite(tmp_path, "corpus: digits-vqa", f'pretrained: "{ckpt}"', tokenizer="pretrained", metric="loss")
    _refused(tmp_path, suite, "is not an image-text model", capsys)


def test_text_corpus_metric_and_calibration_are_refused_for_their_family(tmp_path: Path, capsys) -> None:
    suite = _suite(tmp_path, "corpus: digits-vqa", "family: gpt2, n_layer: 1, n_head: 2, n_embd: 16")
    rc, _, err = run_inprocess(["validate", str(suite)], capsys)
    assert rc == 2
    assert "data.corpus: 'digits-vqa' is image + question data" in err
    assert "eval.metric: 'mae'" in err


def _tiny_vlm(folder: Path) -> None:
    """A random llava of a few thousand weights with its own tokenizer, saved as a user's checkpoint is."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        PreTrainedTokenizerFast,
    )

    unknown = "<unk>"
    tok = Tokenizer(models.BPE(unk_token=unknown))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(["digit? 0 1 2 3 4 5 6 7 8 9", "lit in row 0? 1 2 3 4 5 6 7 8"], trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<pad>", "<image>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    specials = {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": unknown}
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **specials)
    fast.save_pretrained(folder)
    vision = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                              image_size=16, patch_size=8)
    text = LlamaConfig(vocab_size=len(fast), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                       eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    config = LlavaConfig(vision_config=vision, text_config=text, image_seq_length=4, vision_feature_layer=-1,
                         image_token_index=fast.convert_tokens_to_ids("<image>"))
    LlavaForConditionalGeneration(config).save_pretrained(folder)


@pytest.mark.slow
def test_a_local_image_text_checkpoint_runs_a_cell(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ckpt = tmp_path / "tiny-vlm"
    _tiny_vlm(ckpt)
    assert family_name(ModelConfig(pretrained=str(ckpt))) == VISION_LANGUAGE
    suite = _suite(tmp_path, "corpus: digits-vqa", f'pretrained: "{ckpt}"', tokenizer="pretrained")
    out = tmp_path / "out"
    rc, _, err = run_inprocess(["run", str(suite), "--out", str(out), "-q"], capsys)
    assert rc == 0, err
    from ecobench.results import load_cells

    cells = load_cells(out).set_index("method")
    assert (cells["status"] == "ok").all()
    assert cells.loc["magnitude", "sparsity"] == pytest.approx(0.5, abs=1e-3)
    for m in ("loss", "accuracy", "mae", "mae_chance"):
        assert np.isfinite(cells.loc["magnitude", m]), m
    # the 16x16 vision tower of the checkpoint read the 8x8 digits resized to its size: 4 image tokens each
    assert set(cells.loc["magnitude", "layer_sparsity"]) >= {
        "model.vision_tower.encoder.layers.0.mlp.fc1.weight", "model.language_model.layers.0.mlp.up_proj.weight"}
    # compare shows the answer metrics by default; figure 1 plots the suite's eval.metric
    rc, stdout, err = run_inprocess(["compare", str(out), "--format", "csv"], capsys)
    assert rc == 0, err
    header = next(line for line in stdout.splitlines() if line.startswith("run,"))
    assert {"accuracy_mean", "mae_mean", "loss_mean"} <= set(header.split(","))
    from ecobench.report.figure_base import prepare
    from ecobench.results import load

    assert prepare(load(out)).metric == "mae"


def test_the_run_summary_prints_dense_accuracy_and_mae_beside_chance() -> None:
    import pandas as pd

    from ecobench.runner import summary_table

    rows = [{"status": "ok", "key": f"seed{s}/dense", "method": "dense", "ratio": 0.0, "multiplier": None,
             "scope": "-", "structure": "-", "loss": 0.5, "sparsity": 0.0, "accuracy": acc, "accuracy_chance": 0.25,
             "mae": 0.7, "mae_chance": 2.5} for s, acc in ((0, 0.6), (1, 0.8))]
    first = summary_table(pd.DataFrame(rows)).splitlines()[0]
    assert first == ("dense loss: 0.5000, accuracy 0.7000 (chance 0.2500), mae 0.7000 (chance 2.5000) on validation "
                     "images never trained on (n=2 seeds)")
    text = summary_table(pd.DataFrame([{k: v for k, v in r.items() if "accuracy" not in k and "mae" not in k}
                                       for r in rows]))
    assert text.splitlines()[0] == "dense loss: 0.5000 (n=2 seeds)"  # a text run: loss alone, as before
