"""The vision-language family (llava, or a pretrained image-text-to-text folder): image + question -> answer.

A sequence is `[image] x N | question (left-padded) | answer | end | pad`, one fixed shape for the whole data set,
so batches are plain tensors and the prompt (image + question) has one length P. The loss is the answer tokens'
cross-entropy (the end token included); evaluation adds exact-match accuracy and the mean absolute error of
numeric answers, both from greedy generation (prefill the prompt, decode the answer), beside what always answering
each question's most frequent training answer would score (`*_chance`).
"""

from __future__ import annotations

import functools
import math
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ecobench.config.schema import DataConfig, ModelConfig
from ecobench.data.tokenizer import CharTokenizer, HFTokenizer
from ecobench.data.vqa import Examples, load_examples, numeric, split_images
from ecobench.device import model_device, to_device
from ecobench.errors import CellFailed, DataError
from ecobench.families import VISION_LANGUAGE, Family, register
from ecobench.train import EvalResult, _cache_of

PAD, IMAGE, END = "\x00", "\x01", "\x04"  # char tokenizer specials, ids 0, 1, 2 (the llava builder relies on them)
PAD_ID, IMAGE_ID, END_ID = 0, 1, 2
IGNORE = -100


@dataclass
class Layout:
    pad: int
    image: int
    end: int
    image_tokens: int  # N placeholders, one per image feature the vision tower hands the language model
    image_size: int
    mean: tuple[float, ...]  # pixel normalisation
    std: tuple[float, ...]


@dataclass
class VQAData:
    """Image-question examples as fixed-shape tensors; `train`/`val` are the (examples, T) token ids."""

    train: torch.Tensor  # (N_train, T) int64
    val: torch.Tensor  # (N_val, T) int64
    train_labels: torch.Tensor  # (N_train, T): answer ids where scored, IGNORE elsewhere
    val_labels: torch.Tensor
    train_image: torch.Tensor  # (N_train,) index into pixels
    val_image: torch.Tensor
    pixels: torch.Tensor  # (n_images, 3, S, S) float32, normalised
    val_answers: list[str]
    val_questions: list[str]
    chance: dict[str, str]  # question -> most frequent training answer (the chance baseline)
    tokenizer: object
    layout: Layout
    context: int  # T: tokens per sequence
    prompt_len: int  # P: image placeholders + question
    corpus_sha256: str
    description: str
    train_images: int
    val_images: int
    chars_per_token: float = 1.0
    family: str = VISION_LANGUAGE

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def _batch(self, ids: torch.Tensor, labels: torch.Tensor, image: torch.Tensor, ix: torch.Tensor) -> dict:
        return {"input_ids": ids[ix], "pixel_values": self.pixels[image[ix]], "labels": labels[ix]}

    def batch(self, batch_size: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        """Random training examples; `gen` makes the order reproducible."""
        ix = torch.randint(len(self.train), (batch_size,), generator=gen, device="cpu")
        return self._batch(self.train, self.train_labels, self.train_image, ix)

    def val_windows(self) -> int:
        return len(self.val)

    def val_indices(self, count: int | None) -> list[int]:
        """All validation examples, or `count` spread evenly over them (the same for every cell)."""
        n = len(self.val)
        return list(range(n)) if count is None or count >= n else [i * n // count for i in range(count)]

    def val_batches(self, batch_size: int, max_batches: int | None):
        idx = self.val_indices(None if max_batches is None else max_batches * batch_size)
        for start in range(0, len(idx), batch_size):
            ix = torch.tensor(idx[start : start + batch_size], device="cpu")
            yield ix, self._batch(self.val, self.val_labels, self.val_image, ix)


def batch_loss(model: nn.Module, batch: dict[str, torch.Tensor], reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of the answer tokens (labels != IGNORE), each predicted from the tokens before it."""
    logits = model(input_ids=batch["input_ids"], pixel_values=batch["pixel_values"]).logits  # (B, T, V)
    target = batch["labels"][:, 1:]  # (B, T-1)
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), target.reshape(-1), ignore_index=IGNORE,
                           reduction=reduction)


def prompts(data: VQAData, batch_size: int, prompt_len: int, start: int = 0) -> dict[str, torch.Tensor]:
    """`batch_size` validation prompts (image + question: `data.prompt_len` tokens; `prompt_len` is the text
    family's and does not apply), the same for every model given the same start."""
    n = len(data.val)
    ix = torch.tensor([(start * batch_size + b) % n for b in range(batch_size)], device="cpu")
    return {"input_ids": data.val[ix, : data.prompt_len], "pixel_values": data.pixels[data.val_image[ix]]}


@torch.inference_mode()
def generate_answers(model: nn.Module, data: VQAData, batch: dict[str, torch.Tensor]) -> list[str]:
    """Greedy answers: prefill image + question, then decode up to the answer length, stopping at the end token."""
    from ecobench.train import decode_kw

    x = {"input_ids": batch["input_ids"][:, : data.prompt_len], "pixel_values": batch["pixel_values"]}
    out = model(**x, use_cache=True)
    steps = data.context - data.prompt_len
    made = [out.logits[:, -1].argmax(-1)]  # (B,)
    kw = decode_kw(model)
    for _ in range(steps - 1):
        out = model(input_ids=made[-1][:, None], use_cache=True, **{kw: _cache_of(out)})
        made.append(out.logits[:, -1].argmax(-1))
    ids = torch.stack(made, 1).tolist()  # (B, steps)
    texts = []
    for row in ids:
        row = row[: row.index(data.layout.end)] if data.layout.end in row else row
        texts.append(data.tokenizer.decode(row))
    return texts


@torch.inference_mode()
def evaluate(model: nn.Module, data: VQAData, batch_size: int, max_batches: int | None, phase: str = "eval"
             ) -> EvalResult:
    """Answer loss (nats per answer token), exact-match accuracy and MAE of numeric answers over validation."""
    model.eval()
    total, count, right, errors, unparsed, n = 0.0, 0, 0, [], 0, 0
    chance_right, chance_errors = 0, []
    t0 = time.perf_counter()
    device = model_device(model)
    for ix, batch in data.val_batches(batch_size, max_batches):
        batch = to_device(batch, device)
        total += batch_loss(model, batch, reduction="sum").item()
        count += int((batch["labels"][:, 1:] != IGNORE).sum())
        for i, got in zip(ix.tolist(), generate_answers(model, data, batch), strict=True):
            want, q = data.val_answers[i], data.val_questions[i]
            guess = data.chance.get(q)
            n += 1
            right += got.strip() == want.strip()
            chance_right += guess is not None and guess.strip() == want.strip()
            gold = numeric(want)
            if gold is None:
                continue
            value, fallback = numeric(got), numeric(guess or "")
            unparsed += value is None
            errors.append(abs((value if value is not None else fallback if fallback is not None else 0.0) - gold))
            chance_errors.append(abs((fallback if fallback is not None else 0.0) - gold))
    loss = total / max(1, count)
    if not math.isfinite(loss):
        raise CellFailed(phase, None, f"validation loss is {loss}")
    metrics = {
        "accuracy": right / max(1, n),
        "accuracy_chance": chance_right / max(1, n),
        "mae": float(np.mean(errors)) if errors else None,
        "mae_chance": float(np.mean(chance_errors)) if chance_errors else None,
        "answers_unparsed": unparsed / len(errors) if errors else None,  # scored as the chance answer
        "val_questions": n,
    }
    return EvalResult(loss, count, time.perf_counter() - t0, metrics)


def metrics(ev: EvalResult, data: VQAData) -> dict[str, float]:
    return {"loss": ev.loss, "ppl": math.exp(min(ev.loss, 700)), **ev.metrics}


# ----------------------------------------------------------------------------- loading


def _layout(model: ModelConfig) -> tuple[Layout, object | None]:
    """Token ids and image handling: ecobench's own (from scratch), or a pretrained folder's config and tokenizer."""
    if not model.pretrained:
        n = (model.image_size // model.patch_size) ** 2
        return Layout(PAD_ID, IMAGE_ID, END_ID, n, model.image_size, (0.5,) * 3, (0.5,) * 3), None
    from transformers import AutoTokenizer

    from ecobench.config.pretrained import LOADER_KW, pretrained_dir, read_config

    d = pretrained_dir(model)
    try:
        config = read_config(d / "config.json") or {}
        pre = read_config(d / "preprocessor_config.json") or {}
    except ValueError as err:
        raise DataError("model.pretrained", str(err)) from None
    vision = config.get("vision_config") or {}
    size, patch = vision.get("image_size"), vision.get("patch_size")
    image = config.get("image_token_index", config.get("image_token_id"))
    if not isinstance(size, int) or not isinstance(patch, int) or not isinstance(image, int):
        raise DataError("model.pretrained", f"{d / 'config.json'}: ecobench reads llava-style image-text models "
                        "(vision_config.image_size, vision_config.patch_size, image_token_index); this one lacks them")
    extra = 1 if config.get("vision_feature_select_strategy") == "full" else 0
    try:
        tok = AutoTokenizer.from_pretrained(str(d), **LOADER_KW)
    except Exception as err:  # a user's folder: any failure to read its tokenizer is theirs to fix, in one line
        raise DataError("model.pretrained", f"{d}: cannot load its tokenizer: {str(err).splitlines()[0]}") from err
    end = tok.eos_token_id
    if end is None:
        raise DataError("model.pretrained", f"{d}: its tokenizer has no end-of-sequence token")
    pad = tok.pad_token_id if tok.pad_token_id is not None else end
    mean, std = (0.5,) * 3, (0.5,) * 3
    if pre:
        mean, std = tuple(pre.get("image_mean", mean)), tuple(pre.get("image_std", std))
    return Layout(pad, image, end, (size // patch) ** 2 + extra, size, mean, std), tok


def _tensors(ex: Examples, layout: Layout, encode) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """(ids, labels) of every example, (examples, T), and the prompt and sequence lengths."""
    qs = [encode(e.question) for e in ex.items]
    ans = [encode(e.answer) + [layout.end] for e in ex.items]
    q_len, a_len = max(map(len, qs)), max(map(len, ans))
    prompt = layout.image_tokens + q_len
    ids = torch.full((len(qs), prompt + a_len), layout.pad, dtype=torch.long, device="cpu")
    labels = torch.full_like(ids, IGNORE)
    ids[:, : layout.image_tokens] = layout.image
    for i, (q, a) in enumerate(zip(qs, ans, strict=True)):
        ids[i, prompt - len(q) : prompt] = torch.tensor(q, device="cpu")
        ids[i, prompt : prompt + len(a)] = torch.tensor(a, device="cpu")
        labels[i, prompt : prompt + len(a)] = torch.tensor(a, device="cpu")
    return ids, labels, prompt, prompt + a_len


def _pixels(images: np.ndarray, layout: Layout) -> torch.Tensor:
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()  # (n, 3, H, W) in [0, 1]
    if x.shape[-1] != layout.image_size or x.shape[-2] != layout.image_size:
        x = F.interpolate(x, size=(layout.image_size, layout.image_size), mode="bilinear", align_corners=False)
    mean = torch.tensor(layout.mean, dtype=torch.float32, device="cpu")[:, None, None]
    std = torch.tensor(layout.std, dtype=torch.float32, device="cpu")[:, None, None]
    return (x - mean) / std


@functools.lru_cache(maxsize=4)
def load_vqa(data: DataConfig, model: ModelConfig, fetch: bool = True) -> VQAData:
    """Examples -> tokens -> split by image (seeded)."""
    if data.tokenizer not in ("char", "pretrained"):
        raise DataError("data.tokenizer", f"a vision-language model reads 'char' (from scratch) or 'pretrained', "
                        f"not {data.tokenizer!r}")
    layout, hf = _layout(model)
    ex = load_examples(data, layout.image_size)
    is_val = torch.from_numpy(split_images(len(ex.images), data.val_fraction, data.split_seed))
    if hf is None:  # characters from the training images' questions and answers only; others map to one unknown id
        fitted = CharTokenizer.fit("".join(e.question + e.answer for e in ex.items if not is_val[e.image]),
                                   whole="".join(e.question + e.answer for e in ex.items))
        special = (PAD, IMAGE, END)
        tok = CharTokenizer([*special, *(c for c in fitted.chars if c not in special)], unknown=fitted.unknown)
    else:
        tok = HFTokenizer("pretrained", hf, f"pretrained-{model.pretrained}")
    ids, labels, prompt, total = _tensors(ex, layout, lambda s: tok.encode(s).tolist())
    image = torch.tensor([e.image for e in ex.items], device="cpu")
    v = is_val[image]
    train_items = [e for e, f in zip(ex.items, v.tolist(), strict=True) if not f]
    val_items = [e for e, f in zip(ex.items, v.tolist(), strict=True) if f]
    by_q: dict[str, Counter] = {}
    for e in train_items:
        by_q.setdefault(e.question, Counter())[e.answer] += 1
    chance = {q: c.most_common(1)[0][0] for q, c in by_q.items()}
    return VQAData(
        train=ids[~v], val=ids[v], train_labels=labels[~v], val_labels=labels[v], train_image=image[~v],
        val_image=image[v], pixels=_pixels(ex.images, layout), val_answers=[e.answer for e in val_items],
        val_questions=[e.question for e in val_items], chance=chance, tokenizer=tok, layout=layout, context=total,
        prompt_len=prompt, corpus_sha256=ex.sha256, description=ex.description,
        train_images=int((~is_val).sum()), val_images=int(is_val.sum()),
    )


FAMILY = register(Family(
    name=VISION_LANGUAGE,
    load_data=load_vqa,
    loss=batch_loss,
    evaluate=evaluate,
    metrics=metrics,
    prompts=prompts,
    parts=("vision", "projector", "language"),
))
