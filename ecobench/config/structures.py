"""Structure names in the suite: 'unstructured', 'structured' or 'N:M' with 0 < N < M, read in one place.

The schema checks a suite's `prune.structures` with `structure_name`; `ecobench.prune.structures.parse_structure`
turns the same parts into what prunes, so the config layer never imports the pruning code.
"""

from __future__ import annotations

import re

from ecobench.errors import StructureError

FIELD = "prune.structures"
NAMES = ("unstructured", "N:M", "structured")  # what a suite may name ("2:4", "4:8" for N:M)
_NM = re.compile(r"(\d+):(\d+)")


def structure_parts(text: str) -> tuple[str, int, int]:
    """('unstructured' | 'structured', 0, 0) or ('N:M', n, m); anything else is a one-line StructureError."""
    t = str(text).strip()
    if t in ("unstructured", "structured"):
        return t, 0, 0
    found = _NM.fullmatch(t)
    if found:
        n, m = int(found[1]), int(found[2])
        if 0 < n < m:
            return "N:M", n, m
        raise StructureError(FIELD, f"'{t}': N:M needs 0 < N < M (e.g. 2:4)")
    raise StructureError(FIELD, f"'{t}' is not a structure; expected unstructured, structured or N:M such as 2:4")


def structure_name(text: str) -> str:
    """The canonical name of a structure ('2:4' for ' 2:4 ')."""
    kind, n, m = structure_parts(text)
    return f"{n}:{m}" if kind == "N:M" else kind
