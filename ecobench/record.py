"""The cell record: one finished cell of a sweep, as the runner makes it, the store appends it (one JSON line) and
`results` reads it back. One type for all three, with its schema version read back on load."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from ecobench.errors import ResultsError

# 2: absent components are null, not 0.0 (1 is migrated on load); 3: each row carries its suite's fingerprint (rows of
# 2 carry none and are bound to their folder by suite name and cell key only)
SCHEMA_VERSION = 3
# the phases of a cell, in run order; eval, prefill and decode rows also carry their paired repeats beside the dense
# model (`*_repeats`, `dense_*_repeats`, intervals, ratios: extra columns, so rows without them load as they are and
# show no ratio); `inference` (one unpaired window) is how rows written before paired measurement stored decode
PHASES = ("train", "score", "prune", "recover", "eval", "inference", "prefill", "decode")


class _Open(BaseModel):
    """Known fields typed; later columns (new meters, new metrics) pass through."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class PhaseRow(_Open):
    """One phase of one cell inside its own footprint window (energy columns: see footprint)."""

    phase: str
    wall_s: float | None = None
    energy_kwh: float | None = None


class CellInfo(_Open):
    suite: StrictStr
    key: StrictStr
    model: StrictStr
    seed: StrictInt
    method: StrictStr  # the method's label ('dense' for the reference)
    method_name: StrictStr  # the registered method
    method_options: StrictStr = ""  # JSON of the method's options beyond name and label
    scope: StrictStr
    structure: StrictStr = "unstructured"  # 'unstructured' | 'N:M' | 'structured' | '-' (dense); older records: unstructured
    ratio: float | None = None
    multiplier: float | None = None


class CellRecord(_Open):
    schema_version: int = Field(SCHEMA_VERSION, alias="schema")
    key: StrictStr
    cell: CellInfo
    status: Literal["ok", "failed"]
    suite_fingerprint: StrictStr | None = None  # Suite.fingerprint() of the suite that ran it (None before schema 3)
    dense_sha256: StrictStr | None = None  # the dense checkpoint the cell started from (None before schema 3)
    row_sha256: StrictStr | None = None  # checksum of the rest of the stored line (`seal_row`; None before schema 3)
    reason: str | None = None
    failed_phase: str | None = None
    failed_step: StrictInt | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    phases: list[PhaseRow] = Field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=False)

    def invalid_values(self) -> list[str]:
        """Values no measurement can take: a non-finite or negative loss (or bpc, ppl) or footprint (energy,
        carbon, water, time), or a finished cell without its loss. Readers show them as missing, never rank them."""
        bad = []
        if self.status == "ok" and not _number(self.metrics.get("loss")):
            bad.append(f"loss={self.metrics.get('loss')!r}")
        for m, v in self.metrics.items():  # the main corpus's and each eval.domains one's (loss@<domain>, ...)
            if m.partition("@")[0] in ("loss", "bpc", "ppl") and v is not None and not valid_number(v):
                bad.append(f"{m}={v!r}")
        for ph in self.phases:
            for col, v in ph.model_dump().items():
                if is_measure(col) and v is not None and not valid_number(v):
                    bad.append(f"{ph.phase}.{col}={v!r}")
        return list(dict.fromkeys(bad))


def is_measure(col: str) -> bool:
    """A footprint column of a phase row: energy (kWh), carbon (g), water (l) or wall time (s)."""
    return col == "wall_s" or (col.startswith(("energy", "co2e", "water")) and col.endswith(("_kwh", "_g", "_l")))


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def valid_number(v: Any) -> bool:
    """A finite, non-negative number."""
    return _number(v) and math.isfinite(v) and v >= 0


def digest_without(obj: dict[str, Any], own: str, length: int | None = None) -> str:
    """sha256 of a stored JSON object (rows, manifest, train.json) without its own checksum field `own`."""
    rest = {k: v for k, v in obj.items() if k != own}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, default=str).encode()).hexdigest()[:length]


def row_digest(obj: dict[str, Any]) -> str:
    """Checksum of a stored row as read back (JSON), without its own checksum field."""
    return digest_without(obj, "row_sha256", 16)


def seal_row(obj: dict[str, Any]) -> dict[str, Any]:
    """The row with its checksum, so that a changed byte is found on reading rather than read as a number."""
    return {**obj, "row_sha256": row_digest(obj)}


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
    return {**obj, "schema": 2}


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
    if isinstance(obj.get("row_sha256"), str) and obj["row_sha256"] != row_digest(obj):
        raise ResultsError(f"{where}: damaged results line: its checksum does not match (edited or corrupted); "
                           "remove the line to run that cell again")
    if version == 1:
        obj = _migrate_v1(obj)
    try:
        return CellRecord.model_validate(obj)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        loc = ".".join(str(x) for x in first["loc"]) or "(record)"
        raise ResultsError(f"{where}: corrupt results line: {loc}: {first['msg']}") from None
