"""`ecobench doctor --kernels` and validate's kernel line (ecobench/kernels.py)."""

from __future__ import annotations

import pytest

from ecobench.config.schema import Suite
from ecobench.kernels import Row, layer_shapes, measure, paired_times, validate_line, verdicts, workloads
from tests.conftest import SUITES
from tests.reliability.conftest import run_inprocess

SPEC = {
    "name": "kernels",
    "seeds": [0],
    "data": {"corpus": "shakespeare", "context": 16, "max_chars": 20_000},
    "model": {"n_layer": 1, "n_head": 2, "n_embd": 32},
    "train": {"steps": 1, "batch_size": 2},
    "prune": {"methods": [{"name": "magnitude"}], "ratios": [0.5, 0.8], "structures": ["unstructured", "2:4",
                                                                                      "structured"]},
    "eval": {"batch_size": 2, "inference_tokens": 2, "inference_batch_sizes": [1, 4]},
}


class StepClock:
    """A clock each call of a workload moves by that workload's cost: ratios are exact, intervals zero-width."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def work(self, seconds: float):
        def fn() -> None:
            self.now += seconds
        return fn


def test_paired_times_alternate_and_time_per_call() -> None:
    clock = StepClock()
    ta, tb = paired_times(clock.work(0.001), clock.work(0.002), lambda: None, pairs=4, clock=clock)
    assert ta == pytest.approx([0.001] * 4) and tb == pytest.approx([0.002] * 4)


def test_the_suites_own_shapes_and_token_counts() -> None:
    suite = Suite.model_validate(SPEC)
    shapes = layer_shapes(suite, 65, 16)
    assert (96, 32) in shapes and (128, 32) in shapes and (32, 128) in shapes  # GPT-2 c_attn, c_fc, mlp c_proj
    assert workloads(suite, 16) == [("decode-b1", 1), ("decode-b4", 4), ("eval", 32)]


def test_verdicts_follow_the_intervals_and_say_what_cannot_run() -> None:
    suite = Suite.model_validate(SPEC)
    rows = [Row((8, 8), 1, "decode-b1", "csr", 1.0, 1.05, 1.05, 0.9, 1.2, 0.4),
            Row((8, 8), 1, "decode-b1", "bsr", 1.0, 3.0, 3.0, 2.5, 3.5, 0.001, "slower"),
            Row((8, 8), 1, "decode-b1", "2:4", float("nan"), float("nan"), None, None, None, None, "n/a", "needs CUDA"),
            Row((8, 8), 1, "decode-b1", "smaller-dense", 1.0, 0.4, 0.4, 0.35, 0.45, 0.001, "faster")]
    v = verdicts(suite, rows)
    assert v["unstructured"].startswith("≈ dense or slower here (1 of 2 comparisons slower, none faster)")
    assert v["2:4"].startswith("≈ dense here") and "not runnable here" in v["2:4"]
    assert v["structured"].startswith("can save here: smaller-dense 0.40x dense time on decode-b1")


def test_measure_runs_every_execution_this_cpu_has() -> None:
    suite = Suite.model_validate(SPEC)
    rows = measure(suite, 65, 16, pairs=2)
    by_exec = {r.execution for r in rows if r.verdict != "n/a"}
    assert by_exec == {"csr", "bsr", "smaller-dense"}  # 2:4 needs CUDA
    assert all(r.verdict == "n/a" and "CUDA" in r.note for r in rows if r.execution == "2:4")
    assert all(r.ratio is not None and r.low is not None and r.dense_ms > 0 for r in rows if r.verdict != "n/a")


def test_validate_says_what_the_device_can_run_without_measuring(tmp_path, monkeypatch) -> None:
    import torch

    monkeypatch.setenv("ECOBENCH_CACHE", str(tmp_path))
    line = validate_line(Suite.model_validate(SPEC), 65, 16, torch.device("cpu"))
    assert line.startswith("kernels (not measured here): ") and "2:4 ≈ dense (needs a CUDA GPU)" in line
    assert "doctor --kernels" in line


@pytest.mark.slow
def test_doctor_kernels_prints_its_table_then_validate_reads_it(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ECOBENCH_CACHE", str(tmp_path / "cache"))
    rc, out, err = run_inprocess(["doctor", "--kernels", str(SUITES / "smoke.yaml")], capsys)
    assert rc == 0, err
    assert "layer (out x in)" in out and "ratio [95% CI]" in out and "\nunstructured: " in out
    assert "cached for `ecobench validate`" in out
    rc, out, err = run_inprocess(["validate", str(SUITES / "smoke.yaml")], capsys)
    assert rc == 0 and "kernels (doctor --kernels, " in out and "unstructured: " in out, err
    rc, _, err = run_inprocess(["doctor", "--kernels"], capsys)
    assert rc == 2 and err.strip().splitlines()[-1].endswith("suites/llm.yaml")


def test_doctor_kernels_refuses_in_one_line(capsys) -> None:
    """No suite, or a pretrained one (its shapes need its weights loaded): one line, exit 2, nothing measured."""
    from ecobench.cli import main

    assert main(["doctor", "--kernels"]) == 2
    assert capsys.readouterr().err.strip().endswith("ecobench doctor --kernels suites/llm.yaml")
    assert main(["doctor", "--kernels", str(SUITES / "pretrained-llm.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pretrained model's shapes are not read without loading it" in err[0]
