"""Figure style shared by every plot: sizes, a colour-blind-safe palette with a stable colour per method, and
the settings that make PDF/SVG output byte-for-byte reproducible."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # never open a window; the same bytes on every machine

import matplotlib.pyplot as plt

from ecobench.config.base import visible

WIDTHS_IN = {"one": 3.5, "two": 7.0}  # one- and two-column figure widths of most venues
# Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour-vision deficiencies.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000"]
FIXED = {"trajectory": "#0072B2", "magnitude": "#E69F00", "random": "#999999"}  # the built-in methods keep these
DENSE = "#000000"
SCOPE_STYLE = {"layer": "-", "global": "--", "-": ":"}
SCOPE_MARKER = {"layer": "o", "global": "s", "-": "D"}
# Paul Tol's "muted" qualitative scheme for phases, so phase colours are never mistaken for method colours.
PHASE_COLOURS = {"train": "#332288", "score": "#88CCEE", "prune": "#44AA99", "recover": "#117733",
                 "eval": "#DDCC77", "inference": "#CC6677", "prefill": "#AA4499", "decode": "#CC6677"}
METADATA = {
    "pdf": {"Creator": "ecobench", "Producer": "ecobench", "CreationDate": None, "ModDate": None},
    "svg": {"Creator": "ecobench", "Date": None},
    "png": {"Software": "ecobench"},
}


def apply_style() -> None:
    """rcParams for paper figures: TrueType fonts in PDF (type 42), a fixed SVG hash salt, small readable text."""
    plt.rcParams.update({
        "pdf.fonttype": 42,
        "ps.fonttype": 42,
        "svg.hashsalt": "ecobench",
        "svg.fonttype": "path",
        "font.size": 7,
        "axes.titlesize": 7.5,
        "axes.labelsize": 7,
        "legend.fontsize": 6,
        "xtick.labelsize": 6.5,
        "ytick.labelsize": 6.5,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "grid.linewidth": 0.5,
        "lines.linewidth": 1.2,
        "lines.markersize": 3.5,
        "legend.frameon": False,
        "figure.dpi": 100,
        "savefig.dpi": 300,
        "path.simplify": False,
    })


def method_colours(labels: list[str], names: dict[str, str] | None = None) -> dict[str, str]:
    """label -> colour. Built-in methods keep a fixed colour; other labels take the next free Okabe-Ito colour in
    sorted order, so a method has the same colour in every figure of a report (and across reports of a suite)."""
    names = names or {}
    out: dict[str, str] = {"dense": DENSE}
    used = {DENSE}
    for lab in sorted(set(labels) - {"dense"}):
        fixed = FIXED.get(names.get(lab, lab))
        if fixed and fixed not in used:
            out[lab] = fixed
            used.add(fixed)
    preferred = [c for c in OKABE_ITO if c not in FIXED.values()] + OKABE_ITO
    free = [c for c in dict.fromkeys(preferred) if c not in used]
    for lab in sorted(set(labels) - set(out)):
        out[lab] = free.pop(0) if free else "#777777"
    return out


def mpl_text(s: object) -> str:
    """Text from suites for matplotlib: '$' would start mathtext (and can fail to parse), so escape it."""
    return visible(s).replace("$", r"\$")
