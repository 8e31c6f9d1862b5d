"""Command line: run, validate, doctor, compare, plot, report.

A user error prints one line per problem and exits 2; a failed cell makes `run` exit 1; a bug shows its traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported anywhere

from ecobench import __version__
from ecobench.errors import UserError
from ecobench.report.cli import add_report_commands


def _cmd_validate(args: argparse.Namespace) -> int:
    from ecobench.config.load import load_suite

    sf = load_suite(args.suite, args.set)  # before importing torch: a malformed suite is refused at once
    from ecobench.runner import check_suite, describe_grid

    data = check_suite(sf, fetch=False)  # validate never downloads: an uncached URL is described, not fetched
    print(describe_grid(sf, data))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from ecobench.config.load import load_suite

    sf = load_suite(args.suite, args.set)  # before importing torch: a malformed suite is refused at once
    from ecobench.runner import run_suite

    argv = ["ecobench", *sys.argv[1:]]
    return run_suite(sf, Path(args.out) if args.out else None, argv, progress=not args.quiet, new=args.new)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from ecobench.footprint.doctor import doctor_report

    if args.suite is None:
        print(doctor_report())
        return 0
    from ecobench.config.load import load_suite

    sf = load_suite(args.suite, args.set)
    print(doctor_report(site=sf.suite.footprint.site, site_label=f"footprint.site of {args.suite}"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ecobench", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"ecobench {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def suite_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("suite", help="suite YAML file")
        sp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a suite field, e.g. --set train.steps=100 (repeatable)")

    sp = sub.add_parser("run", help="run a suite and write a results folder")
    suite_args(sp)
    sp.add_argument("--out", help="results folder (default: results/<suite>-<UTC time>; an existing one is resumed)")
    sp.add_argument("--new", action="store_true", help="start a fresh folder instead of resuming an unfinished one")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sp.set_defaults(func=_cmd_run)

    sp = sub.add_parser("validate", help="check a suite and print the resolved grid without running it")
    suite_args(sp)
    sp.set_defaults(func=_cmd_validate)

    sp = sub.add_parser("doctor", help="what this machine can measure, how to fix what it cannot, and a suite's site")
    sp.add_argument("suite", nargs="?", help="suite YAML file: also print the site factors (EWIF) it resolves to")
    sp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a suite field")
    sp.set_defaults(func=_cmd_doctor)

    add_report_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except UserError as err:
        for line in err.problems:
            print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
