"""`ecobench report`: one self-contained HTML page (figures inline as PNG, no scripts, no network).

Every string that comes from a suite, a manifest or a results row goes through `esc()`; a Content-Security-Policy
that allows no scripts and no fetches is a second guard should anything slip through.
"""

from __future__ import annotations

import base64
import html
import io
import math
import shlex
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import yaml

from ecobench import __version__
from ecobench.atomic import write_text
from ecobench.config.base import visible
from ecobench.errors import UserError
from ecobench.report import plots, style
from ecobench.report.formats import basis, best_mask, build_columns, energy_kind, notes
from ecobench.report.runs import Runs
from ecobench.report.tables import BASIS_LABEL, compare_frame
from ecobench.report.units import with_unit
from ecobench.sweep import CONTROL

BANDS = [(0.0, 0.3, "low (ratio ≤ 0.3)"), (0.3, 0.6, "medium (0.3 < ratio ≤ 0.6)"), (0.6, 1.0, "high (ratio > 0.6)")]
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2em auto;max-width:1200px;
 padding:0 1em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:12px;margin:.5em 0} th,td{padding:3px 7px;border-bottom:1px solid #e4e4e4}
th{background:#f4f4f4;text-align:left;vertical-align:bottom;min-width:4em} td.n{text-align:right;font-variant-numeric:tabular-nums}
.wide{overflow-x:auto} .note{color:#555;font-size:12px} .est{color:#a15c00;font-weight:600}
.meas{color:#146c2e;font-weight:600} figure{margin:1em 0} figure img{width:100%;max-width:1000px;border:1px solid #eee}
figcaption{font-size:12px;color:#444} pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:12px}
code{background:#f6f6f6;padding:0 3px} dl.kv{display:grid;grid-template-columns:max-content auto;gap:2px 12px}
dl.kv dt{font-weight:600} dl.kv dd{margin:0}
"""
CAPTIONS = {
    "fig1_loss_vs_ratio": "Validation loss against target pruning ratio (a) and sparsity reached (b); mean over seeds; "
                          "the band is ±1 std over seeds of the change against the dense model of the same seed; "
                          "the dotted line is the dense model.",
    "fig2_loss_vs_footprint": "Validation loss against each cell's own energy, carbon and water (shared dense "
                              "training excluded), with the Pareto frontier.",
    "fig3_footprint_by_phase": "Footprint of each cell stacked by phase at one target ratio; the shared dense "
                               "training cost is stated above each panel.",
    "fig4_layer_sparsity": "Fraction of weights pruned per layer for one method and ratio, a panel per structure "
                           "and scope; for structured cells, the MLP neurons and heads each layer kept.",
    "fig5_loss_vs_inference": "Validation loss against measured inference energy per 1k tokens (a) and tokens/s "
                              "(b), a marker per structure: zeros in dense kernels save nothing at serving time; a "
                              "smaller dense model (structured) can.",
}


def esc(x: object) -> str:
    """Escape any text from suites or results for HTML text and attribute values; control and text-direction
    characters are written out (\\u202e), so a name cannot show as another on the page."""
    return html.escape("" if x is None else visible(x), quote=True)


def _kv(items: Iterable[tuple[str, object]]) -> str:
    def show(v: object) -> str:
        return "–" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)

    return "<dl class=kv>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(show(v))}</dd>" for k, v in items) + "</dl>"


def _tables(agg: pd.DataFrame) -> str:
    """The compare table split in two (quality, footprint) so each fits a page; the notes once, after both."""
    cols = build_columns(agg)
    parts = []
    for title, group in (("Quality", "quality"), ("Footprint", "footprint")):
        sub = [c for c in cols if c.group in ("id", group, "flag")]
        parts.append(f"<h3>{title}</h3>" + _table(agg, sub))
    note = "".join(f"<li>{esc(n)}</li>" for n in notes(agg))
    return "".join(parts) + f"<ul class=note>{note}</ul>"


def _table(agg: pd.DataFrame, cols: list) -> str:
    best = best_mask(agg, cols)
    head = "".join(f"<th>{esc(c.header)}</th>" for c in cols)
    body = []
    for i, (_, r) in enumerate(agg.iterrows()):
        tds = []
        for j, c in enumerate(cols):
            t = esc(c.text(r))
            t = f"<b>{t}</b>" if best[i][j] else t
            cls = " class=n" if c.numeric else ""
            if c.text is energy_kind:
                t = f"<span class={ {'estimated': 'est', 'measured': 'meas'}.get(energy_kind(r), 'none') }>{t}</span>"
            tds.append(f"<td{cls}>{t}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f"<div class=wide><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"


def best_per_band(agg: pd.DataFrame) -> list[tuple[str, str, str, str]]:
    """(structure, band, best method or 'tie', why) per structure and ratio band. A method is named only when its
    mean loss change against dense (over the band's ratios) beats the runner-up's by more than the seeds' spread:
    twice the standard error of the difference (sd of the seeds' Δloss / sqrt(seeds), both methods). Otherwise
    'tie'; with one seed there is no spread to judge by, so every band is a tie."""
    pruned = agg[~agg["method"].isin(["dense", CONTROL]) & agg["ratio"].notna()]
    out = []
    for structure in sorted(pruned["structure"].unique()):
        st = pruned[pruned["structure"] == structure]
        for lo, hi, name in BANDS:
            band = st[(st["ratio"] > lo) & (st["ratio"] <= hi)] if lo > 0 else st[st["ratio"] <= hi]
            if band.empty:
                continue
            se = band["loss_delta_std"] / band["n_seeds"].clip(lower=1) ** 0.5
            g = band.assign(_se2=se ** 2).groupby(["method", "scope"])
            score = g["loss_delta_mean"].mean().dropna().sort_values()
            if score.empty:
                out.append((structure, name, "–", "no Δloss in this band"))
                continue
            se_of = (g["_se2"].mean() / g.size()) ** 0.5  # the se of a mean over the band's ratios
            ratios = ", ".join(f"{r:g}" for r in sorted(band["ratio"].unique()))
            (m0, s0), best = score.index[0], score.iloc[0]
            if len(score) == 1:
                out.append((structure, name, f"{m0} ({s0})", f"the only method; mean Δloss {best:+.4f} over {ratios}"))
                continue
            (m1, s1), runner = score.index[1], score.iloc[1]
            spread = 2 * (se_of[(m0, s0)] ** 2 + se_of[(m1, s1)] ** 2) ** 0.5
            if pd.isna(spread):
                why = (f"{m0} ({s0}) {best:+.4f} vs {m1} ({s1}) {runner:+.4f} nats/token over {ratios}: one seed, no "
                       "spread to judge the difference by")
                out.append((structure, name, "tie", why))
            elif runner - best > spread:
                out.append((structure, name, f"{m0} ({s0})", f"mean Δloss {best:+.4f} vs {runner:+.4f} ({m1}, {s1}) "
                            f"over {ratios}: apart by more than the seeds' spread (±{spread:.4f})"))
            else:
                out.append((structure, name, "tie", f"{m0} ({s0}) {best:+.4f} and {m1} ({s1}) {runner:+.4f} over "
                            f"{ratios}: within the seeds' spread (±{spread:.4f})"))
    return out


def _claims(runs: Runs) -> str:
    """The suite's stated claims and their verdicts, first on the page: what the run was for."""
    from ecobench.claims.folder import judge_loaded
    from ecobench.claims.judge import headline, sides
    from ecobench.claims.render import METHOD, boundary, detect_text, estimate

    parts = []
    for name in runs.names:
        verdicts = judge_loaded(runs.manifests[name], runs.rows[runs.rows["run"] == name], name)
        if not verdicts:
            continue
        rows = "".join(
            f"<tr><td><b>{esc(v.verdict)}</b></td><td>{esc(v.claim.says or v.claim.name)}<br><span class=note>"
            f"{esc(v.claim.name)}: {esc(v.claim.form)}, {esc(v.claim.metric)}, {esc(sides(v.claim))}</span></td>"
            f"<td class=n>{esc(estimate(v))}</td><td>{esc(boundary(v))}</td>"
            f"<td class=n>{esc('–' if v.p_holm is None else f'{v.p_holm:.3g}')}</td><td class=n>{v.seeds}</td>"
            f"<td class=note>{esc(detect_text(v) or v.note)}</td></tr>" for v in verdicts)
        parts.append(f"<p>Run <code>{esc(name)}</code>: {esc(headline(verdicts))}.</p><div class=wide><table><thead>"
                     "<tr><th>verdict</th><th>claim</th><th>estimate [95% CI]</th><th>claimed</th><th>p (Holm)</th>"
                     f"<th>seeds</th><th>note</th></tr></thead><tbody>{rows}</tbody></table></div>")
    if not parts:
        return ""
    return "<h2>Claims</h2>" + "".join(parts) + f"<p class=note>{esc(METHOD)}</p>"


def _measured_vs_estimated(runs: Runs, agg: pd.DataFrame) -> str:
    parts = []
    for name, m in runs.manifests.items():
        fp = m.get("footprint") or {}
        srcs, notes_ = fp.get("sources") or {}, fp.get("notes") or {}
        items = []
        for comp in ("gpu", "cpu", "ram"):
            src = srcs.get(comp, "absent from the manifest")
            kind = "measured" if str(src).startswith("measured") else "estimated" if str(src).startswith("estimated") else "not measured"
            cls = {"measured": "meas", "estimated": "est"}.get(kind, "")
            note = notes_.get(comp)
            items.append(f"<li>{esc(comp.upper())}: <span class='{cls}'>{esc(kind)}</span> "
                         f"(<code>{esc(src)}</code>){' — ' + esc(note) if note else ''}</li>")
        parts.append(f"<p>Run <code>{esc(name)}</code>:</p><ul>{''.join(items)}</ul>")
    n_est = int(agg["estimated"].sum())
    parts.append(f"<p>{n_est} of {len(agg)} table rows include estimated energy; carbon and water are computed from "
                 f"energy and the site factors below, so they inherit its provenance.</p>")
    return "".join(parts)


def _impact(runs: Runs) -> str:
    """Per run: the whole run's total and the phases' share, and the statement paragraph for a paper."""
    from ecobench.accounting import run_total, share_line
    from ecobench.report.statement import facts, render
    from ecobench.store import CELLS, read_cells

    out = []
    for name, path in runs.paths.items():
        total = run_total(runs.manifests[name], read_cells(path / CELLS))
        out.append(f"<p>Run <code>{esc(name)}</code>: {esc(share_line(total))}</p>")
        if total.accounted:
            out.append(f"<blockquote>{esc(render(facts(path), 'text'))}</blockquote>"
                       f"<p class=note>For a paper: <code>ecobench statement {esc(path)} --format latex</code></p>")
    return "".join(out)


def _manifest(name: str, m: dict) -> str:
    hw = m.get("hardware") or {}
    fp = m.get("footprint") or {}
    site = fp.get("site") or {}
    idle = fp.get("idle_baseline")
    data = m.get("data") or {}
    out = [f"<h3>Run <code>{esc(name)}</code></h3>"]
    out.append(_kv([("suite", m.get("suite_name")), ("suite file", m.get("suite_file")),
                    ("suite fingerprint", m.get("suite_fingerprint")), ("git commit", m.get("git_commit")),
                    ("data", data.get("description")), ("corpus sha256", data.get("corpus_sha256")),
                    ("CPU", f"{hw.get('cpu')} ({hw.get('cpu_count')} logical CPUs)"),
                    ("GPUs", ", ".join(map(str, hw.get("gpus") or [])) or "none"), ("platform", hw.get("platform")),
                    ("torch threads", m.get("torch_threads"))]))
    out.append("<h4>Versions</h4>" + _kv(sorted((m.get("versions") or {}).items())))
    out.append("<h4>Site factors</h4>" + _kv([(k, v) for k, v in site.items()]) if site else
               "<h4>Site factors</h4><p>not recorded</p>")
    if idle:
        out.append("<h4>Idle baseline</h4>" + _kv([(k, v) for k, v in idle.items()]))
    else:
        out.append("<h4>Idle baseline</h4><p>none measured (footprint.idle_seconds was 0): only gross energy is "
                   "reported, nothing is subtracted.</p>")
    if fp.get("summary"):
        out.append(f"<h4>Meters</h4><p>{esc(fp['summary'])}</p>")
    return "".join(out)


def _reproduce(runs: Runs, report_cmd: list[str] | None) -> str:
    out = []
    for name, m in runs.manifests.items():
        cmds = [shlex.join(map(str, s.get("command") or [])) for s in m.get("sessions") or []]
        cmds = list(dict.fromkeys(c for c in cmds if c))
        out.append(f"<p>Run <code>{esc(name)}</code> (from the repository root, at git commit "
                   f"<code>{esc(m.get('git_commit'))}</code>):</p>")
        out.append("<pre>" + esc("\n".join(cmds) or "(no command recorded)") + "</pre>")
        suite = m.get("suite")
        if suite:
            text = yaml.safe_dump(suite, sort_keys=False, allow_unicode=True)
            out.append(f"<details><summary>the suite as resolved (save it and run <code>ecobench run</code> on it)"
                       f"</summary><pre>{esc(text)}</pre></details>")
    if report_cmd:
        out.append(f"<p>This page:</p><pre>{esc(shlex.join(report_cmd))}</pre>")
    return "".join(out)


def _figures(runs: Runs, width: str, energy: str = "gross") -> str:
    style.apply_style()
    data = plots.prepare(runs.rows, energy)
    out = [f"<p class=note>Footprint figures show {esc(BASIS_LABEL[energy])} energy and the carbon and water "
           f"derived from it; water uses the off-site EWIF convention {esc(data.water)}.</p>"]
    for stem, make in plots.FIGURES.items():
        try:
            fig = make(data, width, {})
        except UserError as err:  # missing data for one figure (say, no per-layer sparsity) costs only that figure
            out.append(f"<p class=note>{esc(stem)}: not drawn: {esc(err)}</p>")
            continue
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=150, metadata=style.METADATA["png"])
        plots.plt.close(fig)
        b64 = base64.b64encode(buf.getvalue()).decode("ascii")
        out.append(f"<figure><img alt='{esc(stem)}' src='data:image/png;base64,{b64}'>"
                   f"<figcaption>{esc(stem)}: {esc(CAPTIONS.get(stem, ''))}</figcaption></figure>")
    return "".join(out)


def _lifecycle(agg: pd.DataFrame) -> str:
    from ecobench.report.lifecycle import lifecycle_columns, lifecycle_frame

    frame = lifecycle_frame(agg)
    if frame.empty:
        return "<p class=note>no pruned cells</p>"
    return ("<p class=note>one-time cost (score + prune + recover) against the per-token decode saving measured beside "
            "dense on the same energy basis, with its family-adjusted interval; 'not detectable' (with the smallest "
            "saving the run could have shown) when the saving is not beyond noise</p>"
            + _table(frame, lifecycle_columns(frame)))


def render_report(runs: Runs, width: str = "two", report_cmd: list[str] | None = None, energy: str = "gross") -> str:
    """The whole page as one string; footprint figures and tables on the `energy` basis (gross | above-idle)."""
    agg = compare_frame(runs.rows, runs.names, energy)
    pooled = plots.prepare(runs.rows, energy).agg
    suites = sorted({str(m.get("suite_name", "?")) for m in runs.manifests.values()})
    n_cells = runs.rows.drop_duplicates(["run", "key"])
    n_failed = int((n_cells["status"] != "ok").sum())
    bands = "".join(f"<tr><td>{esc(st)}</td><td>{esc(b)}</td><td><b>{esc(m)}</b></td><td>{esc(w)}</td></tr>"
                    for st, b, m, w in best_per_band(pooled))
    failed = (f"<p class=est>{n_failed} cell(s) failed and are left out of the table and figures.</p>"
              if n_failed else "")
    dense = pooled[pooled["method"] == "dense"]
    dense_line = ""
    if not dense.empty and not math.isnan(dense["loss_mean"].iloc[0]):
        d = dense.iloc[0]
        dense_line = (f"<p>Dense reference: loss {d['loss_mean']:.4f} nats/token over {d['n_seeds']} seed(s); "
                      f"training it cost {with_unit(d['train_energy_kwh'], 'energy_kwh')} ({BASIS_LABEL[basis(pooled)]}) "
                      f"per seed, shared by every cell "
                      f"of that seed (shown apart, never added into cell totals).</p>")
    title = f"ecobench report: {', '.join(suites)}"
    body = [
        f"<h1>{esc(title)}</h1>",
        f"<p class=note>{len(runs.names)} run(s): {esc(', '.join(runs.names))}; {len(n_cells)} cells; "
        f"generated by ecobench {esc(__version__)}.</p>",
        _claims(runs),
        "<h2>Summary</h2>", dense_line, failed,
        "<h3>Best method per ratio band</h3><p class=note>per structure (unstructured, N:M and structured cells do "
        "different work and are never averaged together): the lowest mean loss change against dense, named only "
        "when it beats the runner-up by more than the seeds' spread, 'tie' otherwise (never broken by energy); seeds "
        "and runs pooled</p>",
        "<table><thead><tr><th>structure</th><th>band</th><th>best</th><th>why</th></tr></thead>"
        f"<tbody>{bands}</tbody></table>",
        "<h3>What was measured, what was estimated</h3>", _measured_vs_estimated(runs, agg),
        "<h2>The whole run and its impact statement</h2>", _impact(runs),
        "<h2>Comparison</h2>", _tables(agg),
        "<h3>Lifecycle: when does pruning pay back?</h3>", _lifecycle(agg),
        "<h2>Figures</h2>", _figures(runs, width, energy),
        "<h2>Manifest</h2>", "".join(_manifest(n, m) for n, m in runs.manifests.items()),
        "<h2>Reproduce</h2>", _reproduce(runs, report_cmd),
    ]
    return (f"<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
            f"<meta http-equiv=Content-Security-Policy content=\"{CSP}\">"
            f"<meta name=viewport content='width=device-width,initial-scale=1'>"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def write_report(runs: Runs, out: Path, width: str = "two", report_cmd: list[str] | None = None,
                 energy: str = "gross") -> Path:
    page = render_report(runs, width, report_cmd, energy)
    try:
        write_text(out, page)  # atomic, never through a link
    except OSError as err:
        raise UserError(f"{out}: cannot write the report: {err.strerror or err}") from None
    return out
