"""codecarbon's names ecobench relies on, private ones included, are all still there."""

from __future__ import annotations

import re
from pathlib import Path

import ecobench.footprint
from ecobench.footprint import codecarbon_adapter


def test_every_codecarbon_name_we_use_exists():
    missing = codecarbon_adapter.missing_names()
    assert not missing, (
        f"codecarbon {codecarbon_adapter.version()} moved or removed {missing}; ecobench was tested with "
        f"{codecarbon_adapter.TESTED_SERIES}.x: update footprint/codecarbon_adapter.py before upgrading"
    )


def test_missing_names_reports_a_moved_name(monkeypatch):
    from codecarbon.core import emissions

    monkeypatch.delattr(emissions, "_NORDIC_REGIONS_BY_COUNTRY")
    assert codecarbon_adapter.missing_names() == ["codecarbon.core.emissions._NORDIC_REGIONS_BY_COUNTRY"]


def test_no_other_module_imports_codecarbon():
    root = Path(ecobench.footprint.__file__).parents[1]
    uses = re.compile(r"^\s*(import codecarbon\b|from codecarbon[ .])", re.MULTILINE)
    users = sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if uses.search(p.read_text()))
    assert users == ["footprint/codecarbon_adapter.py"]
