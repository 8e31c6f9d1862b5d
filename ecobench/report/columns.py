"""One displayed column of a comparison table. Its own module so that the views building columns (formats.py, and
lifecycle.py which formats.py renders) import it without importing each other: the report modules run one way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd


@dataclass
class Column:
    """One displayed column: its header (units included), how to get its text, and which way is best."""

    header: str
    value: Callable[[pd.Series], float]  # numeric value for ranking; NaN when absent
    text: Callable[[pd.Series], str]
    best: str | None = None  # 'min' | 'max' | None
    numeric: bool = True
    group: str = "id"  # 'id' | 'quality' | 'footprint' | 'flag': lets the HTML split one wide table in two
    interval: Callable[[pd.Series], tuple[float, float]] | None = None  # footprint: a winner must be separated
