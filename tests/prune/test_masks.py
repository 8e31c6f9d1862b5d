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


# ties: pretrained or quantized weights take few distinct values, so many scores equal the threshold


def _tied(seed: int, shape: tuple[int, int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randint(0, 4, shape, generator=torch.Generator().manual_seed(seed)).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])  # numpy path, torch path
@pytest.mark.parametrize("scope", ["layer", "global"])
def test_ties_in_transposed_scores_give_the_exact_count(scope: str, dtype: torch.dtype) -> None:
    s = {"a": _tied(0, (30, 40), dtype).t(), "b": _tied(1, (20, 30), dtype).t()}  # non-contiguous views
    assert not s["a"].is_contiguous()
    m = masks_for_ratio(s, 0.5, scope, seed=3)
    if scope == "layer":
        assert [int((~m[n]).sum()) for n in s] == [600, 300]
    else:
        assert sum(int((~mk).sum()) for mk in m.values()) == 900
    for n in s:  # still the lowest scores
        if (~m[n]).any() and m[n].any():
            assert s[n][~m[n]].max() <= s[n][m[n]].min()


def test_global_ties_have_no_bias_toward_earlier_tensors() -> None:
    s = {f"t{i}": torch.zeros(1000) for i in range(4)}
    m = masks_for_ratio(s, 0.5, "global", seed=0)
    pruned = [int((~mk).sum()) for mk in m.values()]
    assert sum(pruned) == 2000
    assert all(400 <= p <= 600 for p in pruned), pruned  # tensor order would give [1000, 1000, 0, 0]


def test_tie_order_is_seeded_and_nests_across_ratios() -> None:
    s = {"a": _tied(0, (50, 40)), "b": _tied(1, (40, 50))}
    for scope in ("layer", "global"):
        one = masks_for_ratio(s, 0.4, scope, seed=7)
        assert all(torch.equal(one[n], masks_for_ratio(s, 0.4, scope, seed=7)[n]) for n in s)
        assert any(not torch.equal(one[n], masks_for_ratio(s, 0.4, scope, seed=8)[n]) for n in s)
        more = masks_for_ratio(s, 0.45, scope, seed=7)  # same threshold value (ties at 1): a superset is pruned
        assert all(bool((more[n] <= one[n]).all()) for n in s)
