"""train.compile (issue 28, item 5): compiled and warmed outside the training window, timed as its own `compile`
phase; recompiles inside the loop counted and logged. torch.compile is faked (the C++ toolchain inductor needs is not
assumed here): the fake returns a counting wrapper around the model, with the same numbers."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ecobench.config.schema import Suite
from ecobench.data.dataset import load_data
from ecobench.dense import ensure_dense
from ecobench.footprint import Monitor
from ecobench.train import compile_warm, train

SPEC = {
    "name": "compile",
    "seeds": [0],
    "data": {"corpus": "shakespeare", "context": 16, "max_chars": 20_000},
    "model": {"n_layer": 1, "n_head": 2, "n_embd": 16},
    "train": {"steps": 3, "batch_size": 2, "warmup_steps": 0, "compile": True},
    "prune": {"methods": [{"name": "magnitude"}], "ratios": [0.5]},
    "footprint": {"idle_seconds": 0, "gpu": "none", "cpu": "none", "ram": "none"},
    "run": {"device": "cpu"},
}


class Counting(torch.nn.Module):
    """What the fake torch.compile returns: the model itself, counting its calls and in which window they ran."""

    def __init__(self, model: torch.nn.Module, where: list[str], calls: list[str]):
        super().__init__()
        self.model, self.where, self.calls = model, where, calls

    def forward(self, *args, **kwargs):
        self.calls.append(self.where[-1] if self.where else "outside")
        return self.model(*args, **kwargs)


def test_compile_and_its_warm_up_run_outside_the_train_window(tmp_path: Path, monkeypatch) -> None:
    suite = Suite.model_validate(SPEC)
    where: list[str] = []
    calls: list[str] = []
    monkeypatch.setattr(torch, "compile", lambda model: Counting(model, where, calls))
    monitor = Monitor(suite.footprint, device="cpu")
    monitor.start()
    real_window = monitor.window

    def window(name: str):
        where.append(name)
        return real_window(name)

    monitor.window = window
    try:
        info = ensure_dense(suite, 0, tmp_path / "dense", monitor, progress=False)
    finally:
        monitor.close()
    assert info["status"] == "ok"
    assert where[:2] == ["seed0/dense/compile", "seed0/dense/train"]
    # one warm forward in the compile window; the train window holds exactly the training steps' forwards
    assert calls.count("seed0/dense/compile") == 1 and calls.count("seed0/dense/train") == 3
    assert info["compile_row"]["phase"] == "compile" and info["compile_row"]["wall_s"] > 0
    assert info["row"]["recompiles"] == 0


def test_the_warm_up_changes_no_training_number(monkeypatch) -> None:
    """The warm forward and backward take no step and restore the random state: the same losses and weights."""
    from ecobench.config.schema import TrainConfig
    from ecobench.models.build import build_model

    suite = Suite.model_validate(SPEC)
    data = load_data(suite.data, suite.model)
    monkeypatch.setattr(torch, "compile", lambda model: model)
    results = []
    for warm in (False, True):
        model = build_model(suite.model, data.vocab_size, data.context, 0)
        tc = TrainConfig(steps=3, batch_size=2, warmup_steps=0, compile=True)
        forward = compile_warm(model, data, tc)[0] if warm else None
        res = train(model, data, tc, steps=3, seed=0, progress=False, forward=forward)
        results.append((res.final_loss, [p.detach().clone() for p in model.parameters()]))
    assert results[0][0] == results[1][0]
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1]))


def test_recompiles_inside_the_loop_are_counted_and_logged(monkeypatch, caplog) -> None:
    import torch._dynamo.utils as dynamo_utils

    from ecobench.config.schema import TrainConfig
    from ecobench.models.build import build_model

    suite = Suite.model_validate(SPEC)
    data = load_data(suite.data, suite.model)

    class Recompiling(torch.nn.Module):  # every call compiles a frame again (a guard that keeps failing)
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, *args, **kwargs):
            dynamo_utils.counters["frames"]["ok"] += 1
            return self.model(*args, **kwargs)

    model = build_model(suite.model, data.vocab_size, data.context, 0)
    tc = TrainConfig(steps=4, batch_size=2, warmup_steps=0, compile=True)
    with caplog.at_level(logging.WARNING, logger="ecobench.train"):
        res = train(model, data, tc, steps=4, seed=0, progress=False, forward=Recompiling(model))
    assert res.recompiles == 4
    assert "compiled 4 frame(s) inside the training loop" in caplog.text
