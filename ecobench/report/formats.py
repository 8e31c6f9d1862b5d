"""Rendering the comparison as a text table, Markdown, CSV or LaTeX (booktabs).

CSV keeps base units and full precision (kWh, gCO2e, L), so it round-trips through pandas. The human formats scale
each footprint quantity to one readable unit for the whole table (kWh, Wh, mWh, µWh ...) written in the header,
and mark the best value per column within each target ratio (bold; `*` in the plain table). A footprint value is
marked only when it has an interval that excludes the runner-up's: a single window, or overlapping intervals, is
never a winner. Ratios to dense are written `≈` when they are not a difference beyond noise (report/paired.py).
"""

from __future__ import annotations

import math
import re
import textwrap

import pandas as pd

from ecobench.errors import UserError
from ecobench.report import paired, ranges
from ecobench.report.columns import Column
from ecobench.report.compact import compact_columns, identity_columns
from ecobench.report.tables import BASIS_LABEL, CELL_PHASES, HIGHER_IS_BETTER, METRICS, PHASES
from ecobench.report.units import QTY_NAMES, fmt
from ecobench.report.values import (
    _signed,
    basis,
    default_metrics,
    energy_kind,
    has_structures,
    seeds_text,
    seeds_words,
    unit_scale,
)

FORMATS = ("table", "markdown", "csv", "latex")
VIEWS = ("default", "full", "inference", "lifecycle")  # compare --view: the paper's table, every column, every
# measured workload, break-even
NOTE_WIDTH = 160  # the plain table's notes are wrapped to the width the default table fits
METRIC_UNITS = {"loss": "nats/token", "bpc": "bits/char", "ppl": "", "accuracy": "exact match", "mae": "numeric answers"}


def parse_list(values: list[str] | None, allowed: tuple[str, ...], what: str) -> list[str] | None:
    """`--metric loss,bpc --metric ppl` -> ['loss', 'bpc', 'ppl']; unknown names are a user error."""
    if not values:
        return None
    out = [v.strip() for item in values for v in item.split(",") if v.strip()]
    bad = [v for v in out if v not in allowed]
    if bad:
        raise UserError(f"unknown {what} {', '.join(map(repr, bad))}; choose from {', '.join(allowed)}")
    return list(dict.fromkeys(out))


def present_phases(agg: pd.DataFrame) -> list[str]:
    return [ph for ph in PHASES if f"{ph}_energy_kwh" in agg.columns and agg[f"{ph}_energy_kwh"].notna().any()]


def with_domains(agg: pd.DataFrame, metrics: list[str]) -> list[str]:
    """Each chosen metric, followed by the same metric on every extra domain the runs were evaluated on
    (eval.domains: `ppl` -> ppl, ppl@python-stdlib)."""
    domains = sorted({c.removesuffix("_mean").partition("@")[2] for c in agg.columns
                      if "@" in c and c.endswith("_mean") and "_delta" not in c})
    return [x for m in metrics for x in [m, *(f"{m}@{d}" for d in domains)] if x == m or f"{x}_mean" in agg.columns]


def build_columns(agg: pd.DataFrame, metrics: list[str] | None = None, phases: list[str] | None = None,
                  view: str = "default") -> list[Column]:
    """The displayed columns: identity, quality (mean ± std, delta vs dense), sparsity, footprint, inference, flag.
    `view` 'default' is the compact table a paper prints (compact_columns); 'full' and 'inference' every column."""
    if view == "default":
        return compact_columns(agg, metrics)
    metrics = metrics or default_metrics(agg)
    phases = phases or [*present_phases(agg), "total"]
    cols = identity_columns(agg)
    cols.append(Column("seeds", lambda r: r["n_seeds"], seeds_text))
    for m in with_domains(agg, metrics):
        base = m.partition("@")[0]
        unit = f" ({METRIC_UNITS[base]})" if METRIC_UNITS[base] else ""

        def mean_std(r: pd.Series, m: str = m) -> str:
            s = r[f"{m}_std"]
            d = 2 if m.startswith("ppl") else 4
            return f"{r[f'{m}_mean']:.{d}f}" + ("" if pd.isna(s) else f" ± {s:.{d}f}")

        d = 2 if base == "ppl" else 4
        best = "max" if base in HIGHER_IS_BETTER else "min"
        cols.append(Column(f"{m}{unit}", lambda r, m=m: r[f"{m}_mean"], mean_std, best, group="quality"))
        cols.append(Column(f"Δ{m}", lambda r, m=m: r[f"{m}_delta_mean"],
                           lambda r, m=m, d=d: _signed(r[f"{m}_delta_mean"], d), best, group="quality"))
        cols.append(Column(f"Δ{m} (%)", lambda r, m=m: r[f"{m}_delta_pct_mean"],
                           lambda r, m=m: _signed(r[f"{m}_delta_pct_mean"], 2), best, group="quality"))
        if f"{m}_delta_control_mean" in agg.columns and agg[f"{m}_delta_control_mean"].notna().any():
            cols.append(Column(f"Δ{m} vs dense+recover", lambda r, m=m: r[f"{m}_delta_control_mean"],
                               lambda r, m=m, d=d: _signed(r[f"{m}_delta_control_mean"], d), best, group="quality"))
    cols.append(Column("sparsity (%)", lambda r: 100 * r["sparsity_mean"], lambda r: f"{100 * r['sparsity_mean']:.1f}",
                       group="quality"))
    cols.append(Column("params non-zero", lambda r: r["params_nonzero_mean"],
                       lambda r: f"{r['params_nonzero_mean']:,.0f}", group="quality"))
    above = basis(agg) == "above-idle"
    tag = ", above idle" if above else ""
    e_unit, e_f = unit_scale(agg, "energy_kwh", [f"{p}_energy_kwh" for p in PHASES] + ["cell_energy_kwh"])
    for ph in phases:
        if ph == "total":
            continue
        key = f"{ph}_energy_kwh"
        if key not in agg.columns:
            continue
        head = f"{ph} ({e_unit}{tag}, shared)" if ph == "train" else f"{ph} ({e_unit}{tag})"
        cols.append(Column(head, lambda r, k=key: r[k] * e_f, lambda r, k=key: fmt(r[k] * e_f), group="footprint"))
    if "total" in phases:
        for qty in ("energy_kwh", "co2e_g", "water_l"):
            key = f"cell_{qty}"
            unit, f = (e_unit, e_f) if qty == "energy_kwh" else unit_scale(agg, qty, [key, f"train_{qty}"])
            text = (lambda r, k=key, f=f: fmt(r[k] * f)) if qty == "energy_kwh" else \
                (lambda r, k=key, f=f: ranges.cell_text(r, k, f))  # with its interval [low–high]
            cols.append(Column(f"cell {QTY_NAMES[qty]} ({unit}{tag})", lambda r, k=key, f=f: r[k] * f,
                               text, group="footprint"))  # window sums: never ranked
            if qty == "co2e_g" and agg.get("cell_embodied_co2e_g", pd.Series(dtype=float)).notna().any():
                cols += [Column(h, lambda r, v=v, f=f: v(r) * f, lambda r, t=t, f=f: t(r, f), group="footprint")
                         for h, v, t in ranges.embodied_specs(unit, tag)]
    if "inference" in phases and agg["inference_kwh_per_1k_tokens"].notna().any():
        i_unit, i_f = unit_scale(agg, "energy_kwh", ["inference_kwh_per_1k_tokens"])
        cols.append(Column(f"inference ({i_unit}/1k tok{tag}, anchored)", lambda r: r["inference_kwh_per_1k_tokens"] * i_f,
                           lambda r: fmt(r["inference_kwh_per_1k_tokens"] * i_f), "min", group="footprint",
                           interval=lambda r: (r["inference_kwh_per_1k_tokens_ci_low"] * i_f,
                                               r["inference_kwh_per_1k_tokens_ci_high"] * i_f)))
        cols.append(Column("inference (tok/s, raw)", lambda r: r["inference_tokens_per_s"],
                           lambda r: fmt(r["inference_tokens_per_s"]), group="footprint"))  # a window mean: not ranked
    cols += _paired_columns(agg, view, tag)
    if "sparsity_exploited" in agg.columns:
        cols.append(Column("sparsity exploited", lambda r: math.nan, lambda r: str(r["sparsity_exploited"]),
                           numeric=False, group="flag"))
    cols.append(Column("energy source", lambda r: math.nan, energy_kind, numeric=False, group="flag"))
    if agg["n_failed"].sum():
        cols.append(Column("failed", lambda r: r["n_failed"], lambda r: str(r["n_failed"]), group="flag"))
    return cols


def _paired_columns(agg: pd.DataFrame, view: str, tag: str) -> list[Column]:
    """Ratio to dense per measured workload (`≈` within noise); per-1k-token energy with its interval for decode
    (every workload, with tokens/s and FLOPs, in the inference view)."""
    cols: list[Column] = []
    labs = paired.present(agg)
    if not labs:
        return cols
    keys = [f"{lab}_kwh_per_1k_tokens" for lab in labs]
    unit, f = unit_scale(agg, "energy_kwh", keys)
    for lab in labs:
        name = lab.replace("_b", " b")
        cols.append(Column(f"{name} ×dense", lambda r, lab=lab: r[f"{lab}_ratio"],
                           lambda r, lab=lab: paired.ratio_text(r, lab), group="footprint"))
        if view == "inference" or lab.startswith("decode"):
            k = f"{lab}_kwh_per_1k_tokens"
            cols.append(Column(f"{name} ({unit}/1k tok, anchored)", lambda r, k=k, f=f: r[k] * f,
                               lambda r, k=k, f=f: fmt(r[k] * f), "min", group="footprint",
                               interval=lambda r, k=k, f=f: (r[f"{k}_ci_low"] * f, r[f"{k}_ci_high"] * f)))
        if view == "inference":
            cols.append(Column(f"{name} (tok/s)", lambda r, lab=lab: r[f"{lab}_tokens_per_s"],
                               lambda r, lab=lab: fmt(r[f"{lab}_tokens_per_s"]), group="footprint"))
    if view == "inference" and "flops_per_token_dense_mean" in agg.columns:
        for kind in ("dense", "effective"):
            cols.append(Column(f"MFLOPs/token ({kind})", lambda r, k=kind: r[f"flops_per_token_{k}_mean"] / 1e6,
                               lambda r, k=kind: fmt(r[f"flops_per_token_{k}_mean"] / 1e6), group="footprint"))
    return cols


def best_mask(agg: pd.DataFrame, cols: list[Column]) -> list[list[bool]]:
    """best[i][j]: row i holds the best value of column j among the pruned rows of its (run, model, target)."""
    mask = [[False] * len(cols) for _ in range(len(agg))]
    pruned = agg[agg["method"] != "dense"]
    for _, g in pruned.groupby(["run", "model", "target"], sort=False):
        if len(g) < 2:
            continue
        for j, c in enumerate(cols):
            if not c.best:
                continue
            if c.group == "footprint" and c.interval is None:
                continue  # a footprint value without an interval is one window: never a winner
            vals = pd.Series([c.value(r) for _, r in g.iterrows()], index=g.index, dtype=float)
            if vals.notna().sum() < 2 or vals.nunique() < 2:
                continue
            if c.interval is not None:
                win = _separated_winner(g, vals, c)
                if win is not None:
                    mask[agg.index.get_loc(win)][j] = True
                continue
            target = vals.min() if c.best == "min" else vals.max()
            for i in vals.index[vals == target]:
                mask[agg.index.get_loc(i)][j] = True
    return mask


def _separated_winner(g: pd.DataFrame, vals: pd.Series, c: Column) -> object | None:
    """The best row's index when its interval excludes the runner-up's; None for a tie within noise."""
    order = vals.dropna().sort_values(ascending=c.best == "min").index
    best, runner = g.loc[order[0]], g.loc[order[1]]
    (b_lo, b_hi), (r_lo, r_hi) = c.interval(best), c.interval(runner)  # type: ignore[misc]
    if any(pd.isna(x) for x in (b_lo, b_hi, r_lo, r_hi)):
        return None
    separated = b_hi < r_lo if c.best == "min" else b_lo > r_hi
    return order[0] if separated else None


def notes(agg: pd.DataFrame) -> list[str]:
    """The lines a reader needs to read the table honestly."""
    out = [
        f"one row per (method, structure, scope, ratio), mean over {seeds_words(agg)} (± sample std when there are several); "
        "Δ is against the dense model of the same seed; 'ctl' / 'vs dense+recover' against the compute-matched "
        "control (the dense model trained as many extra steps)",
        "cell = the cell's own phases (" + " + ".join(CELL_PHASES) + "); training the dense model is shared by "
        "every cell of a seed, so it is reported apart ('train (shared)'; CSV train_*, and pipeline_* = train + cell) "
        "and never added into cell totals",
        "best value per column within each ratio is marked: quality always; footprint only when its 95% interval "
        "excludes the runner-up's (single windows, such as cell totals, are never marked)",
        "sparsity exploited: what the kernels that ran made of the pruning: 'dense' (the reference cells), 'no' (zeros multiplied by dense kernels: "
        "no saving), 'csr'/'bsr' (torch sparse matmul, eval.execution: sparse), 'semi-structured-2:4' (GPU 2:4 "
        "kernel), 'smaller-dense' (structured: a physically smaller model); '–' not recorded",
        f"energy: {BASIS_LABEL[basis(agg)]}"
        + (" (each component's gross energy minus its idle power x wall time, floored at 0; carbon and water of "
           "that energy)" if basis(agg) == "above-idle" else " (everything the meters counted during the phase)")
        + "; a component without a meter is left out of every total, and '–' marks a value that is not known",
        "water: EWIF convention " + ", ".join(sorted({c for v in agg.get("water_convention", pd.Series(dtype=str))
                                                      for c in str(v).split("; ")})),
    ]
    out.append(ranges.NOTE)
    if has_structures(agg):
        out.append("structure: N:M keeps the N best of every M inputs (ratio = 1 - N/M); structured removes whole "
                   "MLP neurons/heads (ratio = fraction of them per layer; sparsity = fraction of targeted weights "
                   "removed)")
    out += paired.notes(agg)
    est = agg[agg["estimated"]]
    if not est.empty:
        srcs = sorted({s for v in est["energy_sources"] for s in v.split("; ")})
        out.append(f"energy source 'estimated': some energy in the row is estimated, not measured ({'; '.join(srcs)})")
    if "n_invalid" in agg.columns and agg["n_invalid"].sum():
        out.append(f"{int(agg['n_invalid'].sum())} cell(s) hold invalid values (a negative or non-finite energy or "
                   "loss, or no loss): shown as '–', never averaged or marked best; 'seeds' counts the seeds averaged")
    if agg["dense_missing"].sum():
        out.append("some cells have no finished dense reference of their seed: their Δ and train columns are empty")
    return out


# ----------------------------------------------------------------------------- renderers


def to_csv(agg: pd.DataFrame, metrics: list[str] | None = None, phases: list[str] | None = None) -> str:
    """Machine-readable: base units in column names, full precision, std and n alongside each mean."""
    metrics = metrics or default_metrics(agg)
    phases = phases or [*present_phases(agg), "total"]
    keep = ["run", "suite", "model", "method", "method_name", "structure", "scope", "ratio", "multiplier", "target",
            "n_seeds", "n_cells", "seeds", "sparsity_exploited"]
    for m in with_domains(agg, metrics):
        keep += [f"{m}_mean", f"{m}_std", f"{m}_delta_mean", f"{m}_delta_std", f"{m}_delta_pct_mean",
                 f"{m}_delta_pct_std"]
    keep += ["sparsity_mean", "sparsity_std", "params_nonzero_mean", "params_total"]
    for ph in phases:
        pref = "cell" if ph == "total" else ph
        keep += [f"{pref}_{q}" for q in ("energy_kwh", "co2e_g", "water_l")]
    if "total" in phases:
        keep += [f"pipeline_{q}" for q in ("energy_kwh", "co2e_g", "water_l")]
    if "inference" in phases:
        keep += ["inference_kwh_per_1k_tokens", "inference_kwh_per_1k_tokens_ci_low",
                 "inference_kwh_per_1k_tokens_ci_high", "inference_kwh_per_1k_tokens_raw", "inference_tokens_per_s"]
    keep += [c for c in agg.columns if c.endswith("_delta_control_mean") or c.startswith("flops_per_token")]
    keep += [c for lab in paired.present(agg) for c in agg.columns if c.startswith(f"{lab}_")]
    keep += ["sparsity_exploited", "energy_basis", "water_convention", "estimated", "energy_sources", "n_failed", "n_invalid"]
    return to_csv_text(agg[list(dict.fromkeys(c for c in keep if c in agg.columns))])


def _cells(agg: pd.DataFrame, cols: list[Column]) -> list[list[str]]:
    return [[one_line(c.text(r)) for c in cols] for _, r in agg.iterrows()]


def to_table(agg: pd.DataFrame, cols: list[Column]) -> str:
    """Plain aligned text for a terminal; the best value is marked with '*'."""
    body = _cells(agg, cols)
    best = best_mask(agg, cols)
    body = [[t + ("*" if best[i][j] else "") for j, t in enumerate(row)] for i, row in enumerate(body)]
    heads = [one_line(c.header) for c in cols]
    widths = [max(len(h), *(len(r[j]) for r in body)) for j, h in enumerate(heads)]

    def line(cells: list[str]) -> str:
        return "  ".join(t.rjust(w) if c.numeric else t.ljust(w) for t, w, c in zip(cells, widths, cols, strict=True)).rstrip()

    out = [line(heads), "  ".join("-" * w for w in widths)] + [line(r) for r in body]
    wrapped = [textwrap.fill(one_line(n), NOTE_WIDTH, initial_indent="* ", subsequent_indent="  ") for n in notes(agg)]
    return "\n".join(out) + "\n\n" + "\n".join(wrapped) + "\n"


_MD_SPECIAL = "\\`*_[]<>|!#~"  # what Markdown (GFM) gives a meaning inside a line: emphasis, links, images, HTML
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")  # a newline in a label would start a row of its own


def one_line(s: object) -> str:
    """Text from results (labels, folder names) on one line: every control character, newline included, a space."""
    return _CONTROL.sub(" ", str(s))


def md_escape(s: object) -> str:
    """Markdown that shows `s` as text: on one line, every special character backslash-escaped (links and images
    included), so no label can add a row, a heading, a link or HTML."""
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in one_line(s))


_md_escape = md_escape


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> object:
    """A CSV cell a spreadsheet will not run: text starting with =, +, -, @ (a formula) gets a leading quote (OWASP's
    advice); numbers and the lone '-' placeholder are left as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _inert(value):
        return "'" + value
    return value


def _inert(text: str) -> bool:
    """A lone sign (the '-' placeholder of a dense row) or a plain number: nothing a spreadsheet would run."""
    if text in ("-", "+"):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def to_csv_text(df: pd.DataFrame) -> str:
    """`df` as CSV with every text cell neutralised (csv_safe); column names too."""
    safe = df.rename(columns=lambda c: csv_safe(str(c)))
    for c in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[c]):  # object, string or categorical text
            safe[c] = safe[c].astype(object).map(csv_safe)
    return safe.to_csv(index=False, lineterminator="\n")


def to_markdown(agg: pd.DataFrame, cols: list[Column]) -> str:
    """GitHub-flavoured Markdown; the best value is bold; notes follow the table."""
    best = best_mask(agg, cols)
    heads = [_md_escape(c.header) for c in cols]
    rows = []
    for i, row in enumerate(_cells(agg, cols)):
        rows.append([f"**{_md_escape(t)}**" if best[i][j] else _md_escape(t) for j, t in enumerate(row)])
    align = ["---:" if c.numeric else ":---" for c in cols]
    out = ["| " + " | ".join(heads) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out) + "\n\n" + "\n".join(f"- {_md_escape(n)}" for n in notes(agg)) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"\textless{}", ">": r"\textgreater{}"}
_LATEX_TEXT = {"±": r"$\pm$", "Δ": r"$\Delta$", "µ": r"\textmu{}", "–": "--", "CO2e": r"CO\textsubscript{2}e"}


def latex_escape(s: str) -> str:
    """Escape LaTeX specials in text from suites and results, then typeset the few symbols the table uses."""
    s = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in s)
    for k, v in _LATEX_TEXT.items():
        s = s.replace(k, v)
    return s


def to_latex(agg: pd.DataFrame, cols: list[Column]) -> str:
    """A booktabs tabular, one row per group, a rule between ratios, best per column in bold; needs \\usepackage{booktabs}."""
    best = best_mask(agg, cols)
    spec = "".join("r" if c.numeric else "l" for c in cols)
    lines = ["% ecobench compare; needs \\usepackage{booktabs}", *(f"% {n}" for n in notes(agg)),
             f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
             " & ".join(latex_escape(c.header) for c in cols) + r" \\", "\\midrule"]
    prev = None
    for i, ((_, r), row) in enumerate(zip(agg.iterrows(), _cells(agg, cols), strict=True)):
        group = (r["run"], r["model"], r["target"])
        if prev is not None and group != prev:
            lines.append("\\midrule")
        prev = group
        cells = [f"\\textbf{{{latex_escape(t)}}}" if best[i][j] else latex_escape(t) for j, t in enumerate(row)]
        lines.append(" & ".join(cells) + r" \\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def render(agg: pd.DataFrame, fmt: str, metrics: list[str] | None = None, phases: list[str] | None = None,
           view: str = "default", amortise_training: bool = False) -> str:
    if view == "lifecycle":
        from ecobench.report.lifecycle import lifecycle_columns, lifecycle_frame

        agg = lifecycle_frame(agg, amortise_training)
        if fmt == "csv":
            return to_csv_text(agg)
        cols = lifecycle_columns(agg)
        return {"table": to_table, "markdown": to_markdown, "latex": to_latex}[fmt](agg, cols)
    if fmt == "csv":
        return to_csv(agg, metrics, phases)
    cols = build_columns(agg, metrics, phases, view)
    return {"table": to_table, "markdown": to_markdown, "latex": to_latex}[fmt](agg, cols)


__all__ = ["FORMATS", "METRICS", "PHASES", "parse_list", "render", "build_columns", "notes", "latex_escape", "fmt"]
