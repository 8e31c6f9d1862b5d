"""The `footprint:` section: defaults, strictness, and errors that point at the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ecobench.footprint import FootprintConfig


def errors(data: dict) -> list[tuple[tuple, str]]:
    with pytest.raises(ValidationError) as err:
        FootprintConfig.model_validate(data)
    return [(e["loc"], e["msg"]) for e in err.value.errors()]


def test_empty_section_works():
    config = FootprintConfig.model_validate({})
    assert config.idle_seconds == 5 and config.require == "any" and config.site.preset == "world-average"


def test_integers_are_accepted_for_floats():
    assert FootprintConfig.model_validate({"idle_seconds": 0, "site": {"pue": 1}}).site.pue == 1.0


@pytest.mark.parametrize(
    ("data", "loc", "text"),
    [
        ({"idle_seconds": -1}, ("idle_seconds",), "greater than or equal to 0"),
        ({"require": "always"}, ("require",), "'any' or 'measured'"),
        ({"idle_secs": 1}, ("idle_secs",), "Extra inputs"),
        ({"site": {"pue": 0.9}}, ("site", "pue"), "greater than or equal to 1"),
        ({"site": {"country": "FRX"}}, ("site", "country"), "did you mean"),
        ({"site": {"preset": "us"}}, ("site", "preset"), "us-average"),
        ({"site": {"region": "texas"}}, ("site", "region"), "needs a country"),
        ({"site": {"preset": "us-average", "region": "texsa"}}, ("site", "region"), "did you mean texas"),
        ({"site": {"country": "DEU", "region": "bavaria"}}, ("site", "region"), "no regional data"),
        ({"site": {"pue": "1.2"}}, ("site", "pue"), "valid number"),
    ],
)
def test_errors_point_at_the_field(data, loc, text):
    found = errors(data)
    assert any(where == loc and text in msg for where, msg in found), found


def test_frozen():
    with pytest.raises(ValidationError):
        FootprintConfig().idle_seconds = 1.0  # type: ignore[misc]
