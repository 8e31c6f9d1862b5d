"""Fields added to the schema must not change the fingerprint of a suite that does not set them: otherwise every
results folder written before them stops resuming."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecobench.config.base import LATER_DEFAULTS, fingerprint_of
from ecobench.config.load import load_suite

SUITES = Path(__file__).resolve().parents[2] / "suites"

# Suite.fingerprint() of the shipped suites as computed by main at fa766ec (results schema 3, before run.device,
# train.precision/compile, the vision-language fields and eval.domains existed): folders they wrote must resume.
BEFORE = {"smoke": "32617a42143505fe", "llm": "21bb6509db68b4a6", "paper-llm": "0db54e5b3a62330e"}


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_shipped_suites_keep_the_fingerprint_they_had_before_the_new_fields(name: str) -> None:
    assert load_suite(SUITES / f"{name}.yaml", []).suite.fingerprint() == BEFORE[name]


def _at(d: dict, path: str):
    for part in path.split("."):
        d = d[part]
    return d


@pytest.mark.parametrize(("path", "default"), LATER_DEFAULTS)
def test_each_later_default_is_the_schemas_default_and_counts_once_set(path: str, default) -> None:
    changed = load_suite(SUITES / "smoke.yaml", []).suite.model_dump(mode="json")  # sets none of them
    assert _at(changed, path) == default  # a drifted default would silently change fingerprints
    base = fingerprint_of(changed)
    head, _, key = path.rpartition(".")
    holder = _at(changed, head) if head else changed
    holder[key] = {"device": "cpu", "deterministic": False} if path == "run" else ["x"] if default == [] else "x"
    assert fingerprint_of(changed) != base  # set to anything else, it counts
