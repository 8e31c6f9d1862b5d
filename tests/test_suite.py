"""The suite schema: every shipped suite validates; mistakes come back as file:line: field: message lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecobench.config.load import load_suite, suite_from_text
from ecobench.errors import SuiteError
from ecobench.sweep import Cell, expand

from .conftest import SUITES

GOOD = """\
name: t
seeds: [0, 1]
data: {corpus: shakespeare, context: 32}
model: {n_layer: 1, n_head: 2, n_embd: 16}
prune:
  methods:
    - name: trajectory
    - name: magnitude
  ratios: [0, 0.5, 0.9]
"""


@pytest.mark.parametrize("path", sorted(SUITES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_suite_validates_and_names_its_command(path: Path) -> None:
    sf = load_suite(path)
    assert sf.suite.name
    first = path.read_text().splitlines()[0]
    assert first.startswith("# ecobench run suites/") and path.name in first


def problems(text: str, overrides: list[str] | None = None) -> list[str]:
    with pytest.raises(SuiteError) as info:
        suite_from_text(text, "s.yaml", overrides)
    return info.value.problems


def test_every_problem_reported_at_once_with_line_and_hint() -> None:
    bad = GOOD.replace("corpus: shakespeare", "corpus: shakespear").replace("n_layer: 1", "n_layr: 1")
    bad = bad.replace("ratios: [0, 0.5, 0.9]", "ratios: [0, 0.5, 1.5]")
    out = problems(bad)
    assert len(out) == 3, out
    assert "s.yaml:3: data.corpus: 'shakespear' is not one of" in out[0] and "did you mean 'shakespeare'" in out[0]
    assert any(p.startswith("s.yaml:4: model.n_layr: unknown key (did you mean 'n_layer'?)") for p in out)
    assert any(p.startswith("s.yaml:9: prune.ratios:") and "[0, 1)" in p for p in out)


def test_duplicate_key_is_an_error() -> None:
    out = problems(GOOD + "seeds: [3]\n")
    assert out == ["s.yaml:10: seeds: duplicate key"]


def test_unknown_method_gets_did_you_mean() -> None:
    out = problems(GOOD.replace("name: magnitude", "name: magnitud"))
    assert out[0].startswith("s.yaml:8: prune.methods[1].name: unknown method 'magnitud' (did you mean 'magnitude'?)")


def test_python_tags_are_refused() -> None:
    out = problems(GOOD + "x: !!python/object/apply:os.system ['true']\n")
    assert "s.yaml:10" in out[0] and "unsafe or unknown YAML tag" in out[0]


def test_set_overrides_apply_and_unknown_ones_fail() -> None:
    sf = suite_from_text(GOOD, "s.yaml", ["train.steps=7", "prune.methods.0.weighting=linear", "seeds=[4]"])
    assert sf.suite.train.steps == 7 and sf.suite.prune.methods[0].weighting == "linear" and sf.suite.seeds == [4]
    out = problems(GOOD, ["train.step=7"])
    assert out == ["s.yaml: --set train.step: unknown key (did you mean 'steps'?)"]


def test_std_threshold_needs_multipliers() -> None:
    out = problems(GOOD.replace("- name: trajectory", "- name: trajectory\n      threshold: std"))
    assert "multipliers" in out[0]


def test_expand_orders_dense_first_and_skips_ratio_zero_for_methods() -> None:
    sf = suite_from_text(GOOD.replace("ratios: [0, 0.5, 0.9]", "ratios: [0.9, 0, 0.5]\n  scope: [layer, global]"))
    cells = expand(sf.suite)
    assert cells[0] == Cell(0, "dense", "-", 0.0)
    assert len(cells) == 2 * (1 + 2 * 2 * 2)
    assert len({c.key for c in cells}) == len(cells)
    assert [c.ratio for c in cells[1:3]] == [0.5, 0.9]


def test_fingerprint_covers_the_whole_resolved_suite_name_included() -> None:
    from ecobench.config.base import fingerprint_of

    a = suite_from_text(GOOD).suite
    b = suite_from_text(GOOD.replace("name: t\n", "name: other\n")).suite
    c = suite_from_text(GOOD, overrides=["train.steps=3"]).suite
    assert len({a.fingerprint(), b.fingerprint(), c.fingerprint()}) == 3
    assert a.legacy_fingerprint() == b.legacy_fingerprint() != c.legacy_fingerprint()  # schema 2: name left out
    assert fingerprint_of(a.model_dump(mode="json")) == a.fingerprint()  # readers recompute it from the manifest
