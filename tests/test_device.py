"""run.device and train.precision: resolving the device, moving batches, refusing what the device cannot do, and every
tensor of every phase on the run's device."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path

import pytest
import torch
from torch.overrides import TorchFunctionMode

from ecobench.cell import run_cell
from ecobench.config.schema import DataConfig, ModelConfig, Suite, TrainConfig
from ecobench.data.dataset import load_data
from ecobench.dense import ensure_dense
from ecobench.device import DeviceError, check_precision, resolve_device, to_device
from ecobench.errors import CellFailed
from ecobench.footprint import Monitor
from ecobench.models.build import build_model
from ecobench.sweep import expand
from ecobench.train import generate_tokens, train

DATA = DataConfig(corpus="shakespeare", context=32, max_chars=40_000)


@pytest.fixture(scope="module")
def tiny():
    return load_data(DATA, ModelConfig())


def tiny_model(data, family: str = "gpt2"):
    return build_model(ModelConfig(family=family, n_layer=1, n_head=2, n_embd=32), data.vocab_size, data.context, 0)


# -- resolving run.device -------------------------------------------------------------------------------------------


def test_auto_is_the_cpu_without_cuda(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_cuda_without_cuda_is_one_line(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match=r"^run.device: 'cuda' asked for, but .*use run.device: cpu or auto$"):
        resolve_device("cuda")


def test_auto_and_cuda_name_the_current_gpu_and_a_missing_one_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda", 1)  # an explicit index: the meters need to know which
    assert resolve_device("cuda") == torch.device("cuda", 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(DeviceError, match=r"'cuda:2' asked for, but only 2 CUDA device\(s\) are visible"):
        resolve_device("cuda:2")


def test_bf16_is_refused_on_a_gpu_without_it_and_allowed_on_the_cpu(monkeypatch) -> None:
    import contextlib

    monkeypatch.setattr(torch.cuda, "device", lambda device: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100-SXM2-16GB")
    problem = check_precision("bf16", torch.device("cuda", 0))
    assert problem is not None and "Tesla V100" in problem and "fp32" in problem and "\n" not in problem
    assert check_precision("fp32", torch.device("cuda", 0)) is None
    assert check_precision("bf16", torch.device("cpu")) is None


def test_run_refuses_an_unknown_device_in_the_suite(tmp_path: Path, capsys) -> None:
    from tests.conftest import SUITES
    from tests.reliability.conftest import run_inprocess

    rc, _, err = run_inprocess(["run", str(SUITES / "smoke.yaml"), "--out", str(tmp_path / "r"), "--device", "gpu0",
                                "-q"], capsys)
    assert rc == 2
    assert err.strip().splitlines()[-1].endswith("run.device: device must be auto, cpu, cuda or cuda:N, got 'gpu0'")


# -- moving batches ---------------------------------------------------------------------------------------------------


def test_to_device_moves_every_tensor_of_any_batch_shape() -> None:
    Pair = namedtuple("Pair", "x y")
    batch = {"ids": torch.ones(2, 3, dtype=torch.long), "pixels": [torch.zeros(2, 3), (torch.zeros(1), 7)],
             "pair": Pair(torch.ones(1), "label"), "n": 4}
    moved = to_device(batch, "meta")
    assert moved["ids"].device.type == "meta" and moved["ids"].dtype == torch.long
    assert moved["pixels"][0].is_meta and moved["pixels"][1][0].is_meta and moved["pixels"][1][1] == 7
    assert isinstance(moved["pair"], Pair) and moved["pair"].x.is_meta and moved["pair"].y == "label"
    assert moved["n"] == 4 and isinstance(moved["pixels"], list) and isinstance(moved["pixels"][1], tuple)


def test_prefill_and_decode_run_on_the_models_device(tiny) -> None:
    """On the meta device nothing is computed, so any host tensor reaching the model would raise: prompts are moved."""
    with torch.device("meta"):
        model = tiny_model(tiny)
    assert generate_tokens(model, tiny, 8, 2, prompt_len=4) == 8


# -- the loss read every log_every steps ----------------------------------------------------------------------------


def test_reading_the_loss_less_often_changes_no_number(tiny) -> None:
    results = []
    for log_every in (1, 7, 100):
        model = tiny_model(tiny)
        tc = TrainConfig(steps=12, batch_size=4, warmup_steps=2, log_every=log_every)
        res = train(model, tiny, tc, steps=12, seed=0, progress=False)
        results.append((res.final_loss, [p.detach().clone() for p in model.parameters()]))
    for loss, params in results[1:]:
        assert loss == results[0][0]  # bit for bit
        assert all(torch.equal(a, b) for a, b in zip(params, results[0][1]))


def test_a_non_finite_loss_names_its_own_step_whenever_it_is_read(tiny) -> None:
    steps = []
    for log_every in (1, 13):
        tc = TrainConfig(steps=40, batch_size=4, lr=1e6, warmup_steps=0, grad_clip=0, log_every=log_every)
        with pytest.raises(CellFailed) as info:
            train(tiny_model(tiny), tiny, tc, steps=40, seed=0, progress=False)
        steps.append(info.value.step)
    assert steps[0] == steps[1] and steps[0] >= 1


def test_bf16_autocast_trains_on_the_cpu_and_differs_from_fp32(tiny) -> None:
    losses = {}
    for precision in ("fp32", "bf16"):
        tc = TrainConfig(steps=6, batch_size=4, warmup_steps=0, precision=precision)
        losses[precision] = train(tiny_model(tiny), tiny, tc, steps=6, seed=0, progress=False).final_loss
    assert torch.isfinite(torch.tensor(losses["bf16"]))
    assert losses["bf16"] != losses["fp32"]  # autocast really ran the forward in bf16
    assert abs(losses["bf16"] - losses["fp32"]) < 0.2


# -- every tensor of every phase on the run's device ----------------------------------------------------------------


class DevicesSeen(TorchFunctionMode):
    """Records the device of every tensor passed to or returned by a torch function while active."""

    def __init__(self) -> None:
        super().__init__()
        self.where: dict[str, set[str]] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in _tensors([args, kwargs or {}, out]):
            self.where.setdefault(t.device.type, set()).add(getattr(func, "__name__", str(func)))
        return out


def _tensors(x):
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from _tensors(v)
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _tensors(v)


PHASES_SUITE = {
    "name": "device-phases",
    "seeds": [0],
    "data": {"corpus": "shakespeare", "context": 32, "max_chars": 40_000},
    "model": {"family": "llama", "n_layer": 2, "n_head": 2, "n_embd": 32},
    "train": {"steps": 6, "batch_size": 4, "warmup_steps": 0, "record_every": 2, "log_every": 4},
    "prune": {
        "methods": [{"name": "magnitude"}, {"name": "random"}, {"name": "trajectory"}, {"name": "movement"},
                    {"name": "wanda"}, {"name": "sparsegpt", "blocksize": 16}, {"name": "taylor"}],
        "ratios": [0.5],
        "structures": ["unstructured", "2:4", "structured"],
        "calibration": {"batches": 1, "batch_size": 2},
        "recover_steps": 2,
    },
    "eval": {"batches": 1, "batch_size": 4, "inference_tokens": 2, "inference_batch_sizes": [2], "prefill_batches": 1},
    "footprint": {"idle_seconds": 0, "repeats": 2, "noise_windows": 2, "gpu": "none", "cpu": "none", "ram": "none",
                  "min_window_s": 0},  # where tensors live, not how long windows last
    "run": {"device": "cpu"},
}


VISION_SUITE = {
    "name": "device-phases-vision",
    "seeds": [0],
    "data": {"corpus": "digits-vqa", "tokenizer": "char", "val_fraction": 0.2},
    "model": {"family": "llava", "n_layer": 1, "n_head": 2, "n_embd": 16, "vision_layers": 1, "image_size": 8,
              "patch_size": 4},
    "train": {"steps": 4, "batch_size": 4, "warmup_steps": 0, "record_every": 2, "log_every": 3},
    "prune": {"methods": [{"name": "magnitude"}, {"name": "trajectory"}], "ratios": [0.5], "recover_steps": 2,
              "targets": {"parts": ["vision", "language"]}},
    "eval": {"batches": 1, "batch_size": 4, "inference_tokens": 1, "inference_batch_sizes": [2], "prefill_batches": 1},
    "footprint": PHASES_SUITE["footprint"],
    "run": {"device": "cpu"},
}


@pytest.mark.slow
@pytest.mark.parametrize("spec", [PHASES_SUITE, VISION_SUITE], ids=["text", "vision-language"])
def test_every_tensor_of_every_phase_lives_on_the_run_device(tmp_path: Path, spec: dict) -> None:
    """run.device: cpu, with torch's default device set to `meta` while the phases run: a tensor made without naming
    its device lands on meta (and mixing it with the model's raises), so the run's device must be explicit
    everywhere. Dense training with every recorder, then score, prune, recover, eval, prefill and decode of every
    method and structure, for a text model and an image-text model (dict batches)."""
    suite = Suite.model_validate(spec)
    # sparsegpt has no structured cell (check_suite refuses it)
    cells = [c for c in expand(suite) if not (c.method == "sparsegpt" and c.structure == "structured")]
    monitor = Monitor(suite.footprint, device="cpu")
    monitor.start()
    seen = DevicesSeen()
    torch.set_default_device("meta")
    try:
        with seen:
            dense = ensure_dense(suite, 0, tmp_path / "dense", monitor, progress=False)
            assert dense["status"] == "ok"
            records = [run_cell(suite, c, tmp_path / "dense", dense, monitor, progress=False) for c in cells]
    finally:
        torch.set_default_device(None)
        monitor.close()
    assert [r.reason for r in records if r.status != "ok"] == []
    phases = {p.phase for r in records for p in r.phases}
    assert {"train", "score", "prune", "recover", "eval", "prefill", "decode"} <= phases
    assert set(seen.where) == {"cpu"}, {k: sorted(v)[:10] for k, v in seen.where.items() if k != "cpu"}
    assert len(seen.where["cpu"]) > 50  # the mode saw the work (matmuls, optimizer, masks), not an empty run


@pytest.mark.slow  # a fresh interpreter with no GPU visible (~2.4 s)
def test_run_on_a_gpu_the_machine_lacks_is_one_line_before_anything_is_written(tmp_path: Path) -> None:
    from tests.conftest import SUITES, run_cli

    out = tmp_path / "r"
    proc = run_cli("run", str(SUITES / "smoke.yaml"), "--out", str(out), "--device", "cuda", "-q",
                   env={"CUDA_VISIBLE_DEVICES": ""})  # no GPU visible, whatever the machine
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "smoke.yaml (--set): run.device: 'cuda' asked for, but " in last
    assert last.endswith("use run.device: cpu or auto") and not out.exists()


# -- the fingerprint and the manifest --------------------------------------------------------------------------------


def test_new_fields_at_their_defaults_keep_the_fingerprint_and_log_every_never_counts() -> None:
    base = {k: v for k, v in PHASES_SUITE.items() if k != "run"}
    plain = Suite.model_validate(base).fingerprint()
    same = [{"run": {"device": "auto"}}, {"train": {**base["train"], "log_every": 1}},
            {"train": {**base["train"], "precision": "fp32", "compile": False}}]
    for extra in same:
        assert Suite.model_validate({**base, **extra}).fingerprint() == plain, extra
    other = [{"run": {"device": "cpu"}}, {"run": {"deterministic": True}}, {"train": {**base["train"], "precision": "bf16"}},
             {"train": {**base["train"], "compile": True}}]
    for extra in other:
        assert Suite.model_validate({**base, **extra}).fingerprint() != plain, extra


def test_the_manifest_says_where_and_how_the_run_computed() -> None:
    from ecobench.config.load import load_suite
    from ecobench.provenance import build_manifest
    from tests.conftest import SUITES

    sf = load_suite(SUITES / "smoke.yaml", ["run.device=cpu", "train.precision=bf16"])
    manifest = build_manifest(sf, ["ecobench"], load_data(sf.suite.data, sf.suite.model))
    compute = manifest["compute"]
    assert manifest["sessions"][-1]["compute"] == compute
    assert compute["device"] == "cpu" and compute["precision"] == "bf16" and compute["compile"] is False
    assert compute["bit_exact"].startswith("yes") and "bf16 autocast on the CPU" in compute["note"]


def test_train_compile_trains_through_torch_compile(tiny, monkeypatch) -> None:
    """The loop calls torch.compile on the model and trains the compiled callable (here the identity: the C++
    toolchain inductor needs is not assumed), with the same numbers."""
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda model: compiled.append(model) or model)
    losses = []
    for flag in (False, True):
        model = tiny_model(tiny)
        tc = TrainConfig(steps=4, batch_size=4, warmup_steps=0, compile=flag)
        losses.append(train(model, tiny, tc, steps=4, seed=0, progress=False).final_loss)
    assert len(compiled) == 1 and losses[0] == losses[1]


# -- masks and scores on the device of the weights they cut (issue 28, item 4) ----------------------------------------


def test_wanda_row_masks_are_made_on_the_device_of_their_scores(tiny) -> None:
    """Wanda's per-row keep-masks must be made where its scores are (the weights' device) and multiply the weights
    there. Here the scores are moved to `meta`, a device that is not the host (a model cannot run a forward there):
    before, the masks were numpy-made on the host, and on CUDA the mask multiply raised a device mismatch
    (suites/pretrained-llm.yaml)."""
    from ecobench.config.schema import TargetsConfig
    from ecobench.prune.masks import apply_masks, make_masks
    from ecobench.prune.methods import REGISTRY
    from ecobench.prune.methods.base import ScoreInputs, Scores
    from ecobench.prune.targets import select_targets

    model = tiny_model(tiny, "llama")
    targets = select_targets(model, TargetsConfig())
    x = tiny.val[: 2 * tiny.context].reshape(2, tiny.context)
    method = REGISTRY["wanda"]
    scores = method.score(method.options(name="wanda"), ScoreInputs(weights=dict(targets), model=model,
                                                                   calibration=[(x, x)], targets=targets))
    assert scores.rows is not None
    on_meta = Scores({n: scores.rank[n].to("meta") for n in targets}, rows=scores.rows)
    masks = make_masks(on_meta, 0.5, "layer", None)
    assert set(masks) == set(targets) and {m.device.type for m in masks.values()} == {"meta"}
    apply_masks({n: torch.nn.Parameter(p.detach().to("meta")) for n, p in targets.items()}, masks)
    host = make_masks(Scores({n: scores.rank[n] for n in targets}, rows=scores.rows), 0.5, "layer", None)
    for m in host.values():  # the host path cuts exactly half of every row too
        assert m.device.type == "cpu" and int((~m).sum()) == m.numel() // 2


def test_a_mask_on_another_device_than_its_weight_is_refused_by_name() -> None:
    from ecobench.prune.masks import apply_masks

    weight = torch.nn.Parameter(torch.ones(4, 4, device="meta"))
    with pytest.raises(RuntimeError, match=r"mask of w is on cpu, its weight on meta"):
        apply_masks({"w": weight}, {"w": torch.ones(4, 4, dtype=torch.bool)})


def test_cuts_on_a_device_never_call_kthvalue(monkeypatch) -> None:
    """CUDA's kthvalue has no deterministic kernel: under run.deterministic: true torch raises (the forecast probe
    and every layer/global cut of GPU scores died there). Scores that take torch's path (here bf16 on the host)
    must be cut without it, to the same exact count."""
    from ecobench.prune.masks import masks_for_ratio

    def refuse(*args, **kwargs):
        raise RuntimeError("kthvalue CUDA does not have a deterministic implementation")

    monkeypatch.setattr(torch.Tensor, "kthvalue", refuse)
    monkeypatch.setattr(torch, "kthvalue", refuse)
    scores = {"a": torch.arange(40, dtype=torch.bfloat16).reshape(5, 8), "b": torch.ones(3, 4, dtype=torch.bfloat16)}
    for scope in ("layer", "global"):
        masks = masks_for_ratio(dict(scores), 0.5, scope, seed=0)
        pruned = sum(int((~m).sum()) for m in masks.values())
        assert pruned == round(0.5 * 40) + round(0.5 * 12) if scope == "layer" else pruned == 26
