"""Command line: run, validate, doctor, compare, statement, claims, plot, report.

A user error prints one line per problem and exits 2; a failed cell makes `run` exit 1; `run` stopped by
footprint.budget exits 3 (resumable); a bug shows its traceback.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
import threading
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported anywhere

from ecobench import __version__, signals
from ecobench.errors import UserError
from ecobench.report.cli import add_report_commands


def _cmd_validate(args: argparse.Namespace) -> int:
    from ecobench.suites import load_suite

    sf = load_suite(args.suite, args.set)  # before importing torch: a malformed suite is refused at once
    from ecobench.grid import describe_grid
    from ecobench.runner import check_suite

    data = check_suite(sf, fetch=False)  # validate never downloads: an uncached URL is described, not fetched
    print(describe_grid(sf, data))
    if data is not None and not sf.suite.model.pretrained and sf.suite.prune.structures:
        from ecobench.kernels import validate_line
        from ecobench.runner import prepare_device

        print(validate_line(sf.suite, data.vocab_size, data.context, prepare_device(sf)))
    if args.forecast:
        return _forecast(sf, data)
    return 0


def _forecast(sf, data) -> int:
    """The calibration probe on this machine, then the whole suite's forecast; exit 2 if it exceeds the budget."""
    from ecobench.accounting import StartUp
    from ecobench.footprint import Monitor
    from ecobench.forecast import RANGE_RULE, budget_problem, calibrate, make_forecast
    from ecobench.sweep import expand

    suite = sf.suite
    if suite.train.threads:
        import torch

        torch.set_num_threads(suite.train.threads)
    from ecobench.runner import prepare_device

    monitor = Monitor(suite.footprint, device=str(prepare_device(sf)))
    monitor.start(measure_idle=False)
    try:
        cal, probe = calibrate(suite, data, monitor)
    finally:
        monitor.close()
    fc = make_forecast(suite, data, cal, probe, monitor.site, expand(suite), list(suite.seeds), StartUp.now(), False)
    print(fc.line())
    print("  parts (s): " + ", ".join(f"{k} {v:.1f}" for k, v in fc.parts_s.items()))
    print(f"  probe: {len(cal.step_s)} training steps, median {1000 * cal.step_median_s:.1f} ms; eval batch "
          f"{1000 * cal.eval_batch_s:.1f} ms; mean power " + ", ".join(
              f"{c.upper()} {w:.3g} W" for c, w in cal.power_w.items() if w is not None)
          + f" ({monitor.summary_line()})")
    print(f"  range: {RANGE_RULE}")
    problem = budget_problem(suite, fc)
    if problem:
        print(f"error: {sf.where('footprint.budget')}: {problem}", file=sys.stderr)
        return 2
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from ecobench.suites import load_suite

    overrides = [*args.set, f"run.device={args.device}"] if args.device else args.set
    sf = load_suite(args.suite, overrides)  # before importing torch: a malformed suite is refused at once
    from ecobench.executors import ExecutorOptions
    from ecobench.runner import run_suite

    argv = ["ecobench", *sys.argv[1:]]
    options = ExecutorOptions(address=args.address, shared_dir=Path(args.shared_dir) if args.shared_dir else None)
    return run_suite(sf, Path(args.out) if args.out else None, argv, progress=not args.quiet, new=args.new,
                     executor=args.executor, options=options)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from ecobench.footprint.doctor import doctor_report

    if args.kernels:
        return _kernels(args)
    if args.suite is None:
        print(doctor_report())
        return 0
    from ecobench.suites import load_suite

    sf = load_suite(args.suite, args.set)
    print(doctor_report(site=sf.suite.footprint.site, site_label=f"footprint.site of {args.suite}"))
    return 0


def _kernels(args: argparse.Namespace) -> int:
    """`doctor --kernels SUITE`: the suite's layer shapes through every execution this machine has (ecobench/kernels)."""
    import time

    from ecobench.errors import UserError
    from ecobench.suites import load_suite

    if args.suite is None:
        raise UserError("doctor --kernels needs a suite: ecobench doctor --kernels suites/llm.yaml")
    sf = load_suite(args.suite, args.set)
    if sf.suite.model.pretrained:
        raise UserError(f"{args.suite}: doctor --kernels builds the model from its config; a pretrained model's "
                        "shapes are not read without loading it (not supported yet)")
    from ecobench import kernels
    from ecobench.runner import check_suite, prepare_device

    data = check_suite(sf, fetch=False)
    if data is None:
        raise UserError(f"{args.suite}: the corpus is not cached yet (its vocabulary sets the shapes); run validate "
                        "or run once with network")
    device = prepare_device(sf)
    t0 = time.perf_counter()
    rows = kernels.measure(sf.suite, data.vocab_size, data.context, device)
    lines = kernels.verdicts(sf.suite, rows)
    print(f"kernels of {args.suite} on {device} (unstructured zeros at {kernels.sparsest(sf.suite):.0%}; structured: "
          f"that share of output neurons removed; {kernels.PAIRS} A/B pairs each, Holm over the table"
          + ("; one thread, CPU seconds per call" if device.type == "cpu" else "") + "):")
    print(kernels.table(rows))
    for structure, line in lines.items():
        print(f"{structure}: {line}")
    print("energy: " + ("follows time on this machine (CPU power is estimated from CPU time; no RAPL)" if device.type
                        == "cpu" else "not measured here: NVML needs windows of seconds; the sweep measures it"))
    kernels.save(kernels.machine_key(sf.suite, data.vocab_size, data.context, device), rows, lines)
    print(f"({time.perf_counter() - t0:.1f} s; cached for `ecobench validate`)")
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
    sp.add_argument("--device", help="where to compute: auto, cpu, cuda or cuda:N (same as --set run.device=...)")
    sp.add_argument("--executor", default="local", choices=["local", "ray"],
                    help="where dense models and cells run: this process (default), or tasks on a Ray cluster "
                    "(pip install 'ecobench[ray]')")
    sp.add_argument("--address", help="--executor ray: the cluster to join ('auto', HOST:PORT); default: start one "
                    "on this machine")
    sp.add_argument("--shared-dir", help="--executor ray: move dense checkpoints through this path, seen by every "
                    "node (default: Ray's object store)")
    sp.set_defaults(func=_cmd_run)

    sp = sub.add_parser("validate", help="check a suite and print the resolved grid without running it")
    suite_args(sp)
    sp.add_argument("--forecast", action="store_true",
                    help="also run a calibration probe here (seconds) and forecast time, energy, carbon and water")
    sp.set_defaults(func=_cmd_validate)

    sp = sub.add_parser("doctor", help="what this machine can measure, how to fix what it cannot, and a suite's site")
    sp.add_argument("suite", nargs="?", help="suite YAML file: also print the site factors (EWIF) it resolves to")
    sp.add_argument("--kernels", action="store_true", help="time the suite's layer shapes through every execution "
                    "this machine has (dense, CSR/BSR, 2:4 on CUDA, smaller-dense), paired, in under a minute")
    sp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a suite field")
    sp.set_defaults(func=_cmd_doctor)

    add_report_commands(sub)
    return p


# errors of the environment, not of ecobench: one line each (a disk that fills mid-run, a read-only or looping path)
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ELOOP,
                      errno.ENAMETOOLONG, errno.EMFILE, errno.ENFILE, errno.EIO}


def _environment_line(err: OSError) -> str:
    where = f"{err.filename}: " if err.filename else ""
    line = f"{where}{err.strerror or err}"
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        line += ("; free some space and re-run the same command: a run resumes from its last whole row (rows and "
                 "checkpoints are written whole or not at all)")
    return line


def _lenient_streams() -> None:
    """A terminal or pipe that cannot encode 'Δ' or '±' (LC_ALL=C) gets \\u escapes instead of a traceback."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass  # not a text stream we may reconfigure (a test's capture): nothing to do


def _quiet_stdout() -> None:
    """stdout onto /dev/null, so that the interpreter's last flush of a closed pipe does not raise again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (AttributeError, ValueError, OSError):
        pass  # not a file descriptor (a test's capture): nothing will flush into a closed pipe


def main(argv: list[str] | None = None) -> int:
    _lenient_streams()
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signals.install() if main_thread else None
    stdin, sys.stdin = sys.stdin, open(os.devnull)  # nothing may wait on a prompt (transformers')
    try:
        rc = args.func(args)
        signals.check()  # a SIGTERM whose raise a finalizer swallowed still ends the command as terminated
    except UserError as err:
        for line in err.problems:
            print(f"error: {line}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `ecobench compare RUN | head`: the reader is gone, which is not an error of ours
        _quiet_stdout()
        return 141  # as a command ended by SIGPIPE (128 + 13)
    except OSError as err:
        if err.errno not in ENVIRONMENT_ERRNOS:
            raise
        print(f"error: {_environment_line(err)}", file=sys.stderr)
        return 2
    except RuntimeError as err:  # Path.resolve() before Python 3.13 says ELOOP so
        if not str(err).startswith("Symlink loop from "):
            raise
        print(f"error: {str(err).removeprefix('Symlink loop from ')}: a symlink loop (the path leads back to "
              "itself)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    except signals.Terminated:
        print("terminated; re-run the same command to resume", file=sys.stderr)
        return 143
    finally:
        sys.stdin.close()
        sys.stdin = stdin
        if main_thread:
            signals.restore(previous)
    if args.command == "run" and argv is None:
        _exit_now(rc)
    return rc


def _exit_now(rc: int) -> None:
    """End `ecobench run` from the command line without tearing down torch and the rest (seconds of CPU that
    change no result, after the run window closed and outside it). Everything is written, closed and flushed."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


if __name__ == "__main__":
    sys.exit(main())
