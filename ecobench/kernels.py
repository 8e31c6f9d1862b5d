"""`ecobench doctor --kernels SUITE`: before a sweep, which of the suite's structures can save time (and so energy)
on this machine, and which will be `≈` dense.

The suite's own targeted layer shapes, at its own token counts per call (decode at each inference batch size, the
eval batch), run through every execution ecobench can use here, each paired with the dense matmul of the same
shape, A/B/B/A, `PAIRS` pairs, each window repeating the call until it lasts `MIN_WINDOW_S`:
- dense: y = x W^T (what unstructured and 2:4 zeros cost in dense kernels: the same);
- csr / bsr: torch.sparse with the suite's highest ratio of unstructured zeros (what `eval.execution: sparse` runs);
- 2:4: torch.sparse.to_sparse_semi_structured in fp16 (CUDA, compute capability 8.0+ only; else not runnable here);
- smaller-dense: the structured shape, (1 - ratio) of the output neurons, dense.
On the CPU every call runs on one thread and is timed in that thread's CPU seconds (`time.thread_time`): another
tenant's load then delays the call but does not enter its time, and CPU time is what process-attributed CPU energy
is made of. The eval batch is capped at EVAL_ROWS rows per call (per-row cost is flat at that size), to stay within
a minute on a busy machine. Ratios are paired log-ratio t intervals (footprint/stats.py, `paired_ratio`); one Holm family over the table, so a
`faster`/`slower` is beyond noise. Energy: on this machine's meters a kernel's energy follows its time on the CPU
(power is estimated from CPU time where RAPL is absent); on a GPU, energy needs windows of seconds (NVML), which the
sweep measures; the table reports time ratios and says so. The verdict is cached for `validate`.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from ecobench.config.schema import Suite
from ecobench.footprint import stats

PAIRS = 5  # A/B pairs per comparison
MIN_WINDOW_S = 0.005  # each window repeats the call until it lasts this long (a timing, not an energy, window)
EVAL_ROWS = 2048  # rows of x per eval call at most


@dataclass
class Row:
    shape: tuple[int, int]  # (out, in) of the layer
    tokens: int  # rows of x per call
    workload: str  # decode-b1, eval, ...
    execution: str  # csr | bsr | 2:4 | smaller-dense
    dense_ms: float
    ms: float
    ratio: float | None
    low: float | None
    high: float | None
    p: float | None
    verdict: str = "≈"  # faster | slower | ≈ | n/a
    note: str = ""  # n/a: why it cannot run here; 2:4: its backend


def layer_shapes(suite: Suite, vocab_size: int, context: int) -> list[tuple[int, int]]:
    """Distinct (out, in) shapes of the suite's targeted weights (the model built on `meta`: no memory, no time)."""
    from ecobench.models.build import build_model
    from ecobench.prune.layout import as_out_in, module_of
    from ecobench.prune.targets import select_targets

    with torch.device("meta"):
        model = build_model(suite.model, vocab_size, context, 0)
    shapes = []
    for name, p in select_targets(model, suite.prune.targets).items():
        if p.dim() == 2:
            shapes.append(tuple(as_out_in(p, module_of(model, name), name).shape))
    return sorted(set(shapes))


def workloads(suite: Suite, context: int) -> list[tuple[str, int]]:
    """(label, tokens per call): decode at each inference batch size, and the eval batch."""
    out = [(f"decode-b{b}", b) for b in suite.eval.inference_batch_sizes] if suite.eval.inference_tokens else []
    return [*out, ("eval", min(EVAL_ROWS, (suite.eval.batch_size or 4 * suite.train.batch_size) * context))]


def sparsest(suite: Suite) -> float:
    """The suite's highest pruning ratio below 1 (the most favourable case for a sparse kernel), at least 0.5."""
    return max([r for r in (suite.prune.ratios or []) if r is not None and r < 1] + [0.5])


Clock = Callable[[], float]


def _per_call_s(fn: Callable[[], object], sync: Callable[[], None], n: int, clock: Clock) -> float:
    t0 = clock()
    for _ in range(n):
        fn()
    sync()
    return (clock() - t0) / n


def _calls_per_window(fn: Callable[[], object], sync: Callable[[], None], clock: Clock) -> int:
    """Calls that make a window of MIN_WINDOW_S (doubling from one; the first call warms)."""
    _per_call_s(fn, sync, 1, clock)
    n = 1
    while n < 1 << 16 and _per_call_s(fn, sync, n, clock) * n < MIN_WINDOW_S:
        n *= 2
    return n


def paired_times(a: Callable[[], object], b: Callable[[], object], sync: Callable[[], None],
                 pairs: int = PAIRS, clock: Clock = time.perf_counter) -> tuple[list[float], list[float]]:
    """Per-call seconds of `a` and `b`, in `pairs` back-to-back pairs (ABBA order), after warm calls of each."""
    na, nb = _calls_per_window(a, sync, clock), _calls_per_window(b, sync, clock)
    ta: list[float] = []
    tb: list[float] = []
    for i in range(pairs):
        first = (a, na, ta), (b, nb, tb)
        for fn, n, into in first if i % 2 == 0 else first[::-1]:
            into.append(_per_call_s(fn, sync, n, clock))
    return ta, tb


def _unstructured(shape: tuple[int, int], ratio: float, gen: torch.Generator, dtype, device) -> torch.Tensor:
    w = torch.randn(shape, generator=gen).to(device=device, dtype=dtype)
    keep = torch.rand(shape, generator=gen).to(device) >= ratio
    return w * keep


def _candidates(shape, ratio, gen, device) -> list[tuple[str, Callable[[torch.Tensor], object] | None, str]]:
    """(execution, x -> y or None when it cannot run here, why not)."""
    from ecobench.prune.execution import SparseLinear

    out = []
    w = _unstructured(shape, ratio, gen, torch.float32, "cpu")
    if device.type == "cpu":
        for kernel in ("csr", "bsr"):
            if kernel == "bsr" and (shape[0] % 16 or shape[1] % 16):
                out.append((kernel, None, "shape not divisible by the 16x16 block"))
                continue
            out.append((kernel, SparseLinear(w, None, kernel, (16, 16)), ""))
        out.append(("2:4", None, "needs CUDA (compute capability >= 8.0) and fp16/bf16: zeros in dense kernels here"))
    else:
        out += [(k, None, "torch's CSR/BSR matmul is ecobench's CPU path") for k in ("csr", "bsr")]
        out.append(("2:4", *_semi_structured(shape, device)))
    kept = max(1, round(shape[0] * (1 - ratio)))
    small = torch.randn((kept, shape[1]), generator=gen).to(device)
    out.append(("smaller-dense", lambda x, s=small: F.linear(x, s.to(x.dtype)), ""))
    return out


def _semi_structured(shape, device) -> tuple[Callable | None, str]:
    if torch.cuda.get_device_capability(device) < (8, 0):
        return None, "needs compute capability >= 8.0"
    from torch.sparse import to_sparse_semi_structured

    w = torch.randn(shape, device=device, dtype=torch.float16)
    w = (w.reshape(shape[0], -1, 4) * torch.tensor([1, 1, 0, 0], device=device, dtype=w.dtype)).reshape(shape)
    try:
        packed = to_sparse_semi_structured(w)
    except RuntimeError as err:
        return None, f"to_sparse_semi_structured refused: {str(err).splitlines()[0]}"
    return (lambda x: F.linear(x.half(), packed)), f"backend {getattr(packed, 'BACKEND', '?')}"


def measure(suite: Suite, vocab_size: int, context: int, device: torch.device | None = None,
            pairs: int = PAIRS) -> list[Row]:
    """Every (shape, workload, execution) of the suite against dense, with Holm-adjusted verdicts."""
    device = device or torch.device("cpu")
    if device.type == "cpu":
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return _measure(suite, vocab_size, context, device, pairs, lambda: None, time.thread_time)
        finally:
            torch.set_num_threads(threads)
    return _measure(suite, vocab_size, context, device, pairs, lambda: torch.cuda.synchronize(device),
                    time.perf_counter)


def _measure(suite: Suite, vocab_size: int, context: int, device: torch.device, pairs: int,
             sync: Callable[[], None], clock: Clock) -> list[Row]:
    gen = torch.Generator().manual_seed(0)
    ratio = sparsest(suite)
    rows: list[Row] = []
    for shape in layer_shapes(suite, vocab_size, context):
        dense_w = _unstructured(shape, ratio, gen, torch.float32, device)  # zeros in a dense kernel cost the same
        cands = _candidates(shape, ratio, gen, device)
        for label, tokens in workloads(suite, context):
            x = torch.randn((tokens, shape[1]), generator=gen).to(device)
            for name, fn, why in cands:
                if fn is None:
                    rows.append(Row(shape, tokens, label, name, math.nan, math.nan, None, None, None, None, "n/a", why))
                    continue
                half = name == "2:4"  # its dense pair runs in the same type
                dx, dw = (x.half(), dense_w.half()) if half else (x, dense_w)

                def dense_fn(dx: torch.Tensor = dx, dw: torch.Tensor = dw) -> torch.Tensor:
                    return F.linear(dx, dw)

                ta, tb = paired_times(lambda fn=fn, x=x: fn(x), dense_fn, sync, pairs, clock)
                r = stats.paired_ratio(ta, tb)
                rows.append(Row(shape, tokens, label, name, 1e3 * sum(tb) / len(tb), 1e3 * sum(ta) / len(ta),
                                r.ratio if r else None, r.low if r else None, r.high if r else None,
                                r.p if r else None, note=why))
    adjusted = stats.holm([r.p for r in rows])
    for row, p in zip(rows, adjusted):
        if row.verdict != "n/a" and p is not None and p < stats.ALPHA and row.ratio is not None:
            row.verdict = "faster" if row.ratio < 1 else "slower"
    return rows


STRUCTURES = {"unstructured": ("csr", "bsr"), "2:4": ("2:4",), "structured": ("smaller-dense",)}


def verdicts(suite: Suite, rows: list[Row]) -> dict[str, str]:
    """One line per structure of the suite: can it save time (and energy) here, or will it be ≈ dense."""
    out = {}
    for structure in suite.prune.structures:
        key = "2:4" if ":" in structure and structure != "structured" else structure
        mine = [r for r in rows if r.execution in STRUCTURES.get(key, ())]
        ran = [r for r in mine if r.verdict != "n/a"]
        faster = [r for r in ran if r.verdict == "faster"]
        if faster:
            best = min(faster, key=lambda r: r.ratio or 1)
            out[structure] = (f"can save here: {best.execution} {best.ratio:.2f}x dense time on {best.workload} "
                              f"({len(faster)} of {len(ran)} comparisons faster beyond noise, at {sparsest(suite):.0%} "
                              "pruned)")
        elif ran:
            slower = sum(r.verdict == "slower" for r in ran)
            out[structure] = (f"≈ dense or slower here ({slower} of {len(ran)} comparisons slower, none faster): "
                              "the zeros save no time in dense kernels, and eval.execution: sparse would not help")
        else:
            why = "; ".join(sorted({f"{r.execution}: not runnable here" for r in mine})) or "no kernel"
            out[structure] = f"≈ dense here (zeros in dense kernels; {why})"
    return out


def table(rows: list[Row]) -> str:
    head = f"{'layer (out x in)':>17} {'workload':>10} {'tokens':>6} {'execution':>13} {'dense ms':>9} {'ms':>9} " \
           f"{'ratio [95% CI]':>22}  verdict"
    lines = [head]
    for r in rows:
        ci = f"{r.ratio:.2f} [{r.low:.2f}, {r.high:.2f}]" if r.ratio is not None and r.low is not None else "–"
        dense = f"{r.dense_ms:9.3f}" if r.dense_ms == r.dense_ms else f"{'–':>9}"
        ms = f"{r.ms:9.3f}" if r.ms == r.ms else f"{'–':>9}"
        lines.append(f"{r.shape[0]:>8} x {r.shape[1]:<6} {r.workload:>10} {r.tokens:>6} {r.execution:>13} {dense} {ms} "
                     f"{ci:>22}  {r.verdict}")
    return "\n".join(lines)


# -- the cache validate reads ---------------------------------------------------------------------------------------


def machine_key(suite: Suite, vocab_size: int, context: int, device: torch.device) -> str:
    """What the verdict depends on: the shapes and token counts, the ratio, the device, torch, the CPU count."""
    import os
    import platform

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    parts = [layer_shapes(suite, vocab_size, context), workloads(suite, context), sparsest(suite), str(device), name,
             torch.__version__, os.cpu_count()]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:20]


def _cache_path(key: str):
    from ecobench.data.cache import cache_dir

    return cache_dir() / "kernels" / f"{key}.json"


def save(key: str, rows: list[Row], lines: dict[str, str]) -> None:
    from ecobench.atomic import write_bytes

    data = {"rows": [asdict(r) for r in rows], "verdicts": lines, "measured_utc": time.strftime("%Y-%m-%dT%H:%MZ")}
    write_bytes(_cache_path(key), json.dumps(data, default=str).encode())


def cached(key: str) -> dict | None:
    from ecobench import safefile
    from ecobench.errors import UnsafePathError

    try:  # bounded, and only a regular file: a FIFO planted in the cache must not hang validate
        return json.loads(safefile.read_bytes(_cache_path(key), 10_000_000))
    except (OSError, ValueError, UnsafePathError):
        return None


def validate_line(suite: Suite, vocab_size: int, context: int, device: torch.device) -> str:
    """`validate`'s one line: the cached verdict of `doctor --kernels` on this machine, else what the device can run
    (no measurement: validate stays fast)."""
    hit = cached(machine_key(suite, vocab_size, context, device))
    if hit:
        said = "; ".join(f"{s}: {v.split(' (')[0]}" for s, v in hit["verdicts"].items())
        return f"kernels (doctor --kernels, {hit['measured_utc']}): {said}"
    if device.type == "cuda":
        two_four = ("2:4 can run semi-structured (measure it)" if torch.cuda.get_device_capability(device) >= (8, 0)
                    else "2:4 ≈ dense (compute capability < 8.0)")
    else:
        two_four = "2:4 ≈ dense (needs a CUDA GPU)"
    return (f"kernels (not measured here): unstructured ≈ dense in dense kernels (CSR/BSR rarely faster below ~95% "
            f"zeros); {two_four}; structured shrinks the matmuls. `ecobench doctor --kernels` measures it here")
