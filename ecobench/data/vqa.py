"""Image + question -> answer examples, offline: scikit-learn's bundled digits, or a user's JSONL of images.

`digits-vqa`: the 1,797 8x8 handwritten digits that ship inside scikit-learn (UCI optdigits, 16 grey levels), each
asked "which digit?" and "how many lit cells in row r?" (lit: grey level > 8 of 16; r drawn per image, seeded), so
every answer is a number. `path`: one JSONL file, a line per example, {"image": path relative to the JSONL's folder,
"question": str, "answer": str}, images decoded with Pillow. Either way the split is by image, drawn with
`data.split_seed`: no image is in both splits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ecobench.config.schema import DataConfig
from ecobench.errors import DataError

LIT = 8  # a digits cell is lit when its grey level (0-16) is above this
DIGITS_ROWS = 8


@dataclass(frozen=True)
class Example:
    image: int  # index into Examples.images
    question: str
    answer: str


@dataclass
class Examples:
    images: np.ndarray  # (n_images, H, W, 3) float32 in [0, 1]
    items: list[Example]
    sha256: str  # of the images and texts: the identity of the data
    description: str
    image_names: list[str] = field(default_factory=list)


def split_images(n_images: int, val_fraction: float, seed: int) -> np.ndarray:
    """A boolean per image: True = validation. At least one image on each side."""
    order = np.random.default_rng(seed).permutation(n_images)
    n_val = min(n_images - 1, max(1, round(n_images * val_fraction)))
    is_val = np.zeros(n_images, dtype=bool)
    is_val[order[:n_val]] = True
    return is_val


def digits_examples(seed: int) -> Examples:
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise DataError("data.corpus", "corpus 'digits-vqa' needs scikit-learn (its bundled digits images): "
                        "pip install scikit-learn (`make setup` does)") from err
    digits = load_digits()
    grey = digits.images.astype(np.float32)  # (n, 8, 8), 0..16
    rows = np.random.default_rng(seed).integers(0, DIGITS_ROWS, size=len(grey))  # the row asked about, per image
    items = []
    for i, (img, label) in enumerate(zip(grey, digits.target)):
        lit = img > LIT
        items.append(Example(i, "digit?", str(int(label))))
        items.append(Example(i, f"lit in row {rows[i]}?", str(int(lit[rows[i]].sum()))))
    images = np.repeat((grey / 16.0)[..., None], 3, axis=-1)  # (n, 8, 8, 3)
    return Examples(images, items, _digest(images, items), f"scikit-learn digits ({len(grey)} 8x8 images), "
                    f"{len(items)} questions (digit; lit cells in a row)")


MAX_IMAGE_PIXELS = 4096 * 4096  # an image this side of a decompression bomb; every image is resized to a few pixels


def _line_error(path: Path, line: int, message: str) -> DataError:
    return DataError("data.path", f"{path}:{line}: {message}")


def jsonl_examples(path_text: str, image_size: int) -> Examples:
    """A user's JSONL of image/question/answer, images resized to `image_size` square, RGB."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path_text).expanduser()
    if not path.is_file():
        raise DataError("data.path", f"no such file: {path} (a vision-language model reads one JSONL file of "
                        "{\"image\", \"question\", \"answer\"} lines)")
    by_name: dict[str, int] = {}
    pixels: list[np.ndarray] = []
    items: list[Example] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError("data.path", f"{path}: unreadable ({err})") from None
    for n, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except ValueError as err:
            raise _line_error(path, n, f"not a JSON object ({err})") from None
        if not isinstance(row, dict):
            raise _line_error(path, n, "not a JSON object")
        for key in ("image", "question", "answer"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise _line_error(path, n, f"`{key}` is missing or not a non-empty string")
        name = row["image"]
        if name not in by_name:
            file = (path.parent / name).expanduser()
            if file.exists() and not file.is_file():  # a FIFO would block Pillow's read for ever; a device never ends
                raise _line_error(path, n, f"image {name!r} is not a regular file ({file})")
            try:
                with Image.open(file) as im:  # reads the header only: the size is known before any pixel is
                    if im.width * im.height > MAX_IMAGE_PIXELS:
                        raise _line_error(path, n, f"image {name!r} is {im.width} x {im.height} pixels; at most "
                                          f"{MAX_IMAGE_PIXELS:,} (it is resized to {image_size} x {image_size})")
                    rgb = im.convert("RGB").resize((image_size, image_size), Image.Resampling.BILINEAR)
            except FileNotFoundError:
                raise _line_error(path, n, f"image {name!r} not found ({file})") from None
            except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as err:
                raise _line_error(path, n, f"image {name!r} cannot be decoded ({type(err).__name__}: "
                                  f"{str(err).splitlines()[0] if str(err) else 'no detail'})") from None
            by_name[name] = len(pixels)
            pixels.append(np.asarray(rgb, dtype=np.float32) / 255.0)
        items.append(Example(by_name[name], row["question"], row["answer"]))
    if len(by_name) < 2:
        raise DataError("data.path", f"{path}: {len(by_name)} distinct image(s); the split by image needs at least 2")
    images = np.stack(pixels)
    return Examples(images, items, _digest(images, items), f"{path} ({len(by_name)} images, {len(items)} questions)",
                    list(by_name))


def _digest(images: np.ndarray, items: list[Example]) -> str:
    h = hashlib.sha256(np.ascontiguousarray(images).tobytes())
    for e in items:
        h.update(f"{e.image}\x00{e.question}\x00{e.answer}\n".encode())
    return h.hexdigest()


def load_examples(cfg: DataConfig, image_size: int) -> Examples:
    if cfg.corpus == "digits-vqa":
        return digits_examples(cfg.split_seed)
    if cfg.corpus == "path":
        return jsonl_examples(cfg.path or "", image_size)
    raise DataError("data.corpus", f"corpus {cfg.corpus!r} is text; a vision-language model reads 'digits-vqa' or "
                    "'path' (a JSONL of image, question, answer)")


def numeric(answer: str) -> float | None:
    """The answer as a number (for MAE), or None when it is not one."""
    try:
        value = float(answer.strip())
    except ValueError:
        return None
    return value if np.isfinite(value) else None
