"""eval.precision (issue 28, item 3): evaluation, prefill, decode, their warm-up and the paired dense reference run
in one precision (default: train.precision); with execution: sparse on a GPU both sides are cast to one half type,
and the 2:4 library that ran is recorded."""

from __future__ import annotations

import pytest
import torch

from ecobench.config.schema import Suite
from ecobench.device import eval_precision, sparse_eval_dtype
from ecobench.footprint import Monitor
from ecobench.measure import Workload, eval_workload, inference_workloads, measure_paired
from ecobench.prune.execution import Execution, SemiStructuredLinear

BASE = {
    "name": "eval-precision",
    "seeds": [0],
    "data": {"corpus": "shakespeare", "context": 16, "max_chars": 20_000},
    "model": {"n_layer": 1, "n_head": 2, "n_embd": 16},
    "train": {"steps": 2, "batch_size": 2, "warmup_steps": 0},
    "prune": {"methods": [{"name": "magnitude"}], "ratios": [0.5]},
    "eval": {"batches": 1, "inference_tokens": 2, "inference_batch_sizes": [1]},
}


def _suite(train: str, eval_: str | None = None) -> Suite:
    spec = {**BASE, "train": {**BASE["train"], "precision": train}}
    if eval_ is not None:
        spec["eval"] = {**BASE["eval"], "precision": eval_}
    return Suite.model_validate(spec)


def test_eval_precision_defaults_to_train_precision_on_every_workload() -> None:
    data = None  # the workloads are only built here, not run
    for suite, want in ((_suite("bf16"), "bf16"), (_suite("bf16", "fp32"), "fp32"), (_suite("fp32", "fp16"), "fp16"),
                        (_suite("fp32"), "fp32")):
        assert eval_precision(suite.train.precision, suite.eval.precision) == want
        workloads = [eval_workload(suite, data), *inference_workloads(suite, data)]
        assert [w.phase for w in workloads] == ["eval", "prefill", "decode"]
        assert {w.precision for w in workloads} == {want}, suite.eval


def test_both_sides_of_a_pair_run_in_the_eval_precision() -> None:
    """Before, evaluation had no autocast: a bf16-trained model and its dense reference were measured in fp32."""
    seen: list[tuple[str, torch.dtype]] = []
    x = torch.randn(3, 8)

    def run(model: torch.nn.Module, _: object) -> int:
        seen.append((model.name, model(x).dtype))
        return 3

    pruned, dense = torch.nn.Linear(8, 8), torch.nn.Linear(8, 8)
    pruned.name, dense.name = "pruned", "dense"
    monitor = Monitor(Suite.model_validate({**BASE, "footprint": {"idle_seconds": 0, "gpu": "none", "cpu": "none",
                                                                   "ram": "none"}}).footprint, device="cpu")
    monitor.start()
    try:
        measure_paired(monitor, "k", pruned, dense, [Workload("eval", None, run, precision="bf16")], repeats=2)
    finally:
        monitor.close()
    # every call, warm-ups of both sides included (protocol v2 warms both, pairs in ABBA order), ran in bf16
    names = [s for s, _ in seen]
    assert {d for _, d in seen} == {torch.bfloat16}
    assert names.count("pruned") == names.count("dense") >= 3  # a warm-up and two measured windows each
    seen.clear()
    Workload("eval", None, run).execute(pruned)  # fp32 (the default): no autocast at all
    assert seen == [("pruned", torch.float32)]


def test_sparse_execution_on_a_gpu_casts_both_sides_to_one_half_type() -> None:
    cuda = torch.device("cuda", 0)  # a device object only: nothing runs on it
    assert sparse_eval_dtype("fp32", cuda, "sparse") == torch.bfloat16  # fp32 weights: every 2:4 layer was refused
    assert sparse_eval_dtype("bf16", cuda, "sparse") == torch.bfloat16
    assert sparse_eval_dtype("fp16", cuda, "sparse") == torch.float16
    assert sparse_eval_dtype("fp16", cuda, "dense") is None
    assert sparse_eval_dtype("bf16", torch.device("cpu"), "sparse") is None  # CPU CSR/BSR kernels take fp32


@pytest.mark.parametrize("backend", ["cusparselt", "cutlass"])
def test_the_2_4_library_is_recorded(monkeypatch, backend: str) -> None:
    """to_sparse_semi_structured faked at torch's boundary (it needs a CUDA GPU of compute capability 8.0+): the
    tensor subclass it returns names its library in BACKEND, which the row records as sparse_backend."""

    class Packed:
        BACKEND = backend

    monkeypatch.setattr(torch.sparse, "to_sparse_semi_structured", lambda w: Packed())
    layer = SemiStructuredLinear(torch.zeros(8, 16, dtype=torch.float16), None)
    assert layer.backend == backend
    ex = Execution(kernels={"a": "semi-structured-2:4", "b": "no"}, backends={"a": backend})
    assert ex.backend() == backend and Execution().backend() is None


def test_eval_precision_at_its_default_keeps_the_fingerprint() -> None:
    assert _suite("fp32").fingerprint() == Suite.model_validate(BASE).fingerprint()
    assert _suite("fp32", "bf16").fingerprint() != _suite("fp32").fingerprint()
