"""One orientation helper: a Conv1D weight (in, out) and a Linear weight (out, in) holding the same map are the
same (out, in) matrix, and N:M masks and row/column selections agree on them."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from ecobench.errors import StructureError
from ecobench.prune.layout import as_out_in, from_out_in, keep_inputs, keep_outputs
from ecobench.prune.structures import nm_mask


def _pair(out_f: int = 6, in_f: int = 8) -> tuple[nn.Linear, Conv1D]:
    torch.manual_seed(0)
    lin = nn.Linear(in_f, out_f)
    conv = Conv1D(out_f, in_f)
    with torch.no_grad():
        conv.weight.copy_(lin.weight.t())
        conv.bias.copy_(lin.bias)
    return lin, conv


def test_conv1d_and_linear_views_are_the_same_matrix() -> None:
    lin, conv = _pair()
    assert torch.equal(as_out_in(lin.weight, lin), as_out_in(conv.weight, conv))
    assert torch.equal(from_out_in(as_out_in(conv.weight, conv), conv), conv.weight)
    x = torch.randn(3, 8)
    assert torch.allclose(lin(x), conv(x), atol=1e-6)


def test_nm_mask_on_conv1d_is_the_transposed_linear_mask() -> None:
    lin, conv = _pair()
    m_lin = nm_mask(lin.weight.abs(), 2, 4, lin)
    m_conv = nm_mask(conv.weight.abs(), 2, 4, conv)
    assert m_conv.shape == conv.weight.shape
    assert torch.equal(m_conv, m_lin.t())
    # groups run along the inputs: each row of the Linear mask keeps 2 of every 4 columns
    assert (m_lin.reshape(6, 2, 4).sum(-1) == 2).all()


@pytest.mark.parametrize("keep", [keep_outputs, keep_inputs])
def test_selections_compute_the_same_on_both_layouts(keep) -> None:
    lin, conv = _pair()
    idx = torch.tensor([0, 3, 5])
    a, b = keep(lin, idx), keep(conv, idx)
    assert isinstance(b, Conv1D) and isinstance(a, nn.Linear)
    x = torch.randn(4, a.in_features)
    assert torch.allclose(a(x), b(x), atol=1e-6)  # the Conv1D and Linear copies agree
    if keep is keep_outputs:
        full = torch.randn(4, 8)
        assert torch.allclose(keep(lin, idx)(full), lin(full)[:, idx], atol=1e-6)
    else:
        full = torch.zeros(4, 8)
        full[:, idx] = x
        assert torch.allclose(b(x), conv(full), atol=1e-6)


def test_a_one_dimensional_weight_is_refused() -> None:
    ln = nn.LayerNorm(8)
    with pytest.raises(StructureError, match="2-D"):
        as_out_in(ln.weight, ln, "ln.weight")
