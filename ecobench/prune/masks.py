"""Masks from scores: exact-count cuts per layer or globally, the paper's std threshold, applying and measuring."""

from __future__ import annotations

import zlib

import numpy as np
import torch

from ecobench.prune.heap import release_free_pages

# torch.quantile/kthvalue on one concatenated tensor is fine up to here; beyond it we select without concatenating
CONCAT_LIMIT = 1 << 24
# CPU scores of these dtypes are cut with numpy (views, no copy): np.partition (introselect) is ~7x faster than
# torch.kthvalue, and single-threaded comparisons and counts stay fast on a busy machine, where torch's intra-op
# threads wait on each other (measured 5-30x slower with 2 threads on 2 shared cores). Same exact values either way.
_NUMPY_DTYPES = {torch.float16, torch.float32, torch.float64, torch.int8, torch.int16, torch.int32, torch.int64,
                 torch.uint8}
FLOAT_DTYPES = {torch.float16, torch.float32, torch.float64}


def absolute(w: torch.Tensor) -> torch.Tensor:
    """|w|. On CPU through numpy: one pass either way, but torch's 2-thread kernels stall on a busy 2-core machine
    (measured 2.5 s vs 0.5 s for 106M weights), while numpy's single thread does not."""
    if w.device.type == "cpu" and w.dtype in FLOAT_DTYPES:
        return torch.from_numpy(np.abs(w.detach().numpy()))
    return w.abs()


# the selection below is written once for numpy arrays and torch tensors (non-CPU devices, other dtypes)


def _size(a) -> int:
    return a.size if isinstance(a, np.ndarray) else a.numel()


def _count(a) -> int:
    return int(np.count_nonzero(a)) if isinstance(a, np.ndarray) else int(torch.count_nonzero(a))


def _nonzero(a):
    return np.flatnonzero(a) if isinstance(a, np.ndarray) else a.reshape(-1).nonzero().squeeze(1)


def _kth_of_flat(flats: list, k: int) -> float:
    """The k-th smallest (1-based) of the concatenated 1-D arrays: one copy, then a selection in place."""
    if isinstance(flats[0], np.ndarray):
        a = np.concatenate(flats) if len(flats) > 1 else flats[0].copy()
        a.partition(k - 1)
        return a[k - 1].item()
    # not kthvalue: on CUDA it has no deterministic kernel, so run.deterministic: true stops there (torch raises);
    # a sort is deterministic and gives the same exact value
    return torch.cat(flats).sort().values[k - 1].item()


def _kth_smallest(scores: list, k: int) -> float:
    """The k-th smallest value (1-based) across arrays, exactly.

    Above CONCAT_LIMIT elements, a strided sample brackets the answer, then only the values inside the bracket
    are gathered (sampled-then-exact selection), so 100M+ scores never need one big copy or a sort.
    """
    flats = [s.reshape(-1) for s in scores]
    total = sum(_size(f) for f in flats)
    if total <= CONCAT_LIMIT:
        return _kth_of_flat(flats, k)
    stride = max(1, total // (1 << 20))
    sample = [f[::stride] for f in flats]
    sample = np.concatenate(sample) if isinstance(flats[0], np.ndarray) else torch.cat(sample).double().cpu().numpy()
    sample = sample.astype(np.float64)
    q = k / total
    m = sample.size
    margin = int(4 * (m * q * (1 - q)) ** 0.5) + 16
    lo_i, hi_i = max(1, int(q * m) - margin), min(m, int(q * m) + margin)
    sample.partition([lo_i - 1, hi_i - 1])
    lo = float("-inf") if lo_i == 1 else sample[lo_i - 1].item()
    hi = float("inf") if hi_i == m else sample[hi_i - 1].item()
    below = sum(_count(f < lo) for f in flats)
    inside = [f[(f >= lo) & (f <= hi)] for f in flats]
    if below < k <= below + sum(_size(t) for t in inside):
        return _kth_of_flat(inside, k - below)
    # the sample missed (very unlikely): fall back to the plain exact answer
    return _kth_of_flat(flats, k)


def _tie_rng(seed: int, name: str | None) -> np.random.Generator:
    """The generator that orders equal scores: from the cell's seed (and the tensor's name for a per-layer cut)."""
    return np.random.default_rng([seed] if name is None else [seed, zlib.crc32(name.encode())])


def _cut(scores: list[torch.Tensor], k: int, rng: np.random.Generator) -> list[torch.Tensor]:
    """Keep-masks pruning exactly the k lowest scores.

    Ties at the threshold are pruned in a random order drawn from `rng` over all tied positions of all tensors,
    so a global cut has no bias toward the first tensors, and the same seed gives masks that nest across ratios.
    """
    if k <= 0:
        return [torch.ones_like(s, dtype=torch.bool) for s in scores]
    on_cpu = all(s.device.type == "cpu" and s.dtype in _NUMPY_DTYPES for s in scores)
    arrays = [s.detach().numpy() for s in scores] if on_cpu else scores
    thr = _kth_smallest(arrays, k)
    # contiguous masks: the fix-up below writes through a flat (C-order) view, which a transposed layout lacks
    masks = [np.ascontiguousarray(a > thr) if on_cpu else (a > thr).contiguous() for a in arrays]
    at_or_below = sum(_size(a) - _count(mk) for a, mk in zip(arrays, masks))
    if at_or_below != k:  # ties at the threshold: keep some of them, so that exactly k are pruned
        budget = k - sum(_count(a < thr) for a in arrays)
        ties = [_nonzero(a == thr) for a in arrays]  # C-order flat indices, per tensor
        sizes = [len(t) for t in ties]
        order = rng.permutation(sum(sizes))  # position in the concatenated ties -> rank among equal scores
        kept = np.sort(order[budget:])  # the tied positions left unpruned
        bounds = np.cumsum([0, *sizes])
        for t, mk, lo, hi in zip(ties, masks, bounds[:-1], bounds[1:]):
            sel = kept[np.searchsorted(kept, lo) : np.searchsorted(kept, hi)] - lo
            if len(sel):
                idx = t[sel] if isinstance(t, np.ndarray) else t[torch.from_numpy(sel).to(t.device)]
                mk.reshape(-1)[idx] = True
    return [torch.from_numpy(mk) for mk in masks] if on_cpu else masks


def masks_for_ratio(
    scores: dict[str, torch.Tensor], ratio: float, scope: str, seed: int = 0, release: bool = False
) -> dict[str, torch.Tensor]:
    """Prune round(ratio * n) weights: per tensor (`layer`) or across all targeted tensors (`global`).

    `seed` orders equal scores (pretrained or quantized weights have many): pass the cell's seed.
    With `release`, layer scope drops each score from `scores` once its mask is made (the peak then holds the
    scores or the masks of a tensor, not both for every tensor).
    """
    names = list(scores)
    if scope == "layer":
        out = {}
        for n in names:
            out[n] = _cut([scores[n]], round(ratio * scores[n].numel()), _tie_rng(seed, n))[0]
            if release:
                del scores[n]
                release_free_pages()  # the score's pages, not the heap's holes, are what the next tensor reuses
        return out
    total = sum(s.numel() for s in scores.values())
    return dict(zip(names, _cut([scores[n] for n in names], round(ratio * total), _tie_rng(seed, None))))


def masks_per_row(scores: dict[str, torch.Tensor], rows: dict[str, int], ratio: float,
                  release: bool = False) -> dict[str, torch.Tensor]:
    """Prune round(ratio * in) weights of every output row on its own (Wanda's comparison group).
    `rows[name]` is the axis of that tensor indexing output features (0 for Linear, 1 for GPT-2's Conv1D).
    `release`: as masks_for_ratio's."""
    out = {}
    for n in list(scores):
        s = scores.pop(n) if release else scores[n]
        view = s.movedim(rows[n], 0).reshape(s.shape[rows[n]], -1)  # (out, in)
        k = round(ratio * view.shape[1])
        out[n] = _keep_per_row(view, k).reshape(s.movedim(rows[n], 0).shape).movedim(0, rows[n]).contiguous()
        if release:
            del s, view
            release_free_pages()  # as masks_for_ratio's
    return out


def _keep_per_row(view: torch.Tensor, k: int) -> torch.Tensor:
    """Keep-mask of an (out, in) score view pruning the k lowest of each row, on the scores' own device (a GPU
    run's masks multiply GPU weights). Ties at the cut still leave exactly k pruned per row."""
    if view.device.type == "cpu":
        keep = np.ones(tuple(view.shape), dtype=bool)
        if k > 0:  # a selection per row, not a sort (~5x faster)
            np.put_along_axis(keep, np.argpartition(view.detach().float().numpy(), k - 1, axis=1)[:, :k], False, axis=1)
        return torch.from_numpy(keep)
    keep = torch.ones(view.shape, dtype=torch.bool, device=view.device)
    if k > 0:  # topk has a deterministic CUDA kernel (kthvalue has not)
        keep.scatter_(1, view.float().topk(k, dim=1, largest=False).indices, False)
    return keep


def masks_for_std(
    spread: dict[str, torch.Tensor], criterion: dict[str, torch.Tensor], multiplier: float
) -> dict[str, torch.Tensor]:
    """The paper's per-tensor rule: keep |criterion| > std(|spread|) * r."""
    out = {}
    for n, c in criterion.items():
        t = spread[n].abs().float().std().item() * multiplier
        out[n] = c.abs() > t
    return out


@torch.no_grad()
def apply_masks(params: dict[str, torch.nn.Parameter], masks: dict[str, torch.Tensor]) -> None:
    for n, p in params.items():
        m = masks[n]
        if m.device != p.device:  # a bug, said by name: never a silent host-device copy per tensor
            raise RuntimeError(f"mask of {n} is on {m.device}, its weight on {p.device}")
        if p.device.type == "cpu" and m.device.type == "cpu" and p.dtype in FLOAT_DTYPES and m.dtype == torch.bool:
            w = p.detach().numpy()
            np.multiply(w, m.numpy(), out=w)  # the same products as p.mul_(m.to(p.dtype)), in numpy's one thread
            torch.autograd.graph.increment_version(p)  # an in-place change, as mul_ would record it
        else:
            p.mul_(m.to(p.dtype))


def zeros_per_tensor(params: dict[str, torch.Tensor]) -> dict[str, tuple[int, int]]:
    """name -> (zeros, weights): one pass that both the overall and the per-layer sparsity come from."""
    return {k: (int((p == 0).sum()), p.numel()) for k, p in params.items()}


def sparsity(params: dict[str, torch.Tensor]) -> tuple[float, int, int]:
    """(fraction of targeted weights that are zero, zeros, targeted weights)."""
    return overall_sparsity(zeros_per_tensor(params))


def overall_sparsity(counts: dict[str, tuple[int, int]]) -> tuple[float, int, int]:
    zeros = sum(z for z, _ in counts.values())
    n = sum(m for _, m in counts.values())
    return (zeros / n if n else 0.0), zeros, n


def make_masks(
    scores, ratio: float | None, scope: str, multiplier: float | None, seed: int = 0, release: bool = False
) -> dict[str, torch.Tensor]:
    """Keep-masks from a method's Scores: the paper's std rule when the method asked for it, a cut per output row
    when it asked for that (layer scope), else a ratio cut (equal scores ordered by `seed`, the cell's seed).
    `release`: the scores are not needed afterwards; free each as soon as its mask is made (layer scope)."""
    if scores.spread is not None:
        return masks_for_std(scores.spread, scores.rank, multiplier if multiplier is not None else 0.0)
    if scores.rows is not None and scope == "layer":
        return masks_per_row(scores.rank, scores.rows, ratio or 0.0, release)
    return masks_for_ratio(scores.rank, ratio or 0.0, scope, seed, release)
