"""`eval.execution: sparse`: run masked (unstructured or N:M) weights through a sparse kernel where one exists.

Each targeted Linear/Conv1D is swapped for a module computing the same y = x W^T + b with W held by a sparse kernel:
- CPU, float32/float64: torch's CSR (default) or BSR matmul, W (out, in) @ x^T (measured fastest of the CSR
  layouts torch offers on CPU: x @ W^T with W^T in CSR is ~30x slower);
- CUDA, compute capability >= 8.0, float16/bfloat16, a 2:4 pattern along the inputs:
  `torch.sparse.to_sparse_semi_structured`, whose tensor subclass says which library runs it (`BACKEND`: cusparselt,
  or cutlass where cuSPARSELt is missing or forced off); recorded per cell as `sparse_backend`. The cell casts both
  its sides to one half type first (device.sparse_eval_dtype): fp32 weights are refused by these kernels.
Anything else keeps its dense module and is reported as `no`, with the reason: nothing falls back silently. The
swap is for evaluation only (no gradients through the sparse weight; do not save_pretrained the swapped model).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from ecobench.prune.layout import as_out_in, is_conv1d, module_of

KERNELS = ("no", "csr", "bsr", "semi-structured-2:4", "smaller-dense")  # values of the sparsity_exploited column
_CPU_DTYPES = {torch.float32, torch.float64}  # torch's CPU sparse addmm (MKL) has no float16/bfloat16 kernel
_SEMI_DTYPES = {torch.float16, torch.bfloat16}


class SparseLinear(nn.Module):
    """y = x W^T + b through a CSR or BSR weight (CPU)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, kernel: str, blocksize: tuple[int, int]):
        super().__init__()
        w = weight.detach()
        self.out_features, self.in_features = w.shape
        self.kernel = kernel
        with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state", once per layer
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            sparse = w.to_sparse_csr() if kernel == "csr" else w.to_sparse_bsr(blocksize)
        self.register_buffer("weight_sparse", sparse)
        self.stored_weights = int(sparse.values().numel())  # what the kernel multiplies (BSR: whole blocks)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        xt = x.reshape(-1, self.in_features).t()  # (in, tokens)
        if self.bias is None:
            y = torch.sparse.mm(self.weight_sparse, xt)
        else:
            y = torch.addmm(self.bias[:, None], self.weight_sparse, xt)  # (out, tokens)
        return y.t().reshape(*lead, self.out_features)


class SemiStructuredLinear(nn.Module):
    """y = x W^T + b through a 2:4 semi-structured weight (CUDA, compute capability >= 8.0, fp16/bf16)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        from torch.sparse import to_sparse_semi_structured

        w = weight.detach().contiguous()
        self.out_features, self.in_features = w.shape
        self.kernel = "semi-structured-2:4"
        self.weight_sparse = to_sparse_semi_structured(w)  # raises RuntimeError on an unsupported shape or backend
        self.backend = str(getattr(self.weight_sparse, "BACKEND", "unknown"))  # cusparselt | cutlass
        self.stored_weights = w.numel() // 2
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        y = nn.functional.linear(x.reshape(-1, self.in_features), self.weight_sparse, self.bias)
        return y.reshape(*lead, self.out_features)


@dataclass
class Execution:
    """Which kernel runs each targeted module (`kernels`), and why none does where it says `no` (`reasons`)."""

    kernels: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    backends: dict[str, str] = field(default_factory=dict)  # semi-structured modules: cusparselt | cutlass

    def backend(self) -> str | None:
        """The library behind the 2:4 modules ('cusparselt', 'cutlass', both joined by '+'), None when none ran."""
        found = sorted(set(self.backends.values()))
        return "+".join(found) if found else None

    def summary(self) -> str:
        """One value for a cell: the kernel all modules share, else the distinct ones joined by '+' (e.g. csr+no)."""
        found = sorted(set(self.kernels.values()))
        return "+".join(found) if found else "no"

    def notice(self) -> str | None:
        """One line for the caller to print once, when some module has no sparse kernel; None when all have one."""
        if not self.reasons:
            return None
        why = sorted(set(self.reasons.values()))
        return (f"execution: sparse: no sparse kernel for {len(self.reasons)} of {len(self.kernels)} layers; they run "
                f"dense (sparsity_exploited: no): {'; '.join(why)}")


def is_2_4(w_out_in: torch.Tensor) -> bool:
    """Every group of 4 consecutive inputs of every row has at least 2 zeros."""
    if w_out_in.shape[1] % 4:
        return False
    return bool(((w_out_in.reshape(w_out_in.shape[0], -1, 4) != 0).sum(-1) <= 2).all())


def _semi_structured_refusal(w: torch.Tensor) -> str | None:
    if not torch.cuda.is_available() or w.device.type != "cuda":
        return "semi-structured 2:4 needs a CUDA device"
    if torch.cuda.get_device_capability(w.device) < (8, 0):
        return "semi-structured 2:4 needs compute capability >= 8.0"
    if w.dtype not in _SEMI_DTYPES:
        return f"semi-structured 2:4 needs float16/bfloat16, not {w.dtype}"
    if not is_2_4(w):
        return "the CUDA sparse kernel needs a 2:4 pattern"
    return None


def _swap(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, new)


@torch.no_grad()
def use_sparse_kernels(
    model: nn.Module, names: Iterable[str], cpu_kernel: str = "csr", blocksize: tuple[int, int] = (16, 16)
) -> Execution:
    """Swap the modules owning the weights `names` for sparse-kernel modules, in place; say which kernel each runs."""
    if cpu_kernel not in ("csr", "bsr"):
        raise ValueError(f"cpu_kernel must be csr or bsr, not {cpu_kernel}")
    ex = Execution()
    for pname in names:
        mod_name = pname.rsplit(".", 1)[0]
        module = module_of(model, pname)
        if not (isinstance(module, nn.Linear) or is_conv1d(module)):
            ex.kernels[mod_name], ex.reasons[mod_name] = "no", f"{type(module).__name__} has no sparse kernel here"
            continue
        w = as_out_in(module.weight, module, pname).contiguous()
        if w.device.type == "cpu":
            reason = None if w.dtype in _CPU_DTYPES else f"torch's CPU sparse matmul has no {w.dtype} kernel"
            if reason is None and cpu_kernel == "bsr" and (w.shape[0] % blocksize[0] or w.shape[1] % blocksize[1]):
                reason = f"shape not divisible by the BSR block {blocksize}"
            new = None if reason else SparseLinear(w, module.bias, cpu_kernel, blocksize)
        else:
            reason = _semi_structured_refusal(w)
            new = None
            if reason is None:
                try:
                    new = SemiStructuredLinear(w, module.bias)
                except RuntimeError as err:  # shape or backend the installed torch cannot take: said, not hidden
                    reason = f"to_sparse_semi_structured refused: {str(err).splitlines()[0]}"
        if new is None:
            ex.kernels[mod_name], ex.reasons[mod_name] = "no", reason
        else:
            _swap(model, mod_name, new)
            ex.kernels[mod_name] = new.kernel
            if isinstance(new, SemiStructuredLinear):
                ex.backends[mod_name] = new.backend
    return ex
