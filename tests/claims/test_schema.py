"""The claim schema: each form takes its own boundary and no other, metrics and groups are checked as written."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ecobench.config.claims import Claim, GroupConfig, RatioRange

BASE = {"name": "c", "form": "better", "cells": {"method": "trajectory"}}


@pytest.mark.parametrize(("extra", "message"), [
    ({"form": "not_worse"}, "a not_worse claim needs `margin`"),
    ({"form": "much_worse"}, "a much_worse claim needs `effect`"),
    ({"form": "ratio_below", "metric": "eval_ratio"}, "a ratio_below claim needs `bound`"),
    ({"margin": 0.1}, "a better claim takes no `margin`"),
    ({"form": "not_worse", "margin": 0.1, "effect": 0.2}, "takes no `effect` (it takes `margin`)"),
    ({"metric": "decode_b1_ratio"}, "is a footprint ratio ×dense: test it with form ratio_below"),
    ({"form": "ratio_below", "bound": 1.0}, "ratio_below reads a paired footprint ratio"),
    ({"metric": "los"}, "unknown metric 'los' (did you mean 'loss'?)"),
    ({"metric": "accuracy@python-stdlib"}, "unknown metric"),
    ({"than": "dense+recovr"}, "'dense+recovr' is not a reference (did you mean 'dense+recover'?)"),
    ({"cells": "dense", "than": "dense"}, "`cells` and `than` are the same group"),
    ({"cells": {"ratio": {"min": 0.6, "max": 0.3}}}, "min (0.6) is above max (0.3)"),
    ({"cells": {"ratio": 1.5}}, "a ratio is a number in [0, 1)"),
    ({"cells": {"ratio": []}}, "an empty list of ratios selects no cell"),
    ({"cells": {"method": []}}, "method is a name or a non-empty list of names"),
    ({"name": "has space"}, "String should match pattern"),
])
def test_malformed_claims_are_refused(extra: dict, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        Claim.model_validate({**BASE, **extra})
    assert message in str(err.value)


def test_well_formed_claims() -> None:
    c = Claim.model_validate({**BASE, "metric": "ppl@python-stdlib", "than": {"method": ["magnitude", "random"],
                              "ratio": {"min": 0.5, "max": 0.9}, "recovered": True}})
    assert isinstance(c.than, GroupConfig) and isinstance(c.than.ratio, RatioRange)
    assert c.than.describe() == "magnitude,random r0.5–0.9 recovered"
    r = Claim.model_validate({**BASE, "form": "ratio_below", "metric": "prefill_b16_ratio", "bound": 0.8})
    assert r.than == "dense" and r.threshold == pytest.approx(-0.2231, abs=1e-4) and r.claims_below
    assert Claim.model_validate({**BASE, "form": "much_worse", "effect": 0.5}).claims_below is False
    assert Claim.model_validate(c.model_dump()) == c  # what the manifest stores reads back as the same claim
