"""Aggregation for `compare`: phase rows -> one row per cell -> one row per (run, model, method, scope, target).

Training is special: the dense model of a seed is trained once and every cell of that seed starts from it. So a
cell's own footprint (`cell_*`) is its score + prune + recover + eval + inference phases; the shared training cost
is carried beside it (`train_*`, the same for all cells of a seed) and `pipeline_* = train_* + cell_*` is what it
costs to produce and evaluate that one model from scratch. Nothing is summed across cells that share training.

Energy is gross or above idle (`energy`), with the carbon and water the runner derived from each. A value that is
missing (an absent meter, a meter that failed) stays missing in every sum it would enter: a phase, a cell total, a
mean over seeds. It is never counted as 0.
"""

from __future__ import annotations

import math

import pandas as pd

from ecobench.record import PHASES
from ecobench.report import paired, ranges
from ecobench.run_parts import phase_contended
from ecobench.sweep import CONTROL

CELL_PHASES = PHASES[1:]  # the phases a cell pays for itself
QUANTITIES = ("energy_kwh", "co2e_g", "water_l")  # footprint columns of a phase row, in base units
METRICS = ("loss", "bpc", "ppl", "accuracy", "mae")  # quality metrics, each with a delta against dense
DOMAIN_METRICS = ("loss", "bpc", "ppl")  # scored on each extra domain of eval.domains as `<metric>@<domain>`
HIGHER_IS_BETTER = ("accuracy",)  # the others: lower is better
CHANCE = ("accuracy_chance", "mae_chance")  # image-question runs: what always giving the usual answer scores
GROUP = ["run", "suite", "model", "method", "method_name", "structure", "scope", "ratio", "multiplier"]
SOURCES = ("source_gpu", "source_cpu", "source_ram")
ENERGY_BASES = ("gross", "above-idle")
BASIS_LABEL = {"gross": "gross", "above-idle": "above idle"}
# which row column holds each quantity, per energy basis
ROW_COLUMNS = {
    "gross": {"energy_kwh": "energy_kwh", "co2e_g": "co2e_g", "water_l": "water_l"},
    "above-idle": {"energy_kwh": "energy_above_idle_kwh", "co2e_g": "co2e_above_idle_g",
                   "water_l": "water_above_idle_l"},
}
UNRECORDED = "unrecorded"  # rows written before ecobench recorded a water convention


def _num(df: pd.DataFrame, col: str) -> pd.Series:
    """A numeric column, or all-NaN when this run's store does not have it (older or partial footprint)."""
    if col in df.columns:
        return pd.to_numeric(df[col], errors="coerce")
    return pd.Series(math.nan, index=df.index, dtype=float)


def domain_columns(columns) -> list[str]:
    """The `<metric>@<domain>` quality columns of eval.domains present in a frame (sorted by domain, then metric)."""
    found = [c for c in columns if isinstance(c, str) and c.partition("@")[0] in DOMAIN_METRICS and "@" in c
             and not c.endswith(("_mean", "_std", "_dense")) and "_delta" not in c]
    return sorted(found, key=lambda c: (c.partition("@")[2], DOMAIN_METRICS.index(c.partition("@")[0])))


def quality_columns(columns) -> list[str]:
    """The main quality metrics, then those of every extra domain: each gets a mean, std and delta vs dense."""
    return [*METRICS, *domain_columns(columns)]


def _sources(rows: pd.DataFrame) -> tuple[bool, str]:
    """(any energy estimated, 'cpu=estimated:...; ram=...') over the given phase rows."""
    found: dict[str, set[str]] = {}
    for col in SOURCES:
        if col in rows.columns:
            vals = {str(v) for v in rows[col].dropna() if str(v) != "none"}
            if vals:
                found[col.removeprefix("source_")] = vals
    estimated = any(v.startswith("estimated") for vals in found.values() for v in vals)
    text = "; ".join(f"{k}={'+'.join(sorted(v))}" for k, v in sorted(found.items()))
    return estimated, text or "none"


def target_label(ratio: float | None, multiplier: float | None) -> str:
    """'0.5' for a target ratio, 'std1.5' for the paper's std-multiplier threshold."""
    if ratio is not None and not (isinstance(ratio, float) and math.isnan(ratio)):
        return f"{ratio:g}"
    if multiplier is not None and not (isinstance(multiplier, float) and math.isnan(multiplier)):
        return f"std{multiplier:g}"
    return "?"


def _known_sum(values: pd.Series) -> float:
    """The sum when every value is known; NaN when any is missing (or there is none)."""
    return float(values.sum()) if len(values) and values.notna().all() else math.nan


def water_conventions(rows: pd.DataFrame) -> list[str]:
    """The EWIF conventions of these phase rows ('unrecorded' for rows from before it was recorded)."""
    if "phase" in rows.columns:
        rows = rows[rows["phase"].notna()]
    if "ewif_convention" not in rows.columns:
        return [UNRECORDED] if len(rows) else []
    return sorted({UNRECORDED if pd.isna(v) else str(v) for v in rows["ewif_convention"]})


def with_structure(df: pd.DataFrame) -> pd.DataFrame:
    """A `structure` column on every row: '-' for dense, 'unstructured' for rows from before structures existed."""
    st = df["structure"] if "structure" in df.columns else pd.Series(None, index=df.index, dtype=object)
    st = st.where(st.notna(), "unstructured").astype(object)
    if "method" in df.columns:
        st = st.where(df["method"] != "dense", "-")
    return df.assign(structure=st)


def contended_windows(g: pd.DataFrame) -> int:
    """Windows of a cell measured while other processes used the machine, counted per phase row as the run total
    counts them (run_parts.phase_contended); 0 when not recorded."""
    cols = [c for c in ("contended_windows", "contended", "contended_repeats", "dense_contended_repeats")
            if c in g.columns]
    return sum(phase_contended(p) for p in g[cols].to_dict("records")) if cols else 0


def cell_table(rows: pd.DataFrame, energy: str = "gross") -> pd.DataFrame:
    """One row per finished cell: its metrics, per-phase footprint, shared training, totals, and its dense deltas."""
    ok = with_structure(rows[rows["status"] == "ok"].copy())
    if ok.empty:
        return pd.DataFrame()
    for q in QUANTITIES:
        ok[q] = _num(ok, ROW_COLUMNS[energy][q])
    out = []
    for (_run, _key), g in ok.groupby(["run", "key"], sort=False):
        first = g.iloc[0]
        rec = {c: first.get(c) for c in [*GROUP, "key", "seed", "sparsity", "params_nonzero", "params_total",
                                         *quality_columns(g.columns), *CHANCE, "eval_metric", "layer_sparsity", "layer_kept", "sparsity_exploited",
                                         "flops_per_token_dense", "flops_per_token_effective"]
               if c in g.columns}
        rec["invalid"] = first.get("invalid") if "invalid" in g.columns else None
        by_phase = {ph: g[g["phase"] == ph] for ph in PHASES}
        for ph, prow in by_phase.items():
            for q in QUANTITIES:
                rec[f"{ph}_{q}"] = _known_sum(prow[q])
        ran = [ph for ph in CELL_PHASES if not by_phase[ph].empty]
        for q in QUANTITIES:
            rec[f"cell_{q}"] = _known_sum(pd.Series([rec[f"{ph}_{q}"] for ph in ran], dtype=float))
        rec |= ranges.cell_ranges(g, ran, energy)  # carbon and water bounds, embodied carbon (report/ranges.py)
        inf = by_phase["inference"]
        if inf.empty and not by_phase["decode"].empty:  # schema 3: decode at the largest batch size measured
            dec = by_phase["decode"]
            sizes = _num(dec, "batch_size")
            inf = dec[sizes == sizes.max()] if sizes.notna().any() else dec
        per_1k = inf["energy_kwh"] / _num(inf, "tokens") * 1000
        # the window mean, kept for the record: never ranked (a busy moment moves it); tables use anchored values
        rec["inference_kwh_per_1k_tokens_raw"] = per_1k.mean(skipna=False) if not inf.empty else math.nan
        rec["inference_tokens_per_s"] = _num(inf, "tokens_per_s").mean() if not inf.empty else math.nan
        known = g[g["energy_kwh"].notna() & (g["energy_kwh"] > 0)]
        for q in ("co2e_g", "water_l"):  # the site's conversion of this basis' energy, for anchored carbon and water
            rec[f"{q}_per_kwh"] = float(known[q].sum() / known["energy_kwh"].sum()) if len(known) else math.nan
        rec["paired"] = paired.cell_pairs(g, energy)
        rec["contended_windows"] = contended_windows(g)
        rec["estimated"], rec["energy_sources"] = _sources(g)
        rec["water_convention"] = "; ".join(water_conventions(g))
        out.append(rec)
    cells = pd.DataFrame(out)
    return _attach_dense(cells, ok)


def _attach_dense(cells: pd.DataFrame, ok: pd.DataFrame) -> pd.DataFrame:
    """Shared training cost and metric deltas, both from the dense cell of the same run, model and seed."""
    dense = cells[cells["method"] == "dense"].set_index(["run", "model", "seed"])
    idx = pd.MultiIndex.from_frame(cells[["run", "model", "seed"]])
    has_dense = idx.isin(dense.index)
    for q in QUANTITIES:
        shared = dense[f"train_{q}"].reindex(idx).to_numpy()
        cells[f"train_{q}"] = shared
        cells[f"pipeline_{q}"] = cells[f"cell_{q}"] + shared
    for m in quality_columns(cells.columns):
        if m not in cells.columns:
            continue
        ref = dense[m].reindex(idx).to_numpy()
        cells[f"{m}_dense"] = ref
        cells[f"{m}_delta"] = cells[m] - ref
        cells[f"{m}_delta_pct"] = 100 * (cells[m] - ref) / ref
        control = cells[cells["method"] == CONTROL].set_index(["run", "model", "seed"])
        if not control.empty:  # recovery is extra training: Δ against the dense model trained as long too
            cells[f"{m}_delta_control"] = cells[m] - control[m].reindex(idx).to_numpy()
    # training rows' provenance counts toward every cell that carries the training cost
    train_est = {k: _sources(g)[0] for k, g in ok[ok["phase"] == "train"].groupby(["run", "model", "seed"])}
    cells["estimated"] = [bool(e) or train_est.get((r, mo, s), False)
                          for e, r, mo, s in zip(cells["estimated"], cells["run"], cells["model"], cells["seed"], strict=True)]
    cells["has_dense"] = has_dense
    return cells


def _sort_key(df: pd.DataFrame, run_order: list[str]) -> pd.DataFrame:
    order = {r: i for i, r in enumerate(run_order)}
    return df.assign(
        _run=df["run"].map(order),
        _dense=(df["method"] != "dense").astype(int),
        _std=df["ratio"].isna().astype(int),
        _target=df["ratio"].fillna(df["multiplier"]),
    ).sort_values(["_run", "model", "_dense", "_std", "_target", "method", "structure", "scope"], kind="stable").drop(
        columns=["_run", "_dense", "_std", "_target"])


def aggregate(cells: pd.DataFrame, failed: pd.DataFrame | None = None, run_order: list[str] | None = None) -> pd.DataFrame:
    """One row per group, over seeds: mean, std (ddof 1; NaN for one seed) and n of each metric and footprint."""
    if cells.empty:
        return pd.DataFrame()
    value_cols = [c for c in cells.columns if c.endswith(tuple(QUANTITIES)) or c.startswith("inference_")
                  or c in ranges.CELL_RANGE_COLS]
    quality = quality_columns(cells.columns)
    stats_cols = [c for c in [*quality, *(f"{m}_delta" for m in quality), *(f"{m}_delta_pct" for m in quality),
                              *(f"{m}_delta_control" for m in quality), "sparsity", "flops_per_token_dense",
                              "flops_per_token_effective"] if c in cells.columns]
    measured = paired.labels(cells)
    refs = paired.references(cells, measured)
    rows = []
    for key, g in cells.groupby(GROUP, dropna=False, sort=False):
        rec = dict(zip(GROUP, key, strict=True))
        rec["target"] = target_label(rec["ratio"], rec["multiplier"])
        rec["n_cells"] = len(g)  # cells pooled: one per seed within a run
        # the seeds the quality means are over: a seed whose loss is missing or invalid is not silently averaged away
        rec["n_seeds"] = int(pd.to_numeric(g["loss"], errors="coerce").notna().sum()) if "loss" in g else 0
        rec["n_invalid"] = int(g["invalid"].notna().sum()) if "invalid" in g else 0
        rec["seeds"] = " ".join(str(int(s)) for s in sorted(g["seed"].unique()))
        for c in stats_cols:
            vals = pd.to_numeric(g[c], errors="coerce")
            rec[f"{c}_mean"] = vals.mean()
            rec[f"{c}_std"] = vals.std(ddof=1) if vals.count() > 1 else math.nan
        rec["params_nonzero_mean"] = pd.to_numeric(g["params_nonzero"], errors="coerce").mean()
        rec["params_total"] = pd.to_numeric(g["params_total"], errors="coerce").max()
        kernels = g["sparsity_exploited"].dropna() if "sparsity_exploited" in g.columns else pd.Series(dtype=str)
        rec["sparsity_exploited"] = "+".join(sorted(set(map(str, kernels)))) or "–"  # '–': not recorded (older run)
        for c in value_cols:  # a seed without a value makes the mean unknown, not a mean over fewer seeds
            rec[c] = pd.to_numeric(g[c], errors="coerce").mean(skipna=False)
        for lab in measured:
            rec |= paired.pooled(g, lab, refs.get((rec["run"], lab)))
        for q in ("co2e_g", "water_l"):
            rec[f"{q}_per_kwh"] = pd.to_numeric(g[f"{q}_per_kwh"], errors="coerce").mean()
        rec["estimated"] = bool(g["estimated"].any())
        rec["energy_sources"] = "; ".join(sorted(set(g["energy_sources"])))
        rec["water_convention"] = "; ".join(sorted(set(g["water_convention"])))
        rec["dense_missing"] = int((~g["has_dense"]).sum())
        rec["contended_windows"] = int(g["contended_windows"].sum())
        rows.append(rec)
    agg = anchored_inference(paired.adjust(pd.DataFrame(rows), measured))
    agg["n_failed"] = 0
    if failed is not None and not failed.empty:
        f = with_structure(failed.drop_duplicates(["run", "key"]))
        fkeys = [(r, mo, me, st, sc, target_label(ra, mu)) for r, mo, me, st, sc, ra, mu in
                 zip(f["run"], f["model"], f["method"], f["structure"], f["scope"], f["ratio"], f["multiplier"],
                     strict=True)]
        akeys = zip(agg["run"], agg["model"], agg["method"], agg["structure"], agg["scope"], agg["target"], strict=True)
        agg["n_failed"] = [fkeys.count(k) for k in akeys]
    return _sort_key(agg, run_order or list(dict.fromkeys(agg["run"]))).reset_index(drop=True)


def anchored_inference(agg: pd.DataFrame) -> pd.DataFrame:
    """`inference_kwh_per_1k_tokens` (with its interval) = the headline workload's anchored value, and per workload
    its carbon and water per 1k tokens (the anchored energy at the site's factors: ratios need no factors, absolute
    values do). Without paired windows (results from before them) the anchored columns stay unknown."""
    lab = paired.headline(agg)
    for c in ("", "_ci_low", "_ci_high"):
        agg[f"inference_kwh_per_1k_tokens{c}"] = agg[f"{lab}_kwh_per_1k_tokens{c}"] if lab else math.nan
    for lab in paired.present(agg):
        for q in ("co2e_g", "water_l"):
            for c in ("", "_ci_low", "_ci_high"):
                agg[f"{lab}_{q}_per_1k_tokens{c}"] = agg[f"{lab}_kwh_per_1k_tokens{c}"] * agg[f"{q}_per_kwh"]
    return agg.copy()  # de-fragmented: one column per workload statistic was added one at a time


def compare_frame(rows: pd.DataFrame, run_order: list[str] | None = None, energy: str = "gross") -> pd.DataFrame:
    """Phase rows of one or more runs -> the aggregated comparison (the one thing compare, plot and report share).

    `energy` is 'gross' or 'above-idle'; the frame's `energy_basis` column says which one its footprint columns are."""
    failed = with_structure(rows[rows["status"] != "ok"])
    for c in GROUP:
        if c not in failed.columns:
            failed = failed.assign(**{c: None})
    agg = aggregate(cell_table(rows, energy), failed, run_order)
    if not agg.empty:
        agg = agg.copy()  # de-fragmented: one column per workload statistic was added one at a time
        agg["energy_basis"] = energy
    return agg
