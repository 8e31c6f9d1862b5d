"""What a suite asks the machine to hold, checked before anything is allocated: a width of 1e11 or a batch of 1e15
passes the schema's types but would end in an allocator's traceback (or an overflow inside torch) minutes later.

The estimate is a lower bound (weights, gradients and Adam's two moments in fp32, one batch's logits and a few
activations per layer), so a suite that is refused could never have run; one that passes may still run out.
"""

from __future__ import annotations

from typing import Any

import psutil

FP32 = 4  # bytes
TRAIN_BYTES_PER_PARAM = 4 * FP32  # weights, gradients, Adam's m and v


def machine_bytes() -> int:
    """The most memory one device here could give a run: this machine's RAM, or its largest GPU's."""
    most = psutil.virtual_memory().total
    import torch

    if torch.cuda.is_available():  # a broken CUDA set-up is the device check's to report; is_available() says False
        most = max(most, *(torch.cuda.get_device_properties(i).total_memory for i in range(torch.cuda.device_count())))
    return most


def param_count(model: Any, vocab: int, context: int) -> int:
    """Parameters of a suite's model built from its shape (`model` a ModelConfig; 0 for a pretrained checkpoint,
    whose size is the file's)."""
    if model.pretrained:
        return 0
    d, inner = model.n_embd, model.intermediate or 4 * model.n_embd
    block = 4 * d * d + 2 * d * inner + 8 * d  # attention q, k, v, out; MLP in, out; norms and biases
    total = vocab * d + context * d + model.n_layer * block
    if model.family == "llava":
        total += model.vision_layers * block + 2 * d * d + (model.patch_size ** 2) * 3 * d
    return total


def memory_problems(suite: Any, vocab: int, context: int) -> list[tuple[str, str]]:
    """(suite field, message) for the first part of the suite that needs more memory than this machine has: the
    model, then its training batch, evaluation, calibration and inference batches (a later one often follows from an
    earlier one: a wide model makes every batch's activations wide too), so the fix is named once."""
    have = machine_bytes()
    problems = []

    def need(field: str, what: str, n_bytes: int) -> None:
        if n_bytes > have:
            problems.append((field, f"{what} needs at least {_gb(n_bytes)}, more than this machine has "
                                    f"({_gb(have)}, the larger of its RAM and GPU memory)"))

    params = param_count(suite.model, vocab, context)
    m = suite.model
    wide = "model.intermediate" if m.intermediate and m.intermediate > 4 * m.n_embd else "model.n_embd"
    need(wide, f"the model ({params:,} parameters, trained in fp32 with Adam)",
         params * TRAIN_BYTES_PER_PARAM)
    d = 0 if suite.model.pretrained else suite.model.n_embd
    per_token = vocab * FP32 + 4 * d * max(1, suite.model.n_layer) * FP32  # logits, a few activations per layer
    need("train.batch_size", f"a training batch ({suite.train.batch_size:,} x {context:,} tokens)",
         suite.train.batch_size * context * per_token)
    eval_batch = suite.eval.batch_size or 4 * suite.train.batch_size
    need("eval.batch_size", f"an evaluation batch ({eval_batch:,} x {context:,} tokens)",
         eval_batch * context * vocab * FP32)
    cal = suite.prune.calibration
    need("prune.calibration.batch_size", f"a calibration batch ({cal.batch_size:,} x {context:,} tokens)",
         cal.batch_size * context * per_token)
    if suite.eval.inference_tokens:
        biggest = max(suite.eval.inference_batch_sizes)
        need("eval.inference_batch_sizes", f"an inference batch ({biggest:,} x {context:,} tokens)",
             biggest * context * vocab * FP32)
    return problems[:1]


def _gb(n: int) -> str:
    return f"{n / 1e9:,.3g} GB" if n < 1e15 else f"{n / 1e9:.3g} GB"
