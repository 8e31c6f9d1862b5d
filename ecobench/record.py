"""The cell record: one finished cell of a sweep, as the runner makes it, the store appends it (one JSON line) and
`results` reads it back. One type for all three, with its schema version read back on load."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ecobench.errors import ResultsError

SCHEMA_VERSION = 2  # 2: absent components are null, not 0.0 (1 is migrated on load)
PHASES = ("train", "score", "prune", "recover", "eval", "inference")  # the phases of a cell, in run order


class _Open(BaseModel):
    """Known fields typed; later columns (new meters, new metrics) pass through."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class PhaseRow(_Open):
    """One phase of one cell inside its own footprint window (energy columns: see footprint)."""

    phase: str
    wall_s: float | None = None
    energy_kwh: float | None = None


class CellInfo(_Open):
    suite: str
    key: str
    model: str
    seed: int
    method: str  # the method's label ('dense' for the reference)
    method_name: str  # the registered method
    method_options: str = ""  # JSON of the method's options beyond name and label
    scope: str
    structure: str = "unstructured"  # 'unstructured' | 'N:M' | 'structured' | '-' (dense); older records: unstructured
    ratio: float | None = None
    multiplier: float | None = None


class CellRecord(_Open):
    schema_version: int = Field(SCHEMA_VERSION, alias="schema")
    key: str
    cell: CellInfo
    status: Literal["ok", "failed"]
    reason: str | None = None
    failed_phase: str | None = None
    failed_step: int | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    phases: list[PhaseRow] = Field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=False)


def _migrate_v1(obj: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 stored an absent component's energy as 0.0 beside source 'none': make it null (absent)."""
    for ph in obj.get("phases") or []:
        if not isinstance(ph, dict):
            continue
        for comp in ("gpu", "cpu", "ram"):
            if ph.get(f"source_{comp}") == "none":
                ph[f"energy_{comp}_kwh"] = None
                ph[f"energy_{comp}_above_idle_kwh"] = None
        parts = [ph.get(f"energy_{c}_above_idle_kwh") for c in ("gpu", "cpu", "ram") if ph.get(f"source_{c}") != "none"]
        if parts and all(isinstance(p, (int, float)) for p in parts):
            ph["energy_above_idle_kwh"] = sum(parts)
    return {**obj, "schema": SCHEMA_VERSION}


def parse_record(obj: Any, where: str) -> CellRecord:
    """A stored line -> CellRecord; a record of an unknown schema or a malformed one is one ResultsError line."""
    if not isinstance(obj, dict):
        raise ResultsError(f"{where}: corrupt results line: not a cell record (a JSON object expected)")
    version = obj.get("schema", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ResultsError(f"{where}: schema version {version!r} is not an integer")
    if version > SCHEMA_VERSION:
        raise ResultsError(
            f"{where}: written by a newer ecobench (results schema {version}); this one reads schema <= "
            f"{SCHEMA_VERSION}: upgrade ecobench to read it"
        )
    if version < 1:
        raise ResultsError(f"{where}: unknown results schema {version}")
    if version == 1:
        obj = _migrate_v1(obj)
    try:
        return CellRecord.model_validate(obj)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        loc = ".".join(str(x) for x in first["loc"]) or "(record)"
        raise ResultsError(f"{where}: corrupt results line: {loc}: {first['msg']}") from None
