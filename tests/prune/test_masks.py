"""Masks reach the target sparsity exactly, and recovery keeps pruned weights at exactly zero."""

from __future__ import annotations

import pytest
import torch

import ecobench.prune.masks as masks_mod
from ecobench.prune.masks import apply_masks, masks_for_ratio, masks_for_std, sparsity


def _scores(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"a": torch.randn(33, 17, generator=g), "b": torch.randn(64, generator=g).abs() * 3, "c": torch.randn(5, 5, generator=g)}


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.5, 0.77, 0.9])
def test_layer_scope_is_exact_per_tensor(ratio: float) -> None:
    s = _scores()
    m = masks_for_ratio(s, ratio, "layer")
    for n, t in s.items():
        pruned = int((~m[n]).sum())
        assert abs(pruned - ratio * t.numel()) <= 0.5 + 1e-9  # round(): within one weight per tensor
        # the pruned ones are the lowest scores
        if 0 < pruned < t.numel():
            assert t[~m[n]].max() <= t[m[n]].min()


@pytest.mark.parametrize("ratio", [0.1, 0.5, 0.9])
def test_global_scope_is_exact_overall(ratio: float) -> None:
    s = _scores()
    m = masks_for_ratio(s, ratio, "global")
    total = sum(t.numel() for t in s.values())
    pruned = sum(int((~mk).sum()) for mk in m.values())
    assert abs(pruned - ratio * total) <= 0.5 + 1e-9
    assert max(s[n][~m[n]].max() for n in s if (~m[n]).any()) <= min(s[n][m[n]].min() for n in s if m[n].any())


def test_ties_still_give_the_exact_count() -> None:
    s = {"a": torch.zeros(10), "b": torch.ones(10)}
    m = masks_for_ratio(s, 0.3, "global")
    assert int((~m["a"]).sum()) == 6 and bool(m["b"].all())


def test_large_selection_path_agrees_with_concatenation(monkeypatch: pytest.MonkeyPatch) -> None:
    s = {f"t{i}": torch.randn(300, 200, generator=torch.Generator().manual_seed(i)) for i in range(5)}
    small = masks_for_ratio(s, 0.6, "global")
    monkeypatch.setattr(masks_mod, "CONCAT_LIMIT", 1000)  # force the sampled-then-exact path
    big = masks_for_ratio(s, 0.6, "global")
    for n in s:
        assert torch.equal(small[n], big[n])


def test_std_threshold_follows_the_paper() -> None:
    m_avg = {"w": torch.tensor([0.1, -0.2, 0.3, -0.4, 2.0])}
    final = {"w": torch.tensor([0.5, 0.0, -0.05, 1.0, 0.2])}
    t = m_avg["w"].abs().std().item() * 0.5
    keep = masks_for_std(m_avg, final, 0.5)["w"]
    assert keep.tolist() == [abs(v) > t for v in final["w"].tolist()]


def test_apply_and_measure() -> None:
    w = {"w": torch.nn.Parameter(torch.arange(1.0, 11.0))}
    m = masks_for_ratio({"w": w["w"].detach().abs()}, 0.4, "layer")
    apply_masks(w, m)
    frac, zeros, n = sparsity({"w": w["w"].detach()})
    assert (frac, zeros, n) == (0.4, 4, 10)
    assert w["w"][:4].eq(0).all()
