"""The `compare`, `statement`, `plot` and `report` subcommands, wired into `ecobench` by `add_report_commands`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ecobench.errors import UserError
from ecobench.record import PHASES
from ecobench.report.outputs import check_output

PHASE_CHOICES = (*PHASES, "total")


def _runs_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("runs", nargs="+", metavar="RUN", help="results folder(s) written by `ecobench run`")
    sp.add_argument("--force", action="store_true",
                    help="compare runs even when their suites differ in more than name, seeds or ratios, or their "
                         "water (EWIF) conventions differ")
    sp.add_argument("--energy", choices=("gross", "above-idle"), default="gross",
                    help="footprint basis: gross energy, or energy above the idle baseline (default gross); carbon "
                         "and water follow it")


def _write(text: str, output: str | None) -> None:
    if not output:
        sys.stdout.write(text)
        return
    from ecobench.atomic import write_text

    try:
        write_text(Path(output), text)
    except OSError as err:
        raise UserError(f"{output}: cannot write: {err.strerror or err}") from None
    print(f"wrote {output}", file=sys.stderr)


def _cmd_compare(args: argparse.Namespace) -> int:
    from ecobench.report.formats import METRICS, md_escape, one_line, parse_list, render
    from ecobench.report.runs import load_runs
    from ecobench.report.tables import compare_frame

    metrics = parse_list(args.metric, METRICS, "metric")
    phases = parse_list(args.phase, PHASE_CHOICES, "phase")
    if args.output:
        check_output(args.output, "file", args.runs, "--output")
    runs = load_runs(args.runs, force=args.force)
    agg = compare_frame(runs.rows, runs.names, args.energy)
    if agg.empty:
        raise UserError(f"{', '.join(args.runs)}: no finished cells to compare")
    absent = [m for m in metrics or [] if f"{m}_mean" not in agg.columns or agg[f"{m}_mean"].isna().all()]
    if absent:
        raise UserError(f"--metric {', '.join(absent)}: these runs hold no {', '.join(absent)} (accuracy and mae "
                        "score image-question runs); a text run's metrics are loss, bpc and ppl")
    text = render(agg, args.format, metrics, phases, args.view, args.amortise_training)
    lines = [one_line(ln) for ln in run_total_lines(runs) + claim_lines(runs)]  # run labels are folder names
    if args.format in ("table", "markdown"):
        text += "\n" + "".join(f"- {md_escape(ln)}\n" if args.format == "markdown" else f"{ln}\n" for ln in lines)
    elif args.format == "latex":
        text += "".join(f"% {ln}\n" for ln in lines)
    else:  # csv stays a table; the run totals go to standard error
        for ln in lines:
            print(ln, file=sys.stderr)
    _write(text, args.output)
    return 0


def run_total_lines(runs) -> list[str]:
    """Per run: the whole run's energy and the share its phases cover (accounting.share_line)."""
    from ecobench.accounting import run_total, share_line
    from ecobench.store import CELLS, read_cells

    return [f"{name}: {share_line(run_total(runs.manifests[name], read_cells(path / CELLS)))}"
            for name, path in runs.paths.items()]


def _cmd_statement(args: argparse.Namespace) -> int:
    from ecobench.report import standards
    from ecobench.report.statement import statement

    if args.output:
        check_output(args.output, "file", [args.run], "--output")
    fields = args.format in standards.FORMATS  # sci, ai-act: a standard's fields; else the paragraph
    _write(standards.standard(args.run, args.format) if fields else statement(args.run, args.format), args.output)
    return 0


def _cmd_claims(args: argparse.Namespace) -> int:
    from ecobench.claims.folder import judge_folder
    from ecobench.claims.render import render

    if args.output:
        check_output(args.output, "file", [args.run], "--output")
    verdicts = judge_folder(args.run, args.suite, args.force)
    if not verdicts:
        raise UserError(f"{args.run}: its suite states no claims (add `claims:` to the suite and pass it with --suite)")
    _write(render(verdicts, args.format, f"claims of {Path(args.run).name}"), args.output)
    return 1 if args.strict and any(v.verdict != "holds" for v in verdicts) else 0


def claim_lines(runs) -> list[str]:
    """Per run whose suite states claims: its verdict lines (compare prints them under its table)."""
    from ecobench.claims.folder import judge_loaded
    from ecobench.claims.judge import headline
    from ecobench.claims.render import lines

    out = []
    for name in runs.names:
        verdicts = judge_loaded(runs.manifests[name], runs.rows[runs.rows["run"] == name], name)
        if verdicts:
            out += [f"claims of {name}: {headline(verdicts)} (paired by seed, Holm across the claims)",
                    *lines(verdicts, says=False)]
    return out


def _ratio(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        ratio = float(text)
    except ValueError:
        raise UserError(f"--ratio {text!r}: expected a number such as 0.5") from None
    if not 0 <= ratio < 1:
        raise UserError(f"--ratio {text!r}: a target ratio is in [0, 1), such as 0.5")
    return ratio


def _cmd_plot(args: argparse.Namespace) -> int:
    from ecobench.report.formats import parse_list
    from ecobench.report.plots import FIG_FORMATS, FIGURES, render_all
    from ecobench.report.runs import load_runs

    formats = tuple(parse_list(args.format, FIG_FORMATS, "figure format") or FIG_FORMATS)
    ratio = _ratio(args.ratio)
    out = check_output(args.out, "dir", args.runs, "--out", tuple(f"{s}.{f}" for s in FIGURES for f in formats))
    runs = load_runs(args.runs, force=args.force)
    written, skipped = render_all(runs.rows, out, args.width, formats, ratio, args.method, args.energy)
    for p in written:
        print(p)
    for stem, why in skipped.items():
        print(f"{stem}: skipped: {why}", file=sys.stderr)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from ecobench.report.html import write_report
    from ecobench.report.runs import load_runs

    out = check_output(args.out, "file", args.runs, "--out")
    runs = load_runs(args.runs, force=args.force)
    out = write_report(runs, out, args.width, ["ecobench", *sys.argv[1:]], args.energy)
    print(out)
    return 0


def add_report_commands(sub: argparse._SubParsersAction) -> None:
    """Add compare, statement, plot and report to the `ecobench` parser."""
    sp = sub.add_parser("compare", help="one table over seeds: loss, deltas vs dense, sparsity, footprint per phase")
    _runs_args(sp)
    sp.add_argument("--format", choices=("table", "markdown", "csv", "latex"), default="table")
    sp.add_argument("--metric", action="append", metavar="NAME",
                    help="quality metric(s) to show: loss, bpc, ppl, accuracy, mae (comma list or repeat; default loss, and accuracy and mae where the runs hold them)")
    sp.add_argument("--phase", action="append", metavar="NAME",
                    help=f"footprint columns to show: {', '.join(PHASE_CHOICES)} (default: every phase present "
                         "and total)")
    sp.add_argument("--view", choices=("default", "full", "inference", "lifecycle"), default="default",
                    help="default: the table a paper prints (160 columns: quality, deltas, sparsity, structure, "
                         "headline ×dense ratios, anchored energy per 1k tokens); full: every column (per-phase "
                         "energy, carbon, water); inference: every measured workload (prefill/decode per batch size, "
                         "tokens/s, FLOPs); lifecycle: one-time cost against per-token saving -> break-even tokens")
    sp.add_argument("--amortise-training", action="store_true",
                    help="lifecycle: add each cell's share of its seed's dense training to its one-time cost")
    sp.add_argument("--output", "-o", metavar="FILE", help="write here instead of standard output")
    sp.set_defaults(func=_cmd_compare)

    sp = sub.add_parser("statement", help="the impact paragraph for a paper's appendix, every number from the run")
    sp.add_argument("run", metavar="RUN", help="results folder written by `ecobench run`")
    sp.add_argument("--format", choices=("text", "markdown", "latex", "sci", "ai-act"), default="text",
                    help="the paragraph (text, markdown, latex), or a standard's fields: sci (Software Carbon "
                         "Intensity, ISO/IEC 21031) or ai-act (EU AI Act Annex XI energy and compute)")
    sp.add_argument("--output", "-o", metavar="FILE", help="write here instead of standard output")
    sp.set_defaults(func=_cmd_statement)

    sp = sub.add_parser("claims", help="the verdict on each claim of the suite (holds, contradicted, inconclusive), "
                        "paired by seed with Holm's correction")
    sp.add_argument("run", metavar="RUN", help="results folder written by `ecobench run`")
    sp.add_argument("--format", choices=("table", "markdown", "latex", "json"), default="table")
    sp.add_argument("--suite", metavar="FILE", help="judge the claims of this suite file (the same experiment; only "
                    "`claims:` may differ) instead of those the run was started with")
    sp.add_argument("--strict", action="store_true", help="exit 1 when any claim does not hold (for a paper's CI); "
                    "otherwise the exit status is 0 whatever the verdicts")
    sp.add_argument("--force", action="store_true", help="judge rows of another suite too (with a warning)")
    sp.add_argument("--output", "-o", metavar="FILE", help="write here instead of standard output")
    sp.set_defaults(func=_cmd_claims)

    sp = sub.add_parser("plot", help="the paper figures as PDF, SVG and 300-dpi PNG")
    _runs_args(sp)
    sp.add_argument("--out", required=True, metavar="DIR", help="folder for the figure files")
    sp.add_argument("--width", choices=("one", "two"), default="two", help="one column (3.5 in) or two (7 in)")
    sp.add_argument("--format", action="append", metavar="EXT", help="pdf, svg, png (default: all three)")
    sp.add_argument("--ratio", help="target ratio for figures 3 and 4 (default: the middle ratio present)")
    sp.add_argument("--method", help="method label for figure 4 (default: trajectory, else the first)")
    sp.set_defaults(func=_cmd_plot)

    sp = sub.add_parser("report", help="one self-contained HTML page: summary, table, figures, manifest")
    _runs_args(sp)
    sp.add_argument("--out", required=True, metavar="FILE", help="the HTML file to write")
    sp.add_argument("--width", choices=("one", "two"), default="two", help="figure width (default two columns)")
    sp.set_defaults(func=_cmd_report)
