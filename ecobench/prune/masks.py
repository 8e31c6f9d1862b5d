"""Masks from scores: exact-count cuts per layer or globally, the paper's std threshold, applying and measuring."""

from __future__ import annotations

import torch

# torch.quantile/kthvalue on one concatenated tensor is fine up to here; beyond it we select without concatenating
CONCAT_LIMIT = 1 << 24


def _kth_smallest(scores: list[torch.Tensor], k: int) -> float:
    """The k-th smallest value (1-based) across tensors, exactly.

    Above CONCAT_LIMIT elements, a strided sample brackets the answer, then only the values inside the bracket
    are gathered (sampled-then-exact selection), so 100M+ scores never need one big copy or a sort.
    """
    total = sum(s.numel() for s in scores)
    if total <= CONCAT_LIMIT:
        return torch.cat([s.reshape(-1) for s in scores]).kthvalue(k).values.item()
    stride = max(1, total // (1 << 20))
    sample = torch.cat([s.reshape(-1)[::stride] for s in scores]).float()
    q = k / total
    m = sample.numel()
    margin = int(4 * (m * q * (1 - q)) ** 0.5) + 16
    lo_i, hi_i = max(1, int(q * m) - margin), min(m, int(q * m) + margin)
    srt = sample.sort().values
    lo, hi = srt[lo_i - 1].item(), srt[hi_i - 1].item()
    if lo_i == 1:
        lo = float("-inf")
    if hi_i == m:
        hi = float("inf")
    below = sum(int((s < lo).sum()) for s in scores)
    inside = torch.cat([s.reshape(-1)[(s.reshape(-1) >= lo) & (s.reshape(-1) <= hi)] for s in scores])
    if below < k <= below + inside.numel():
        return inside.kthvalue(k - below).values.item()
    # the sample missed (very unlikely): fall back to the plain exact answer
    return torch.cat([s.reshape(-1) for s in scores]).kthvalue(k).values.item()


def _cut(scores: list[torch.Tensor], k: int) -> list[torch.Tensor]:
    """Keep-masks pruning exactly the k lowest scores; ties at the threshold are pruned in tensor order."""
    if k <= 0:
        return [torch.ones_like(s, dtype=torch.bool) for s in scores]
    thr = _kth_smallest(scores, k)
    masks = [s > thr for s in scores]
    budget = k - sum(int((s < thr).sum()) for s in scores)
    for s, mk in zip(scores, masks):
        ties = (s == thr).reshape(-1).nonzero().squeeze(1)
        take = ties[: max(0, budget)]
        budget -= take.numel()
        keep_ties = ties[take.numel() :]
        flat = mk.reshape(-1)
        flat[keep_ties] = True
    return masks


def masks_for_ratio(scores: dict[str, torch.Tensor], ratio: float, scope: str) -> dict[str, torch.Tensor]:
    """Prune round(ratio * n) weights: per tensor (`layer`) or across all targeted tensors (`global`)."""
    names = list(scores)
    if scope == "layer":
        return {n: _cut([scores[n]], round(ratio * scores[n].numel()))[0] for n in names}
    total = sum(s.numel() for s in scores.values())
    return dict(zip(names, _cut([scores[n] for n in names], round(ratio * total))))


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
        p.mul_(masks[n].to(p.dtype))


def sparsity(params: dict[str, torch.Tensor]) -> tuple[float, int, int]:
    """(fraction of targeted weights that are zero, zeros, targeted weights)."""
    zeros = sum(int((p == 0).sum()) for p in params.values())
    n = sum(p.numel() for p in params.values())
    return (zeros / n if n else 0.0), zeros, n
