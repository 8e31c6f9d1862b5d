"""Sparse execution: the CSR/BSR model computes the dense masked model's logits, says which kernel ran per layer, and
says `no` (with the reason) wherever no kernel exists instead of falling back silently."""

from __future__ import annotations

import pytest
import torch

from ecobench.prune.execution import SparseLinear, is_2_4, use_sparse_kernels
from ecobench.prune.masks import apply_masks, masks_for_ratio
from ecobench.prune.structures import NM
from tests.prune.tiny import VOCAB, tiny_gpt2, tiny_llama, weight_scores


def _masked(make, structure: str):
    model = make()
    scores = weight_scores(model)
    masks = NM(2, 4).masks(model, scores) if structure == "2:4" else masks_for_ratio(scores, 0.9, "layer")
    params = dict(model.named_parameters())
    apply_masks({n: params[n] for n in masks}, masks)
    return model, list(masks)


def _logits(model, ids):
    with torch.no_grad():
        return model(ids).logits


@pytest.mark.parametrize("make", [tiny_gpt2, tiny_llama])
@pytest.mark.parametrize("structure", ["unstructured", "2:4"])
@pytest.mark.parametrize("kernel", ["csr", "bsr"])
def test_sparse_kernels_match_the_dense_masked_model(make, structure: str, kernel: str) -> None:
    model, names = _masked(make, structure)
    ids = torch.randint(0, VOCAB, (3, 11), generator=torch.Generator().manual_seed(0))
    dense = _logits(model, ids)
    ex = use_sparse_kernels(model, names, cpu_kernel=kernel)
    assert len(ex.kernels) == len(names) and set(ex.kernels.values()) == {kernel}
    assert ex.summary() == kernel and ex.notice() is None
    assert sum(isinstance(m, SparseLinear) for m in model.modules()) == len(names)
    assert torch.allclose(_logits(model, ids), dense, atol=1e-5, rtol=0)


def test_csr_stores_only_the_nonzeros() -> None:
    model, names = _masked(tiny_gpt2, "unstructured")
    nonzeros = sum(int(p.count_nonzero()) for n, p in model.named_parameters() if n in names)
    use_sparse_kernels(model, names)
    assert sum(m.stored_weights for m in model.modules() if isinstance(m, SparseLinear)) == nonzeros


def test_no_kernel_for_half_precision_on_cpu_is_said_not_hidden() -> None:
    model, names = _masked(tiny_llama, "2:4")
    model.half()
    ex = use_sparse_kernels(model, names)
    assert set(ex.kernels.values()) == {"no"} and ex.summary() == "no"
    assert "float16" in ex.notice() and "\n" not in ex.notice()
    assert not any(isinstance(m, SparseLinear) for m in model.modules())


def test_off_cpu_without_cuda_semi_structured_says_no() -> None:
    model, names = _masked(tiny_llama, "2:4")
    model.to("meta")  # not CPU, and no CUDA here: the 2:4 GPU path must refuse, not pretend
    ex = use_sparse_kernels(model, names)
    assert set(ex.kernels.values()) == {"no"}
    assert "CUDA" in ex.notice()


def test_mixed_kernels_are_summarised_as_both() -> None:
    model, names = _masked(tiny_gpt2, "unstructured")
    ex = use_sparse_kernels(model, names, cpu_kernel="bsr", blocksize=(32, 64))  # only the MLP c_proj (32 x 64) divides
    assert set(ex.kernels.values()) == {"bsr", "no"} and ex.summary() == "bsr+no"
    assert "BSR block" in ex.notice()


def test_is_2_4() -> None:
    w = torch.tensor([[1.0, 0, 0, 2, 0, 3, 4, 0]])
    assert is_2_4(w)
    assert not is_2_4(torch.tensor([[1.0, 1, 0, 2]]))
    assert not is_2_4(torch.zeros(2, 6))
