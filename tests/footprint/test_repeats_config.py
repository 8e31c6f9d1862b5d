"""footprint.repeats: at least 2 (an interval needs two pairs); a bad value is one line and exit 2."""

from __future__ import annotations

import pytest

from tests.conftest import SUITES
from tests.reliability.conftest import run_inprocess


@pytest.mark.parametrize("value", ["1", "0", "-3", "three", "2.5", "true"])
def test_bad_repeats_exit_2(value: str, capsys: pytest.CaptureFixture) -> None:
    rc, _, err = run_inprocess(["validate", str(SUITES / "smoke.yaml"), "--set", f"footprint.repeats={value}"], capsys)
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "footprint.repeats" in lines[0] and "Traceback" not in err


def test_good_repeats_validates(capsys: pytest.CaptureFixture) -> None:
    rc, out, err = run_inprocess(["validate", str(SUITES / "smoke.yaml"), "--set", "footprint.repeats=4"], capsys)
    assert rc == 0, err
    assert "measured 4 times per cell beside the seed's dense model" in out
