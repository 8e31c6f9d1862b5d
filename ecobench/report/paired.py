"""The paired windows of each cell (eval, prefill and decode at each batch size) -> ratios, intervals and anchored
values for compare, plot and report.

Each measured phase row holds every repeat of the cell and of its seed's dense model (measure.py). Three rules:

- **Seeds are the unit.** Each seed's pairs give its mean log ratio; a table row's ratio is the mean of those seed
  means. Windows of different seeds were measured at different times and are not independent draws, so they are
  never pooled as if they were. The seed means' variance is pooled over the run's rows of the workload (one-way
  ANOVA: sum of each row's squared deviations / sum of its seeds - 1), so llm.yaml's 2 seeds give df = rows, not 1;
  the assumption, written here and in the README: on one machine under one protocol, a workload's between-seed
  variance is the same for every row that runs the same kernels (`pool_group`: dense-shaped rows together, the
  smaller models of structured pruning apart, each sparse backend apart). With one seed the unit falls back to that
  seed's pairs (df = pairs - 1) and `<label>_ratio_unit` says so.
- **One family per run.** Every (row, workload) ratio of a run's pruned rows is one test of one family of m tests;
  intervals are Bonferroni-adjusted (level 1 - 0.05/m, simultaneous over the family) and a ratio is `≈` (no
  difference beyond noise) exactly when its interval contains 1, so `≈` and the printed interval never disagree.
  The adjusted p (`_ratio_p_adj` = min(1, m x p)) says the same thing. Dense against itself is shown at the same level
  as a check, not counted as a claim.
- **Absolute values are anchored.** A row's energy per 1k tokens = the run's dense reference for that workload (the
  median of its quiet dense windows) x the row's ratio, with the ratio's interval: identical work gets identical
  numbers whatever the machine did meanwhile. The window means are kept as `*_raw`, never ranked.
"""

from __future__ import annotations

import math
from statistics import median
from typing import Any

import pandas as pd

from ecobench.footprint import stats

PER_1K = "energy_kwh_per_1k_tokens"
BASIS_ENERGY = {"gross": "energy_kwh", "above-idle": "energy_above_idle_kwh"}  # the repeats each basis divides
POWER = 0.8  # the power at which the detectable ratio is stated


def label_of(phase: str, batch_size: Any) -> str:
    """'eval', 'decode_b1', 'prefill_b16': one measured workload."""
    if batch_size is None or (isinstance(batch_size, float) and math.isnan(batch_size)):
        return phase
    return f"{phase}_b{int(batch_size)}"


def _list(v: Any) -> list | None:
    return list(v) if isinstance(v, (list, tuple)) else None


def _per_1k(energy: list | None, tokens: Any) -> list | None:
    """Per-1k-token energy of each window of a workload (every window runs the same number of tokens)."""
    if energy is None or tokens is None or pd.isna(tokens) or not tokens:
        return None
    return [None if e is None else e / tokens * 1000 for e in energy]


def _flags(v: Any, n: int) -> list[bool]:
    """Per-window 'contended' flags (measure.py writes them when it records contention), or all False."""
    got = _list(v)
    return [bool(x) for x in got] if got is not None and len(got) == n else [False] * n


def cell_pairs(g: pd.DataFrame, energy: str = "gross") -> dict[str, dict[str, list]]:
    """label -> the repeats of one cell's measured rows (pruned side `a`, dense side `b`, per 1k tokens on the
    `energy` basis), with the windows' energy, tokens/s and contention flags."""
    out: dict[str, dict[str, list]] = {}
    if f"{PER_1K}_repeats" not in g.columns:
        return out
    e_col = BASIS_ENERGY[energy]
    for _, r in g.iterrows():
        if energy == "gross":
            a, b = _list(r.get(f"{PER_1K}_repeats")), _list(r.get(f"dense_{PER_1K}_repeats"))
        else:
            a = _per_1k(_list(r.get(f"{e_col}_repeats")), r.get("tokens"))
            b = _per_1k(_list(r.get(f"dense_{e_col}_repeats")), r.get("tokens"))
        if a is None or b is None:
            continue
        out[label_of(r["phase"], r.get("batch_size"))] = {
            "a": a, "b": b,
            "e_a": _list(r.get(f"{e_col}_repeats")) or [], "e_b": _list(r.get(f"dense_{e_col}_repeats")) or [],
            "tps_a": _list(r.get("tokens_per_s_repeats")) or [], "tps_b": _list(r.get("dense_tokens_per_s_repeats")) or [],
            "c_a": _flags(r.get("contended_repeats"), len(a)), "c_b": _flags(r.get("dense_contended_repeats"), len(b)),
        }
    return out


def _order(found: set[str]) -> list[str]:
    def key(lab: str) -> tuple:
        ph, _, b = lab.partition("_b")
        return (ph != "eval", int(b) if b.isdigit() else 0, ph != "prefill")

    return sorted(found, key=key)


def labels(cells: pd.DataFrame) -> list[str]:
    """The measured workloads of a cell table, in run order: eval, then prefill/decode by batch size."""
    return _order({lab for p in cells.get("paired", pd.Series(dtype=object)) if isinstance(p, dict) for lab in p})


def present(agg: pd.DataFrame) -> list[str]:
    """The measured workloads of an aggregated frame that have a ratio for some row."""
    return _order({c.removesuffix("_ratio_p_adj") for c in agg.columns if c.endswith("_ratio_p_adj")
                   and agg[c.replace("_p_adj", "")].notna().any()})


def headline(agg: pd.DataFrame) -> str | None:
    """The workload figures and the default table call 'inference': decode at the largest batch size measured
    (the schema-3 `inference` phase), else eval."""
    labs = present(agg)
    dec = [lab for lab in labs if lab.startswith("decode")]
    return dec[-1] if dec else (labs[0] if labs else None)


def references(cells: pd.DataFrame, labels_: list[str]) -> dict[tuple[str, str], dict[str, float]]:
    """(run, label) -> the run's dense reference: the median of every quiet dense window of that workload (the dense
    side of every cell's pairs), per 1k tokens and per window, and how many windows it is over."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    for run, g in cells.groupby("run", sort=False):
        for lab in labels_:
            found = [p.get(lab) for p in g["paired"] if isinstance(p, dict) and p.get(lab) is not None]
            any_quiet = any(not c for d in found for c in d["c_b"])
            per_1k, per_win, tps = [], [], []
            for d in found:
                # quiet windows only; when every dense window was contended, all of them (and the notes say so)
                quiet = [not c or not any_quiet for c in d["c_b"]]
                per_1k += [v for v, q in zip(d["b"], quiet, strict=True) if q and v is not None]
                per_win += [v for v, q in zip(d["e_b"], quiet, strict=False) if q and v is not None]
                tps += [v for v, q in zip(d["tps_b"], quiet, strict=False) if q and v is not None]
            if per_1k:
                out[(run, lab)] = {"kwh_per_1k_tokens": median(per_1k), "windows": len(per_1k), "quiet": any_quiet,
                                   "energy_kwh": median(per_win) if per_win else math.nan,
                                   "tokens_per_s": median(tps) if tps else math.nan}
    return out


def _units(per_seed: list[list[float]]) -> dict[str, Any]:
    """Seeds are the unit: each seed's mean log ratio, then mean, sd (and the squared deviations `ss` that `adjust`
    pools over rows) and a t-test p across seeds; with one seed, that seed's pairs are the unit (`unit` says so)."""
    windows = [d for s in per_seed for d in s]
    if len(per_seed) >= 2:
        units, unit = [sum(s) / len(s) for s in per_seed], "seeds"
    else:
        units, unit = windows, "pairs of one seed"
    n = len(units)
    m = sum(units) / n
    ss = sum((u - m) ** 2 for u in units)
    sd = math.sqrt(ss / (n - 1)) if n > 1 else math.nan
    p = None
    if n > 1:
        p = (1.0 if m == 0 else 0.0) if sd == 0 else stats.t_two_sided_p(m / (sd / math.sqrt(n)), n - 1)
    return {"log_mean": m, "log_sd": sd, "n": n, "unit": unit, "p": p, "ss": ss}


def _interval(mean: float, sd: float, n: Any, tests: int, df: Any) -> tuple[float, float] | None:
    """exp(mean ± t(1 - 0.05 / 2m, df) x sd / sqrt(n)): the Bonferroni-simultaneous interval of a ratio."""
    if _nan(mean) or _nan(n) or n < 2 or _nan(sd) or _nan(df) or df < 1:
        return None
    half = stats.t_quantile(1 - stats.ALPHA / (2 * tests), int(df)) * sd / math.sqrt(n)
    return math.exp(max(-700.0, mean - half)), math.exp(min(700.0, mean + half))


def pooled(group: pd.DataFrame, label: str, ref: dict[str, float] | None = None) -> dict[str, Any]:
    """One table row's statistics for one workload: each seed's mean log ratio, then the row's ratio over seeds (or,
    with one seed, over its pairs). Intervals are set by `adjust`, once the run's family is known."""
    per_seed, a, ta, tlogs, contended = [], [], [], [], 0
    for p in group.get("paired", []):
        d = p.get(label) if isinstance(p, dict) else None
        if d is None:
            return {}  # a seed without this workload: no pooled value (never a pool over fewer seeds)
        lr = stats.log_ratios(d["a"], d["b"])
        if lr is None:
            return {}
        per_seed.append(lr)
        a += d["a"]
        ta += d["tps_a"]
        tl = stats.log_ratios(d["tps_a"], d["tps_b"])
        if tl:
            tlogs.append(tl)
        contended += sum(d["c_a"]) + sum(d["c_b"])
    if not per_seed:
        return {}
    u = _units(per_seed)
    tu = _units(tlogs) if len(tlogs) == len(per_seed) else None
    m, n, sd, p = u["log_mean"], u["n"], u["log_sd"], u["p"]
    raw = stats.mean_interval(a)
    ref_v = (ref or {}).get("kwh_per_1k_tokens", math.nan)
    return {
        f"{label}_ratio": math.exp(m), f"{label}_ratio_log_mean": m, f"{label}_ratio_log_sd": sd,
        f"{label}_ratio_n": n, f"{label}_ratio_unit": u["unit"], f"{label}_ratio_p": p,
        f"{label}_ratio_ss": u["ss"], f"{label}_ratio_df": n - 1,  # adjust() pools seed units over the run's rows
        f"{label}_ref_kwh_per_1k_tokens": ref_v, f"{label}_ref_windows": (ref or {}).get("windows", 0),
        f"{label}_ref_quiet": bool((ref or {}).get("quiet", True)),
        f"{label}_ref_energy_kwh": (ref or {}).get("energy_kwh", math.nan),
        f"{label}_ref_tokens_per_s": (ref or {}).get("tokens_per_s", math.nan),
        f"{label}_kwh_per_1k_tokens": ref_v * math.exp(m),  # anchored: the run's dense reference x the ratio
        f"{label}_kwh_per_1k_tokens_raw": raw.mean if raw else math.nan,
        f"{label}_kwh_per_1k_tokens_raw_ci_low": raw.low if raw else math.nan,
        f"{label}_kwh_per_1k_tokens_raw_ci_high": raw.high if raw else math.nan,
        f"{label}_contended_windows": contended,
        f"{label}_tokens_per_s_raw": sum(ta) / len(ta) if ta else math.nan,
        f"{label}_tokens_per_s": (ref or {}).get("tokens_per_s", math.nan) * math.exp(tu["log_mean"]) if tu
        else math.nan,  # anchored, as energy is
        f"{label}_tokens_per_s_ratio": math.exp(tu["log_mean"]) if tu else math.nan,
        f"{label}_tokens_per_s_log_sd": tu["log_sd"] if tu else math.nan,
        f"{label}_tokens_per_s_n": tu["n"] if tu else math.nan,
        f"{label}_tokens_per_s_ss": tu["ss"] if tu else math.nan,
        f"{label}_tokens_per_s_unit": tu["unit"] if tu else None,
        f"{label}_tokens_per_s_df": tu["n"] - 1 if tu else math.nan,
    }


def _nan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def family_size(agg: pd.DataFrame, labels_: list[str], run: Any) -> int:
    """The tests of one run's family: every (pruned row, workload) with a p-value."""
    rows = agg[(agg["run"] == run) & (agg["method"] != "dense")]
    return int(sum(rows[f"{lab}_ratio_p"].notna().sum() for lab in labels_ if f"{lab}_ratio_p" in rows.columns))


def pool_group(row: pd.Series) -> str:
    """Rows whose seed means share one variance: rows that run the dense model's kernels at its shapes (dense,
    unstructured, N:M without sparse kernels: `sparsity_exploited` 'dense' or 'no'), the smaller dense models of
    structured pruning, and each sparse-kernel backend, each apart (other windows, other noise). Rows from before
    `sparsity_exploited` group by structure."""
    kernels = row.get("sparsity_exploited")
    kernels = "" if _nan(kernels) else str(kernels)
    if kernels in ("dense", "no", "dense+no", "no+dense"):
        return "dense kernels"
    if kernels and kernels != "–":
        return kernels
    st = row.get("structure")
    return "dense kernels" if _nan(st) or str(st) in ("-", "unstructured") else str(st)


def _pool(agg: pd.DataFrame, rows: pd.Index, lab: str, q: str) -> None:
    """Give every seed-unit row of one run its group's pooled sd of seed means and df = sum of (seeds - 1), and
    the t-test p at that df (`q`: 'ratio' or 'tokens_per_s'). One-seed rows keep their own pairs."""
    unit, ss_col, df_col, sd_col = f"{lab}_{q}_unit", f"{lab}_{q}_ss", f"{lab}_{q}_df", f"{lab}_{q}_log_sd"
    if unit not in agg.columns:
        return
    if f"{lab}_{q}_pooled_rows" not in agg.columns:
        agg[f"{lab}_{q}_pooled_rows"] = math.nan
    groups: dict[str, list] = {}
    for i in rows:
        if agg.loc[i, unit] == "seeds" and not _nan(agg.loc[i, ss_col]):
            groups.setdefault(pool_group(agg.loc[i]), []).append(i)
    for members in groups.values():
        df = int(sum(agg.loc[i, df_col] for i in members))
        sd = math.sqrt(sum(agg.loc[i, ss_col] for i in members) / df)
        for i in members:
            agg.loc[i, [sd_col, df_col, f"{lab}_{q}_pooled_rows"]] = [sd, df, len(members)]
            if q == "ratio":
                m, n = agg.loc[i, f"{lab}_ratio_log_mean"], agg.loc[i, f"{lab}_ratio_n"]
                agg.loc[i, f"{lab}_ratio_p"] = ((1.0 if m == 0 else 0.0) if sd == 0
                                                else stats.t_two_sided_p(m / (sd / math.sqrt(n)), df))


def adjust(agg: pd.DataFrame, labels_: list[str]) -> pd.DataFrame:
    """Bonferroni over each run's family: `<label>_ratio_ci_low/high` at level 1 - 0.05/m (the anchored values'
    interval follows), `<label>_ratio_p_adj`, `<label>_same` (True when the interval contains 1 or there is none),
    `<label>_detectable` (the smallest saving ratio the row could have shown at 80% power) and `<label>_tests` (m)."""
    for lab in labels_:
        if f"{lab}_ratio_p" not in agg.columns:
            continue
        for c in ("ratio_ci_low", "ratio_ci_high", "ratio_p_adj", "detectable", "kwh_per_1k_tokens_ci_low",
                  "kwh_per_1k_tokens_ci_high", "tokens_per_s_ratio_ci_low", "tokens_per_s_ratio_ci_high"):
            agg[f"{lab}_{c}"] = math.nan
        agg[f"{lab}_tests"] = 0
        agg[f"{lab}_same"] = True
    for run in agg["run"].unique() if "run" in agg.columns else []:
        for lab in labels_:
            if f"{lab}_ratio_p" in agg.columns:
                for q in ("ratio", "tokens_per_s"):
                    _pool(agg, agg.index[agg["run"] == run], lab, q)
        m = max(1, family_size(agg, labels_, run))
        for lab in labels_:
            if f"{lab}_ratio_p" not in agg.columns:
                continue
            for i in agg.index[agg["run"] == run]:
                r = agg.loc[i]
                agg.loc[i, f"{lab}_tests"] = m
                p = r[f"{lab}_ratio_p"]
                t_iv = _interval(math.log(r[f"{lab}_tokens_per_s_ratio"]) if r[f"{lab}_tokens_per_s_ratio"] > 0
                                 else math.nan, r[f"{lab}_tokens_per_s_log_sd"], r[f"{lab}_tokens_per_s_n"], m,
                                 r[f"{lab}_tokens_per_s_df"])
                if t_iv:
                    agg.loc[i, [f"{lab}_tokens_per_s_ratio_ci_low", f"{lab}_tokens_per_s_ratio_ci_high"]] = list(t_iv)
                iv = _interval(r[f"{lab}_ratio_log_mean"], r[f"{lab}_ratio_log_sd"], r[f"{lab}_ratio_n"], m,
                               r[f"{lab}_ratio_df"])
                if iv is None:
                    continue
                lo, hi = iv
                ref = r[f"{lab}_ref_kwh_per_1k_tokens"]
                agg.loc[i, [f"{lab}_ratio_ci_low", f"{lab}_ratio_ci_high", f"{lab}_kwh_per_1k_tokens_ci_low",
                             f"{lab}_kwh_per_1k_tokens_ci_high"]] = [lo, hi, ref * lo, ref * hi]
                agg.loc[i, f"{lab}_ratio_p_adj"] = math.nan if _nan(p) else min(1.0, m * p)
                agg.loc[i, f"{lab}_same"] = bool(lo <= 1 <= hi)  # the decision IS the printed interval
                n, sd, df = int(r[f"{lab}_ratio_n"]), r[f"{lab}_ratio_log_sd"], int(r[f"{lab}_ratio_df"])
                agg.loc[i, f"{lab}_detectable"] = stats.detectable_ratio(sd, n, m, POWER, df=df) or math.nan
    return agg


def _r(x: float) -> str:
    """A ratio bound, readable even when a run with few seeds can say little ('<0.001', '>1000')."""
    if x > 1000:
        return ">1000"
    if x < 0.001:
        return "<0.001"
    return f"{x:.2f}" if x >= 0.01 else f"{x:.3f}"


def ratio_text(r: pd.Series, label: str) -> str:
    """'0.62 [0.60–0.64]' for a difference beyond noise, '≈ 1.01 [0.97–1.05]' otherwise, '–' when unknown."""
    v = r.get(f"{label}_ratio")
    if v is None or pd.isna(v):
        return "–"
    lo, hi = r.get(f"{label}_ratio_ci_low"), r.get(f"{label}_ratio_ci_high")
    ci = "" if lo is None or pd.isna(lo) else f" [{_r(lo)}–{_r(hi)}]"
    return ("≈ " if r.get(f"{label}_same", True) else "") + f"{_r(v)}{ci}"


def detectable_text(r: pd.Series, label: str) -> str:
    """What a `≈` means at this row's power: 'not detectable (would need < 0.71x)'."""
    d = r.get(f"{label}_detectable")
    if d is None or pd.isna(d):
        return "not detectable (the run cannot say how small a saving would show)"
    if d < 0.01:
        return f"not detectable (not even a 100x saving: {r.get(f'{label}_ratio_unit', 'units')}, " \
               f"{int(r.get(f'{label}_tests', 0))} tests)"
    return f"not detectable (would need < {_r(d)}x)"


def detectable_by_workload(agg: pd.DataFrame) -> dict[str, float]:
    """Per workload, the smallest saving ratio the run could have detected (the median over its pruned rows)."""
    out = {}
    for lab in present(agg):
        col = f"{lab}_detectable"
        vals = pd.to_numeric(agg.loc[agg["method"] != "dense", col], errors="coerce").dropna() if col in agg else []
        if len(vals):
            out[lab] = float(vals.median())
    return out


def unit_words(agg: pd.DataFrame) -> str:
    """'seeds' / 'pairs of one seed': what the rows' intervals are over."""
    units = sorted({str(v) for c in agg.columns if c.endswith("_ratio_unit") for v in agg[c].dropna()})
    return " / ".join(units) or "–"


def contended(agg: pd.DataFrame) -> pd.Series:
    """Per row, its windows measured while other processes used the machine (0 where the run did not record it)."""
    if "contended_windows" in agg.columns:
        return pd.to_numeric(agg["contended_windows"], errors="coerce").fillna(0).astype(int)
    cols = [c for c in agg.columns if c.endswith("_contended_windows")]
    if not cols:
        return pd.Series(0, index=agg.index)
    return agg[cols].fillna(0).sum(axis=1).astype(int)


def notes(agg: pd.DataFrame) -> list[str]:
    """How to read ×dense, `≈` and anchored values: the family, the unit of the intervals, what the run could see."""
    labs = present(agg)
    if not labs:
        return []
    tests = sorted({int(t) for lab in labs for t in agg[f"{lab}_tests"].dropna()})
    out = ["×dense: pruned / dense of the same seed from paired windows (ABBA): each seed's mean log ratio, then "
           f"the interval across seeds (unit here: {unit_words(agg)}; with one seed, across that seed's pairs), the "
           "seed means' variance pooled over the run's rows that run the same kernels (dense-shaped, smaller dense, "
           "each sparse backend); "
           f"one family per run of every (row, workload) test ({', '.join(map(str, tests))} tests): intervals are "
           "Bonferroni-simultaneous 95%, and '≈' (no difference beyond noise) means exactly that the interval "
           "contains 1; dense against itself shows the noise",
           "anchored energy = the run's dense reference for the workload (median of its quiet dense windows) x the "
           "row's ratio, with the ratio's interval: identical work gets identical numbers whatever the machine did "
           "meanwhile; the window means are in the CSV as *_raw and never ranked"]
    det = detectable_by_workload(agg)
    if det:
        out.append("smallest saving this run could have detected (80% power, family-adjusted): "
                   + "; ".join(f"{lab.replace('_b', ' b')} < {_r(v)}x" if v >= 0.01 else
                               f"{lab.replace('_b', ' b')}: none (not even a 100x saving)" for lab, v in det.items())
                   + "; a '≈' is 'not detectable', not 'no saving'")
    dense = agg[agg["method"] == "dense"] if "method" in agg.columns else agg.iloc[0:0]
    biased = [f"{lab.replace('_b', ' b')} {ratio_text(r, lab)}" for lab in labs for _, r in dense.iterrows()
              if not r.get(f"{lab}_same", True)]
    if biased:
        out.append("dense against itself separated (" + "; ".join(biased) + "): the protocol is biased on this "
                   "machine for that workload, so its pruned ratios are not findings; re-measure (quiet machine, "
                   "more repeats)")
    busy_refs = [lab.replace("_b", " b") for lab in labs
                 if f"{lab}_ref_quiet" in agg.columns and not agg[f"{lab}_ref_quiet"].fillna(True).all()]
    if busy_refs:
        out.append("every dense window of " + ", ".join(busy_refs) + " was contended: its reference is the median "
                   "of all of them (anchored values on a busy machine; ratios are still paired)")
    n_cont = int(contended(agg).sum())
    if n_cont:
        out.append(f"{n_cont} measured window(s) ran while other processes used the machine (contended): their "
                   "rows are marked; ratios are paired, so contention shared by both sides cancels, but not more")
    return out
