"""Carbon and water with intervals in tables and text (report/ranges.py): significant figures, absent intervals."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ecobench.report.ranges import NOTE, cell_text, digits, range_text, sig, value_with_range
from tests.report.conftest import copy_run


def test_two_significant_figures_when_the_interval_is_wide():
    assert sig(266.4, 2) == "270" and sig(0.396, 2) == "0.4" and sig(1234.5, 2) == "1,200" and sig(0.0, 2) == "0"
    assert digits(1.0, 0.5, 1.6) == 2 and digits(1.0, 0.95, 1.05) == 3
    assert range_text(0.0004, 0.0019, "water_l") == "0.4–1.9 mL"
    assert value_with_range(0.00082, 0.0004, 0.0019, "water_l") == "820 µL (400–1,900 µL)"
    assert value_with_range(0.000823, 0.0008, 0.00085, "water_l") == "823 µL (800–850 µL)"
    assert value_with_range(0.000823, None, None, "water_l") == "823 µL (interval absent)"
    assert range_text(None, 1.0, "co2e_g") == "–"


def test_table_cells_show_the_interval_or_say_it_is_absent():
    r = pd.Series({"cell_co2e_g": 0.19, "cell_co2e_g_low": 0.13, "cell_co2e_g_high": 0.27})
    assert cell_text(r, "cell_co2e_g", 1000) == "190 [130–270]"
    old = pd.Series({"cell_co2e_g": 0.19312, "cell_co2e_g_low": math.nan, "cell_co2e_g_high": math.nan})
    assert cell_text(old, "cell_co2e_g", 1000) == "193 (no interval)"


def _strip_intervals(rec: dict) -> None:
    """A row as ecobench wrote it before intervals and embodied carbon existed."""
    for p in rec["phases"]:
        for k in [k for k in p if k.endswith(("_low", "_high", "_dominant")) and not k.endswith(("_ci_low", "_ci_high"))
                  or k.startswith("embodied") or k == "footprint_interval_method"]:
            del p[k]


def test_compare_reads_a_folder_written_before_intervals(smoke_run: Path, tmp_path: Path, cli) -> None:
    run = copy_run(smoke_run, tmp_path / "old", cell_edit=_strip_intervals)
    proc = cli("compare", str(run), "--view", "full")  # cell carbon and water are columns of the full view
    assert proc.returncode == 0, proc.stderr
    assert "(no interval)" in proc.stdout and "embodied" not in proc.stdout.split("\n\n")[0]
    new = cli("compare", str(smoke_run), "--view", "full")
    assert new.returncode == 0 and "[" in new.stdout and " ".join(NOTE.split()) in " ".join(new.stdout.split()) and "cell embodied" in new.stdout
