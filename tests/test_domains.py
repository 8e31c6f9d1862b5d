"""eval.domains: every cell is also scored on another corpus's validation split, recorded and shown by compare."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ecobench.config.load import load_suite
from ecobench.data.corpus import load_corpus
from ecobench.data.dataset import TokenData
from ecobench.data.tokenizer import ByteTokenizer
from ecobench.dense import load_dense
from ecobench.domains import domain_config, evaluate_domains, load_domain
from ecobench.families import load_data
from ecobench.models.build import build_model
from ecobench.results import load_cells
from ecobench.train import evaluate
from tests.reliability.conftest import SMOKE, TINY_SETS, ecobench, run_inprocess, set_args, tiny_args

DOMAIN_SETS = ["data.tokenizer=byte", "eval.domains=[python-stdlib]", "prune.methods=[{name: magnitude}]",
               "prune.ratios=[0.5]", "prune.recover_steps=0"]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _suite(*extra: str):
    return load_suite(SMOKE, [*TINY_SETS, *DOMAIN_SETS, *extra]).suite


@pytest.fixture(scope="module")
def domain_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("domains") / "run"
    assert ecobench(tiny_args(out, *DOMAIN_SETS)) == 0
    return out


def test_every_cell_records_the_domain_metrics(domain_run: Path) -> None:
    cells = load_cells(domain_run)
    assert set(cells["method"]) == {"dense", "magnitude"}
    for _, c in cells.iterrows():
        loss, bpc, ppl = c["loss@python-stdlib"], c["bpc@python-stdlib"], c["ppl@python-stdlib"]
        assert loss > 0 and ppl == pytest.approx(math.exp(loss))
        assert bpc == pytest.approx(loss / math.log(2) / 1.0, rel=0.05)  # byte tokens: ~1 char each (ASCII source)
        assert c["tokens@python-stdlib"] == 2 * 16 * 32  # eval.batches x eval.batch_size x context
        assert c["loss@python-stdlib"] != pytest.approx(c["loss"])  # another corpus, not the main one again
    pruned = cells[cells["method"] == "magnitude"].iloc[0]
    dense = cells[cells["method"] == "dense"].iloc[0]
    assert pruned["loss@python-stdlib"] != dense["loss@python-stdlib"]


def test_recorded_domain_metrics_equal_a_direct_evaluation(domain_run: Path) -> None:
    """The dense cell's recorded domain loss is evaluate() of its checkpoint on the stdlib's validation split,
    built here by hand from the corpus: its last val_fraction of byte tokens."""
    suite = _suite()
    data = load_data(suite.data, suite.model)
    model = load_dense(suite, 0, domain_run / "dense" / "seed-0", data)
    cfg = domain_config(suite.data, "python-stdlib")
    text = load_corpus(cfg, True).text
    ids = torch.from_numpy(ByteTokenizer().encode(text).astype(np.int64))
    n_val = math.ceil(len(ids) * cfg.val_fraction)
    val = TokenData(train=ids[:-n_val], val=ids[-n_val:], tokenizer=ByteTokenizer(), context=cfg.context,
                    chars_per_token=len(text) / len(ids), corpus_sha256="", description="stdlib by hand")
    direct = evaluate(model, val, 16, suite.eval.batches)
    cells = load_cells(domain_run)
    recorded = cells[cells["method"] == "dense"].iloc[0]["loss@python-stdlib"]
    assert recorded == pytest.approx(direct.loss, rel=1e-6)
    # and the module's own entry point agrees on the same model
    assert evaluate_domains(model, suite, 16)["loss@python-stdlib"] == pytest.approx(direct.loss, rel=1e-6)
    assert torch.equal(load_domain(suite, "python-stdlib").val, val.val)


def test_domain_batches_bound_the_domain_evaluation_only() -> None:
    suite = _suite("eval.domain_batches=1")
    data = load_data(suite.data, suite.model)
    model = build_model(suite.model, data.vocab_size, data.context, 0)
    got = evaluate_domains(model, suite, 16)
    assert got["tokens@python-stdlib"] == 16 * 32
    assert set(got) == {f"{m}@python-stdlib" for m in ("loss", "bpc", "ppl", "tokens")}


def test_compare_shows_the_domain_columns(domain_run: Path, capsys) -> None:
    rc, out, err = run_inprocess(["compare", str(domain_run), "--view", "full"], capsys)
    assert rc == 0, err
    assert "loss@python-stdlib" in out and "Δloss@python-stdlib" in out
    rc, out, err = run_inprocess(["compare", str(domain_run), "--metric", "ppl", "--format", "csv"], capsys)
    assert rc == 0, err
    header = out.splitlines()[0].split(",")
    assert "ppl@python-stdlib_mean" in header and "ppl@python-stdlib_delta_pct_mean" in header


def test_char_tokenizer_with_domains_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    rc, _, err = run_inprocess(["validate", str(SMOKE), *set_args(["eval.domains=[python-stdlib]"])], capsys)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "eval.domains" in lines[0] and "'char' tokenizer" in lines[0], err
    assert "Traceback" not in err


def test_without_domains_the_fingerprint_is_unchanged() -> None:
    """Folders written before eval.domains existed keep resuming: the field at its default is not fingerprinted."""
    from ecobench.config.base import fingerprint_of

    suite = _suite("eval.domains=[]")
    d = suite.model_dump(mode="json")
    before = {**d, "eval": {k: v for k, v in d["eval"].items() if k not in ("domains", "domain_batches")}}
    assert suite.fingerprint() == fingerprint_of(before)
    assert _suite().fingerprint() != suite.fingerprint()


def test_an_image_text_model_takes_no_text_domains(capsys) -> None:
    from tests.conftest import SUITES

    rc, _, err = run_inprocess(["validate", str(SUITES / "multimodal.yaml"), *set_args(["eval.domains=[shakespeare]"])],
                               capsys)
    assert rc == 2 and "eval.domains: extra domains are text corpora" in err, err
