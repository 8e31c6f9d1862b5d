"""A results folder's claims judged: the suite's own (as its manifest stores it), or those of a suite file of the
same experiment (`--suite`: claims are not part of the fingerprint, so a finished run can be judged on new ones)."""

from __future__ import annotations

from pathlib import Path

from ecobench.claims.checks import claim_problems
from ecobench.claims.judge import Verdict, judge
from ecobench.claims.table import cell_table, suite_of
from ecobench.errors import ResultsError, SuiteError
from ecobench.results import load, load_manifest


def _states_claims(manifest: dict) -> bool:
    suite = manifest.get("suite")
    return isinstance(suite, dict) and bool(suite.get("claims"))


def judge_folder(path: str | Path, suite_file: str | Path | None = None, force: bool = False) -> list[Verdict]:
    """The verdicts of a results folder ([] when its suite states no claims)."""
    path = Path(path)
    manifest = load_manifest(path)
    if suite_file is None and not _states_claims(manifest):
        return []  # nothing to judge; an older folder's suite is not even parsed
    suite = suite_of(manifest, str(path))
    claims = suite.claims
    if suite_file is not None:
        from ecobench.suites import load_suite

        sf = load_suite(suite_file)
        if sf.suite.fingerprint() != manifest.get("suite_fingerprint"):
            raise SuiteError(f"{suite_file}: its suite (fingerprint {sf.suite.fingerprint()}) is not the one that "
                             f"wrote {path} ({manifest.get('suite_fingerprint')}); only `claims:` may differ")
        problems = claim_problems(sf.suite, sf.source, sf.lines)
        if problems:
            raise SuiteError(problems[0], problems)
        claims = sf.suite.claims
    if not claims:
        return []
    rows = load(path, force=force)
    if rows.empty:
        raise ResultsError(f"{path}: no finished cells to judge the claims on")
    return judge(claims, cell_table(suite, rows))


def judge_loaded(manifest: dict, rows, where: str) -> list[Verdict]:
    """The verdicts of a run already loaded (its manifest and its phase rows): for compare, report, statement."""
    if not _states_claims(manifest):
        return []
    suite = suite_of(manifest, where)
    if not suite.claims or rows.empty:
        return []
    return judge(suite.claims, cell_table(suite, rows))
