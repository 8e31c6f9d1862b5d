"""The one unit scaler for tables and figures: kWh/Wh/mWh/µWh, kg/g/mg/µg CO2e, L/mL/µL, and the text of a value.

A column (or a panel) takes the largest unit in which its largest value is at least 1, so every number in it is
read in the same unit. Missing values (NaN: an absent meter, a phase not run) are shown as "–", never as 0.
"""

from __future__ import annotations

import math

import pandas as pd

PREFIXES = {
    "energy_kwh": [("kWh", 1.0), ("Wh", 1e3), ("mWh", 1e6), ("µWh", 1e9)],
    "co2e_g": [("kgCO2e", 1e-3), ("gCO2e", 1.0), ("mgCO2e", 1e3), ("µgCO2e", 1e6)],
    "water_l": [("L", 1.0), ("mL", 1e3), ("µL", 1e6)],
}
QTY_NAMES = {"energy_kwh": "energy", "co2e_g": "carbon", "water_l": "water"}
MISSING = "–"


def pick_unit(values: pd.Series | list | float, qty: str) -> tuple[str, float]:
    """(unit, factor to multiply base-unit values by) for these values; base unit when none is known."""
    vals = pd.to_numeric(pd.Series(values, dtype=float), errors="coerce").abs().dropna()
    options = PREFIXES[qty]
    if vals.empty:
        return options[0]
    top = float(vals.max())
    for unit, factor in options:
        if top * factor >= 1:
            return unit, factor
    return options[-1]


def fmt(x: float | None, digits: int = 3) -> str:
    """A number for a table cell: 3 significant digits, thousands separated, '–' when missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return MISSING
    if x == 0:
        return "0"
    if abs(x) >= 10**digits:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def with_unit(x: float | None, qty: str) -> str:
    """One value in its own best unit, e.g. '12.3 mWh'; '–' when missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return MISSING
    unit, factor = pick_unit([x], qty)
    return f"{fmt(x * factor)} {unit}"


def mpl_unit(unit: str) -> str:
    """The unit as matplotlib mathtext (subscript 2 in CO2e)."""
    return unit.replace("CO2e", "CO$_2$e")
