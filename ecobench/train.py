"""The training loop (dense training and masked recovery), evaluation, and timed inference.

Reads top to bottom like nanoGPT's: batch -> forward -> loss -> backward -> clip -> step -> hooks.

`train.compile`: the model is compiled and warmed (one forward and backward, no step, the random state restored) by
`compile_warm` before the phase's window opens, and timed there as its own `compile` phase; a window then holds
training only. Frames torch compiles again inside the loop (a recompile: new shapes, a guard that failed) are
counted in `TrainResult.recompiles` and logged.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ecobench.config.schema import TrainConfig
from ecobench.data.dataset import TokenData
from ecobench.device import autocast, model_device, to_device
from ecobench.errors import CellFailed
from ecobench.families import of_data

Hook = Callable[[int, nn.Module], None]  # called after every optimizer step with (step, model)
log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    steps: int
    tokens: int  # tokens seen
    final_loss: float  # mean training loss over the last 10% of steps (nats/token)
    wall_s: float
    val_history: list[tuple[int, float]] = field(default_factory=list)  # (step, validation loss) every eval_every
    recompiles: int = 0  # train.compile: frames torch compiled inside the loop, after compile_warm (0 without)


def compiled_frames() -> int:
    """Frames torch's compiler has compiled in this process so far (0 before any compile)."""
    import sys

    dynamo = sys.modules.get("torch._dynamo.utils")
    return int(dynamo.counters["frames"]["ok"]) if dynamo is not None else 0


def compile_warm(model: nn.Module, data: TokenData, cfg: TrainConfig) -> tuple[nn.Module, float]:
    """torch.compile(model), warmed by one forward and backward on a batch of its own (no optimizer step; gradients
    cleared; the random state restored, so the training that follows is the same as without it). Returns the
    compiled callable and the seconds it took: what a `compile` phase records, outside the training window."""
    t0 = time.perf_counter()
    forward = torch.compile(model)
    device = model_device(model)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        batch = to_device(data.batch(cfg.batch_size, torch.Generator().manual_seed(0)), device)
        model.train()
        with autocast(cfg.precision, device):
            loss = of_data(data).loss(forward, batch)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return forward, time.perf_counter() - t0


_STREAMS: dict[tuple[int, str, str], tuple[TokenData, torch.Tensor]] = {}  # token streams already on a device


def device_stream(data: TokenData, split: str, device: torch.device) -> torch.Tensor:
    """The split's whole token stream on `device`, copied there once per process (not a pageable copy per batch,
    which serialises a GPU behind the host)."""
    key = (id(data), split, str(device))
    if key not in _STREAMS:
        if len(_STREAMS) >= 8:  # a few corpora per process at most; drop the oldest
            _STREAMS.pop(next(iter(_STREAMS)))
        _STREAMS[key] = (data, getattr(data, split).to(device))  # holding `data` keeps its id from being reused
    return _STREAMS[key][1]


def batch_source(data: TokenData, device: torch.device, on_device: bool | None = None) -> Callable:
    """(batch_size, generator) -> a training batch on `device`. On a GPU (`on_device`), text windows are gathered
    there from the device's copy of the stream: the host draws the same start offsets from the same generator (so
    the batches are those of `data.batch`) and sends only them; other data, and the CPU, use the family's batch."""
    on_device = device.type != "cpu" if on_device is None else on_device
    if not on_device or type(data) is not TokenData:
        return lambda batch_size, gen: to_device(data.batch(batch_size, gen), device)
    stream = device_stream(data, "train", device)
    span = torch.arange(data.context + 1, device=device)  # (T+1,)

    def draw(batch_size: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        ix = torch.randint(len(data.train) - data.context - 1, (batch_size,), generator=gen, device="cpu")  # as batch()
        windows = stream[ix.to(device, non_blocking=True)[:, None] + span]  # (B, T+1), gathered on the device
        return windows[:, :-1], windows[:, 1:]

    return draw


def lm_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=x).logits  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to cfg.lr, then cosine decay to min_lr at the last step."""
    min_lr = cfg.min_lr if cfg.min_lr is not None else cfg.lr / 10
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (cfg.lr - min_lr)


def make_optimizer(model: nn.Module, cfg: TrainConfig, lr: float) -> torch.optim.Optimizer:
    """AdamW; weight decay on matrices only (not biases, norms), as nanoGPT does."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(cfg.beta1, cfg.beta2))


def train(
    model: nn.Module,
    data: TokenData,
    cfg: TrainConfig,
    *,
    steps: int,
    seed: int,
    phase: str = "train",
    constant_lr: float | None = None,
    masks: dict[str, tuple[nn.Parameter, torch.Tensor]] | None = None,
    hooks: tuple[Hook, ...] = (),
    eval_every: int = 0,
    eval_batches: int = 4,
    progress: bool = True,
    forward: nn.Module | None = None,
) -> TrainResult:
    """Train for `steps` steps. With `masks`, pruned weights get no gradient and are re-zeroed after every step,
    so they stay exactly 0. A non-finite loss raises CellFailed naming the phase and step. `forward`: the model
    compiled and warmed by compile_warm (train.compile); without it, train.compile compiles here, inside the loop."""
    gen = torch.Generator().manual_seed(seed)  # on the host: the same batches whatever the device
    device = model_device(model)
    batch_loss = of_data(data).loss  # the family's batch -> loss (text: lm_loss on (x, y))
    opt = make_optimizer(model, cfg, constant_lr or cfg.lr)
    held = [(p, m.to(device=p.device, dtype=p.dtype)) for p, m in (masks or {}).values()]
    draw = batch_source(data, device)
    if forward is None:  # same parameters: masks and hooks see them
        forward = torch.compile(model) if cfg.compile else model
    frames0 = compiled_frames()
    model.train()
    losses: list[float] = []
    pending: list[torch.Tensor] = []  # losses not yet read: read every log_every steps, one host sync for all
    history: list[tuple[int, float]] = []
    t0 = time.perf_counter()
    bar = tqdm(total=steps, desc=phase, unit="step", leave=False, disable=not progress, dynamic_ncols=True)

    def read_losses(step: int, lr: float) -> None:
        """Read the pending losses (one host sync); the first non-finite one fails the phase at its own step."""
        values = torch.stack(pending).tolist() if pending else []
        first = step + 2 - len(values)  # the 1-based step of values[0]
        pending.clear()
        for i, value in enumerate(values):
            if not math.isfinite(value):
                bar.close()
                raise CellFailed(phase, first + i, f"training loss is {value}")
        losses.extend(values)
        if values:
            bar.set_postfix(loss=f"{values[-1]:.3f}", lr=f"{lr:.1e}")

    for step in range(steps):
        lr = constant_lr if constant_lr is not None else lr_at(step, cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        batch = draw(cfg.batch_size, gen)  # text: (x, y), each (B, T); images: a dict; on the device
        with autocast(cfg.precision, device):
            loss = batch_loss(forward, batch)
        pending.append(loss.detach().float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for p, m in held:
            if p.grad is not None:
                p.grad.mul_(m)
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        if held:
            with torch.no_grad():
                for p, m in held:
                    p.mul_(m)
        for hook in hooks:
            hook(step + 1, model)
        if (step + 1) % cfg.log_every == 0 or step == steps - 1:
            read_losses(step, lr)
        if eval_every and (step + 1) % eval_every == 0 and step + 1 < steps:
            read_losses(step, lr)  # a validation loss is never reported for a model whose training diverged
            val = evaluate(model, data, cfg.batch_size, eval_batches, phase=phase).loss
            history.append((step + 1, val))
            bar.write(f"{phase} step {step + 1}: validation loss {val:.4f}")
            model.train()
        bar.update(1)
    bar.close()
    if steps == 0:
        for hook in hooks:
            hook(0, model)
    tail = losses[-max(1, len(losses) // 10) :] if losses else [float("nan")]
    wall = time.perf_counter() - t0
    recompiles = compiled_frames() - frames0 if cfg.compile else 0
    if recompiles:
        log.warning("%s: torch compiled %d frame(s) inside the training loop (recompiles: their time is in this "
                    "phase's window)", phase, recompiles)
    return TrainResult(steps, steps * cfg.batch_size * data.context, sum(tail) / len(tail), wall, history, recompiles)


@dataclass
class EvalResult:
    loss: float  # mean validation cross-entropy, nats per token (image-question data: per answer token)
    tokens: int
    wall_s: float
    metrics: dict[str, float] = field(default_factory=dict)  # the family's other metrics (accuracy, mae, ...)


def evaluate(model: nn.Module, data: TokenData, batch_size: int, max_batches: int | None, phase: str = "eval") -> EvalResult:
    """Validation metrics as the data's family computes them (text: `evaluate_tokens`)."""
    return of_data(data).evaluate(model, data, batch_size, max_batches, phase)


@torch.inference_mode()
def evaluate_tokens(model: nn.Module, data: TokenData, batch_size: int, max_batches: int | None,
                    phase: str = "eval") -> EvalResult:
    """Validation loss over fixed windows. `max_batches` counts batches of `batch_size` sequences (None: all)."""
    model.eval()
    total, count = 0.0, 0
    t0 = time.perf_counter()
    device = model_device(model)
    sums = []  # per-batch sums on the device, read once at the end: no host sync per batch
    for x, y in val_batches_on(data, batch_size, max_batches, device):
        logits = model(input_ids=x).logits
        sums.append(F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum").float())
        count += y.numel()
    for value in torch.stack(sums).tolist() if sums else []:  # added on the host in batch order, as always
        total += value
    loss = total / max(1, count)
    if not math.isfinite(loss):
        raise CellFailed(phase, None, f"validation loss is {loss}")
    return EvalResult(loss, count, time.perf_counter() - t0)


def val_batches_on(data: TokenData, batch_size: int, max_batches: int | None, device: torch.device,
                   on_device: bool | None = None):
    """`data.val_batches` on `device`: on a GPU gathered there from the device's copy of the validation stream (the
    same windows), else each host batch moved."""
    if not (device.type != "cpu" if on_device is None else on_device):
        for x, y in data.val_batches(batch_size, max_batches):
            yield to_device((x, y), device)
        return
    stream = device_stream(data, "val", device)
    span = torch.arange(data.context + 1, device=device)
    windows = data.val_window_starts(None if max_batches is None else max_batches * batch_size)
    for start in range(0, len(windows), batch_size):
        starts = torch.tensor(windows[start : start + batch_size]) * data.context
        w = stream[starts.to(device, non_blocking=True)[:, None] + span]  # (B, T+1)
        yield w[:, :-1], w[:, 1:]


@dataclass
class InferenceResult:
    tokens: int  # tokens generated inside the timed window
    wall_s: float
    batch_size: int

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_s if self.wall_s > 0 else float("nan")

    @property
    def latency_ms_per_token(self) -> float:
        """Time per decoding step for one sequence: what a user waits for each new token."""
        steps = self.tokens / self.batch_size
        return 1000 * self.wall_s / steps if steps else float("nan")


def prompts(data: TokenData, batch_size: int, prompt_len: int, start: int = 0) -> torch.Tensor:
    """`batch_size` validation prompts of `prompt_len` tokens, the same ones for every model given the same start."""
    span = max(1, len(data.val) - data.context)
    idx = [(start + b * data.context) % span for b in range(batch_size)]
    return torch.stack([data.val[i : i + prompt_len] for i in idx])  # (B, P)


@torch.inference_mode()
def prefill(model: nn.Module, x: torch.Tensor | dict[str, torch.Tensor]):
    """Process whole prompts in one forward pass, filling the KV cache; returns the model output (logits, cache).
    `x`: token ids (B, P), or a dict of model inputs (image-question prompts: input_ids and pixel_values)."""
    model.eval()
    x = to_device(x, model_device(model))
    return model(**x, use_cache=True) if isinstance(x, dict) else model(input_ids=x, use_cache=True)


def prompt_tokens(x: torch.Tensor | dict[str, torch.Tensor]) -> int:
    """Tokens in a prompt batch (image placeholders included: the language model processes them)."""
    return (x["input_ids"] if isinstance(x, dict) else x).numel()


@torch.inference_mode()
def decode(model: nn.Module, out, steps: int) -> int:
    """Greedy decoding for `steps` tokens per sequence from a prefilled output; returns the tokens generated."""
    model.eval()
    kw = decode_kw(model)
    nxt = out.logits[:, -1:].argmax(-1)  # (B, 1)
    for _ in range(steps):
        out = model(input_ids=nxt, use_cache=True, **{kw: _cache_of(out)})
        nxt = out.logits[:, -1:].argmax(-1)
    return steps * nxt.size(0)


def generate_tokens(model: nn.Module, data: TokenData, n_tokens: int, batch_size: int, prompt_len: int = 16) -> int:
    """Prefill then decode from validation prompts, restarting when the context is full, until `n_tokens` are made.
    Returns the number of tokens generated (n_tokens rounded up to whole batch steps)."""
    prompt_len = min(prompt_len, data.context // 2)
    made, start = 0, 0
    while made < n_tokens:
        x = of_data(data).prompts(data, batch_size, prompt_len, start)  # text: (B, P) ids; images: a dict
        per_seq = max(1, data.context - prompt_tokens(x) // batch_size)
        out = prefill(model, x)
        start += 1
        made += decode(model, out, min(per_seq, math.ceil((n_tokens - made) / batch_size)))
    return made


def decode_kw(model: nn.Module) -> str:
    """The forward keyword of the KV cache: transformers 5 renamed past_key_values to cache; accept both."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _cache_of(out):
    return out.cache if getattr(out, "cache", None) is not None else out.past_key_values
