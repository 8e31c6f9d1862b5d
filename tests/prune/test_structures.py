"""Structures: N:M keeps exactly N of every M along the inputs (hypothesis); structured shrink gives a smaller dense
GPT-2 / Llama that plain transformers saves, reloads and generates from with the same logits; bad input is one
clear StructureError line."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from ecobench.errors import StructureError, UserError
from ecobench.prune.flops import analytic_params
from ecobench.prune.masks import apply_masks
from ecobench.prune.shrink import shrink_model
from ecobench.prune.structures import NM, Structured, Unstructured, nm_mask, parse_structure
from tests.prune.tiny import VOCAB, tiny_gpt2, tiny_llama, weight_scores

# few distinct values (ties are common) and some exact zeros already in the weights
values = st.sampled_from([0.0, -1.0, 0.5, 1.0, 2.0]) | st.floats(-5, 5, allow_nan=False)


@st.composite
def nm_cases(draw):
    n_m = draw(st.sampled_from([(1, 2), (2, 4), (1, 4), (3, 4), (4, 8), (2, 8)]))
    rows, groups = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    w = torch.tensor(draw(st.lists(values, min_size=rows * groups * n_m[1], max_size=rows * groups * n_m[1])))
    return n_m, w.reshape(rows, groups * n_m[1])


@settings(max_examples=120, deadline=None)
@given(nm_cases(), st.booleans())
def test_nm_keeps_exactly_n_of_every_m(case, conv1d: bool) -> None:
    (n, m), w = case
    module = nn.Linear(w.shape[1], w.shape[0], bias=False)
    if conv1d:  # the same matrix stored as GPT-2 stores it
        from transformers.pytorch_utils import Conv1D

        module, w = Conv1D(w.shape[0], w.shape[1]), w.t().contiguous()
    keep = nm_mask(w.abs(), n, m, module)
    assert keep.shape == w.shape
    keep_oi = keep.t() if conv1d else keep
    w_oi = w.t() if conv1d else w
    assert (keep_oi.reshape(w_oi.shape[0], -1, m).sum(-1) == n).all()  # exact: N kept in every group
    assert abs(1 - keep.float().mean().item() - (1 - n / m)) < 1e-9
    masked = w.clone()
    apply_masks({"w": masked}, {"w": keep})
    zeros = masked == 0
    assert (zeros.reshape(-1) == (~keep | (w == 0)).reshape(-1)).all()  # no other zeros than pruned or already zero
    groups = (masked.t() if conv1d else masked).reshape(w_oi.shape[0], -1, m)
    assert ((groups == 0).sum(-1) >= m - n).all()
    # kept scores are the N highest of their group
    s = w_oi.abs().reshape(w_oi.shape[0], -1, m)
    k = keep_oi.reshape(s.shape)
    lo_kept = torch.where(k, s, torch.inf).amin(-1)
    hi_pruned = torch.where(~k, s, -torch.inf).amax(-1)
    assert (lo_kept >= hi_pruned).all()


def test_nm_on_a_model_masks_every_targeted_tensor() -> None:
    model = tiny_gpt2()
    scores = weight_scores(model)
    masks = NM(2, 4).masks(model, scores)
    assert set(masks) == set(scores)
    assert all(abs(m.float().mean().item() - 0.5) < 1e-9 for m in masks.values())


def test_nm_input_not_divisible_names_the_tensor() -> None:
    lin = nn.Linear(6, 4)
    with pytest.raises(StructureError, match=r"^prune.structures: layer.x.weight: input dimension 6 .*M=4"):
        nm_mask(lin.weight, 2, 4, lin, "layer.x.weight")


@pytest.mark.parametrize("text", ["2:2", "0:4", "4:2", "2-4", "2:4:8", "a:b", "", "Structured", "1.5:4"])
def test_bad_structure_strings_are_one_line_errors(text: str) -> None:
    with pytest.raises(StructureError) as err:
        parse_structure(text)
    msg = str(err.value)
    assert isinstance(err.value, UserError) and "\n" not in msg and msg.startswith("prune.structures: ")


def test_parse_structure() -> None:
    assert parse_structure("unstructured") == Unstructured()
    assert parse_structure(" 4:8 ") == NM(4, 8) and NM(4, 8).sparsity == 0.5 and NM(2, 4).name == "2:4"
    assert parse_structure("structured", heads=False) == Structured(mlp=True, heads=False)


def _logits(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(ids).logits


def _safetensors_bytes(path) -> int:
    return sum(f.stat().st_size for f in path.glob("*.safetensors"))


@pytest.mark.parametrize("family", ["gpt2", "llama", "llama-gqa"])
def test_structured_shrink_saves_reloads_and_generates(family: str, tmp_path) -> None:
    from transformers import AutoModelForCausalLM

    model = {"gpt2": tiny_gpt2, "llama": tiny_llama, "llama-gqa": lambda: tiny_llama(4, 2)}[family]()
    head_ratio = 0.0 if family == "gpt2" else 0.5
    before_params = analytic_params(model.config)
    (tmp_path / "dense").mkdir()
    model.save_pretrained(tmp_path / "dense")
    report = shrink_model(model, weight_scores(model), 0.5, head_ratio)

    assert [(k.neurons_kept, k.neurons_total) for k in report.layers] == [(32, 64)] * 2
    heads_kept = 4 if family == "gpt2" else 2
    assert [k.heads_kept for k in report.layers] == [heads_kept] * 2
    if family == "llama-gqa":  # whole key/value groups: a kept group brings both its query heads
        assert all(k.kept_heads[0] % 2 == 0 and k.kept_heads[1] == k.kept_heads[0] + 1 for k in report.layers)
    after = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    assert report.params_before == before_params and report.params_after == after == analytic_params(model.config)
    assert after < before_params

    model.save_pretrained(tmp_path / "small")
    assert (tmp_path / "small" / "model.safetensors").exists()
    dropped = _safetensors_bytes(tmp_path / "dense") - _safetensors_bytes(tmp_path / "small")
    assert abs(dropped - 4 * (before_params - after)) < 512  # float32 bytes; the header differs slightly

    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "small").eval()
    assert sum(p.numel() for p in {id(p): p for p in reloaded.parameters()}.values()) == after
    ids = torch.randint(0, VOCAB, (2, 9), generator=torch.Generator().manual_seed(1))
    assert torch.allclose(_logits(model, ids), _logits(reloaded, ids), atol=1e-6, rtol=0)
    out = reloaded.generate(ids[:1], max_new_tokens=4, do_sample=False, pad_token_id=0)
    assert out.shape == (1, 13)
    assert torch.equal(out, model.generate(ids[:1], max_new_tokens=4, do_sample=False, pad_token_id=0))


def test_structured_keeps_the_highest_group_scores() -> None:
    model = tiny_gpt2()
    scores = {n: torch.zeros_like(s) for n, s in weight_scores(model).items()}
    # layer 0: neurons 5 and 9 score high through c_fc's column (Conv1D (in, out)), 7 through c_proj's row
    scores["transformer.h.0.mlp.c_fc.weight"][:, [5, 9]] = 1.0
    scores["transformer.h.0.mlp.c_proj.weight"][7, :] = 2.0
    dense_fc = model.transformer.h[0].mlp.c_fc.weight.detach().clone()
    report = shrink_model(model, scores, 62 / 64, 0.0)
    assert report.layers[0].kept_neurons == (5, 7)  # the two highest of 5, 7 (row of 32 x 2.0) and 9: 7 > 5 = 9
    assert report.layers[1].kept_neurons == (0, 1)  # all tied at zero: the earliest indices
    assert torch.equal(model.transformer.h[0].mlp.c_fc.weight, dense_fc[:, [5, 7]])


@pytest.mark.parametrize(
    ("make", "mlp", "heads", "scope", "field", "match"),
    [
        (tiny_llama, 0.5, 0.9, "layer", "prune.ratio", "zero heads"),
        (lambda: tiny_llama(4, 2), 0.5, 0.9, "layer", "prune.ratio", "key/value groups"),
        (tiny_llama, 1.0, 0.0, "layer", "prune.ratio", r"not in \[0, 1\)"),
        (tiny_gpt2, 0.5, 0.5, "layer", "prune.structured.heads", "GPT-2 with fewer heads"),
        (tiny_llama, 0.5, 0.0, "global", "prune.scope", "global cannot be used"),
    ],
)
def test_structured_refusals_are_one_line(make, mlp, heads, scope, field, match) -> None:
    model = make()
    before = {n: p.clone() for n, p in model.state_dict().items()}
    with pytest.raises(StructureError, match=match) as err:
        shrink_model(model, weight_scores(model), mlp, heads, scope)
    assert err.value.field == field and "\n" not in str(err.value)
    assert all(torch.equal(before[n], p) for n, p in model.state_dict().items())  # nothing was changed


def test_structured_needs_the_group_scored_and_changes_nothing_when_it_refuses() -> None:
    model = tiny_llama()
    before = {n: p.clone() for n, p in model.state_dict().items()}
    scores = {n: s for n, s in weight_scores(model).items() if not n.startswith("model.layers.1.mlp.")}
    with pytest.raises(StructureError, match="layer 1: none of mlp.gate_proj"):
        Structured(mlp=True, heads=False).shrink(model, scores, 0.5, "layer")
    assert model.config.intermediate_size == 64  # layer 0 (which had scores) was not rewritten either
    assert all(torch.equal(before[n], p) for n, p in model.state_dict().items())


def test_head_groups_round_to_the_nearest_achievable_ratio_and_the_cell_records_it() -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    from ecobench.config.schema import TargetsConfig
    from ecobench.prune.apply import Pruned, structured_metrics
    from ecobench.prune.shrink import check_structured, removed
    from ecobench.prune.targets import select_targets

    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=6, num_key_value_heads=3, max_position_embeddings=32)
    # 6 query / 3 KV heads at 0.5: 1/3 and 2/3 are equally near; keep more (round-half-to-even removed 2 groups)
    assert check_structured(cfg, 0.0, 0.5, "layer") == (64, 2) and removed(0.5, 3) == 1
    assert removed(0.6, 3) == 2 and removed(0.3, 512) == 154 and removed(0.5, 512) == 256  # nearest, as before
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval()
    targets = select_targets(model, TargetsConfig())
    sizes = {n: p.numel() for n, p in targets.items()}
    plan = shrink_model(model, weight_scores(model), 0.0, 0.5, "layer")
    metrics = structured_metrics(Pruned(None, shrink=plan, sizes_before=sizes), select_targets(model, TargetsConfig()))
    assert metrics["head_ratio_achieved"] == pytest.approx(1 / 3) and metrics["mlp_ratio_achieved"] == 0.0
