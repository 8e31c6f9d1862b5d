"""Where a run's tensors live (`run.device`), in what precision it trains (`train.precision`), and what that means
for reproducibility.

One device per run: the model, every batch, mask, recorded trajectory, calibration batch and prompt of every phase
is moved there, and the footprint meters measure that device only (footprint/probe.py). Batches are built on the
host (the corpus is a CPU tensor) and moved with `to_device`, which walks tensors, tuples, lists and dicts, so any
model family's batch shape moves the same way.

Bit-exactness: on the CPU a run is bit-for-bit reproducible (same seed, same threads, same results). On a GPU,
cuBLAS may pick different reduction orders and some kernels add with atomics (index_add, scatter_add, the backward
of embedding lookups), so losses agree to rounding, not to the bit. `run.deterministic: true` asks torch for
deterministic kernels (`torch.use_deterministic_algorithms`, with CUBLAS_WORKSPACE_CONFIG=:4096:8 set before cuBLAS
starts): a GPU run then repeats bit-for-bit on the same GPU, driver and library versions, at some speed cost, and
an op without a deterministic kernel stops the run with torch's error naming it.
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import Any

import torch

from ecobench.config.schema import DEVICE_PATTERN
from ecobench.errors import UserError

CUBLAS_WORKSPACE = ":4096:8"  # what torch's reproducibility notes ask for with deterministic cuBLAS


class DeviceError(UserError):
    """The suite asked for a device (or a precision on it) this machine cannot give; `field` names the key."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def resolve_device(setting: str) -> torch.device:
    """`auto` -> cuda:<current> when CUDA is available, else cpu; `cuda` -> cuda:<current>; `cuda:N` checked to
    exist. Always an explicit index for CUDA, so the meters know which GPU is doing the work."""
    if not re.match(DEVICE_PATTERN, setting):
        raise DeviceError("run.device", f"{setting!r} is not auto, cpu, cuda or cuda:N")
    if setting == "cpu" or (setting == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA device is visible"
        raise DeviceError("run.device", f"{setting!r} asked for, but {why}; use run.device: cpu or auto")
    index = torch.cuda.current_device() if setting in ("auto", "cuda") else int(setting.split(":")[1])
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceError("run.device", f"{setting!r} asked for, but only {count} CUDA device(s) are visible "
                          f"(cuda:0..cuda:{count - 1}; CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r})")
    return torch.device("cuda", index)


def to_device(batch: Any, device: torch.device | str) -> Any:
    """`batch` with every tensor in it moved to `device` (tensors, and tuples, lists and dicts of them, nested);
    anything else is returned as it is."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        moved = [to_device(v, device) for v in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)  # namedtuples too
    return batch


def model_device(model: torch.nn.Module) -> torch.device:
    """The device the model's parameters are on (cpu for a model without any)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def check_precision(precision: str, device: torch.device) -> str | None:
    """Why `precision` cannot be used on `device` (one line), or None. bf16 on the CPU is allowed (autocast runs
    there, usually slower than fp32 on CPUs without AMX/AVX512-BF16); on a GPU it needs hardware bf16 (Ampere+)."""
    if precision != "bf16" or device.type != "cuda":
        return None
    with torch.cuda.device(device):  # is_bf16_supported asks about the current device
        native = torch.cuda.is_bf16_supported(including_emulation=False)
    if not native:
        name = torch.cuda.get_device_name(device)
        return f"bf16 asked for, but {name} has no bf16 support (Ampere or newer needed); use train.precision: fp32"
    return None


HALF = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """A forward's precision context: bf16 (or fp16) autocast, or nothing for fp32 (the loss is then bit-exact
    with a run that has no autocast at all)."""
    if precision in HALF:
        return torch.autocast(device_type=torch.device(device).type, dtype=HALF[precision])
    return contextlib.nullcontext()


def eval_precision(train_precision: str, eval_setting: str | None) -> str:
    """`eval.precision`, defaulting to `train.precision`: what evaluation and inference (both sides) run in."""
    return eval_setting or train_precision


def sparse_eval_dtype(precision: str, device: torch.device, execution: str) -> torch.dtype | None:
    """The dtype both sides of a cell are cast to before measuring, or None (they stay as trained). Only for
    `eval.execution: sparse` on a GPU: `to_sparse_semi_structured` takes fp16/bf16 weights only, and the dense
    reference must run in the same type for the ratio to compare kernels, not precisions. fp16 when asked, else
    bf16."""
    if execution != "sparse" or device.type != "cuda":
        return None
    return torch.float16 if precision == "fp16" else torch.bfloat16


def set_deterministic(on: bool) -> None:
    """`run.deterministic`: deterministic kernels (and the cuBLAS workspace they need) for the whole process.
    Called before any CUDA work: cuBLAS reads CUBLAS_WORKSPACE_CONFIG when it starts."""
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(on)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a timing edge); nothing to wait for on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def describe(device: torch.device, precision: str, deterministic: bool, compiled: bool) -> dict[str, Any]:
    """What the manifest records about where and how the run computed, and what is reproducible to the bit."""
    out: dict[str, Any] = {"device": str(device), "precision": precision, "deterministic": deterministic,
                           "compile": compiled}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        with torch.cuda.device(device):
            bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
        out |= {"name": props.name, "capability": f"{props.major}.{props.minor}",
                "memory_gb": round(props.total_memory / 1e9, 1), "cuda": torch.version.cuda,
                "cudnn": torch.backends.cudnn.version(), "bf16_supported": bf16,
                "tf32_matmul": torch.backends.cuda.matmul.allow_tf32}
        out["bit_exact"] = ("yes on this GPU model, driver and library versions (deterministic kernels)" if deterministic
                            else "no: cuBLAS reduction order and atomic adds vary between runs; results agree to "
                            "rounding (set run.deterministic: true for repeatable kernels)")
    else:
        out["bit_exact"] = "yes (CPU; same seed, threads and versions)"
        if precision == "bf16":
            out["note"] = "bf16 autocast on the CPU: allowed, usually slower than fp32 there"
    return out
