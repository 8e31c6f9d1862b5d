"""footprint.repeats: at least 2 (an interval needs two pairs); a bad value is one line and exit 2."""

from __future__ import annotations

import pytest

from ..conftest import SUITES, run_cli


@pytest.mark.parametrize("value", ["1", "0", "-3", "three", "2.5", "true"])
def test_bad_repeats_exit_2(value: str) -> None:
    proc = run_cli("validate", str(SUITES / "smoke.yaml"), "--set", f"footprint.repeats={value}")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "footprint.repeats" in lines[0] and "Traceback" not in proc.stderr


def test_good_repeats_validates() -> None:
    proc = run_cli("validate", str(SUITES / "smoke.yaml"), "--set", "footprint.repeats=4")
    assert proc.returncode == 0, proc.stderr
    assert "measured 4 times per cell beside the seed's dense model" in proc.stdout
