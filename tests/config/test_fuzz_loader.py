"""No input crashes the loader: random bytes, and random mutations and truncations of the shipped suites, each end
in exit 0 or 2 through `validate` and `run` (in-process, `ecobench.cli.main`), with no exception escaping `main`,
every stderr line one `error: ...` problem, and nothing written on exit 2.

`run` on a mutated suite that happens to be valid does not train: the sweep is replaced by a sentinel raised where
the footprint monitor is created, after every pre-run check (suite, data, targets, results folder), so this test
proves the pre-run path only. It is deterministic in CI (hypothesis derandomized, a few hundred examples); set
ECOBENCH_FUZZ_EXAMPLES=N for N random examples per test.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import ecobench.runner
from ecobench.cli import main
from tests.conftest import SUITES

SHIPPED = {p.name: p.read_bytes() for p in sorted(SUITES.glob("*.yaml"))}
EXAMPLES = os.environ.get("ECOBENCH_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(EXAMPLES) if EXAMPLES else 150,
    derandomize=not EXAMPLES,  # CI: the same examples every run
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# fragments that matter to YAML, to the decoder and to the schema
TOKENS = [b"\x00", b"\t", b"\r", b"\r\n", b"\xef\xbb\xbf", b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"&a ", b"*a",
          b"<<: *a", b"!!python/object/apply:os.system ['true']", b"!!binary ", b"- ", b": ", b"? ", b"{", b"}", b"[",
          b"]", b",", b"'", b'"', b"#", b"|\n", b">-\n", b"---\n", b"...\n", b"%YAML 1.1\n", b"-1", b"0", b"1e999",
          b".nan", b".inf", b"null", b"~", b"true", b"99999999999999999999", b"0x1f", b"0o17", b"2024-01-01",
          b"\\u0000", b"\xe2\x80\xa8", b"\xc2\x85", b"all", b"global", b"std"]


class SweepReached(Exception):
    """The run passed every pre-run check and would now set up its meters and train."""


def _never_sweep(*args, **kwargs):
    raise SweepReached


def _mutate(text: bytes, ops: list[tuple]) -> bytes:
    for op, *args in ops:
        at = args[0] % (len(text) + 1) if args and isinstance(args[0], int) else 0
        if op == "flip" and text:
            i = at % len(text)
            text = text[:i] + bytes([args[1]]) + text[i + 1 :]
        elif op == "insert":
            text = text[:at] + args[1] + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + args[1] :]
        elif op == "truncate":
            text = text[:at]
        elif op == "dupline":
            lines = text.splitlines(keepends=True)
            if lines:
                i = at % len(lines)
                text = b"".join(lines[: i + 1] + lines[i:])
        elif op == "crlf":
            text = text.replace(b"\n", b"\r\n")
        elif op == "bom":
            text = b"\xef\xbb\xbf" + text
        elif op == "utf16":
            text = text.decode("utf-8", errors="replace").encode("utf-16")
    return text


POS = st.integers(0, 1 << 16)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("flip"), POS, st.integers(0, 255)),
        st.tuples(st.just("insert"), POS, st.binary(min_size=1, max_size=6)),
        st.tuples(st.just("insert"), POS, st.sampled_from(TOKENS)),
        st.tuples(st.just("delete"), POS, st.integers(1, 40)),
        st.tuples(st.just("truncate"), POS),
        st.tuples(st.just("dupline"), POS),
        st.tuples(st.sampled_from(["crlf", "bom", "utf16"])),
    ),
    min_size=1,
    max_size=4,
)


def _check(content: bytes) -> None:
    """validate and run on `content`: exit 0 or 2, one-line problems, and nothing written on 2."""
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        suite, out = Path(tmp) / "suite.yaml", Path(tmp) / "out"
        suite.write_bytes(content)
        for args in (["validate", str(suite)], ["run", str(suite), "--out", str(out), "-q"]):
            err = io.StringIO()
            try:
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                    rc = main(args)
            except SweepReached:
                rc = 0  # a valid suite: run got past its checks (see the module docstring)
            finally:
                torch.set_num_threads(threads)  # a valid suite may set train.threads
            assert rc in (0, 2), (args[0], rc, err.getvalue())
            event(f"{args[0]} exit {rc}")  # --hypothesis-show-statistics: how many reached the pre-run end
            if rc == 2:
                lines = err.getvalue().splitlines()
                assert lines and all(line.startswith(f"error: {suite}") for line in lines), err.getvalue()
                assert not out.exists(), f"{args[0]} wrote {out} although it refused the suite"
        assert not (Path(tmp) / "results").exists()


@pytest.fixture(autouse=True)
def _no_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ecobench.runner, "Monitor", _never_sweep)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.slow
@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(content: bytes) -> None:
    _check(content)


@pytest.mark.slow
@FUZZ
@given(st.text(max_size=512))
def test_random_text(content: str) -> None:
    _check(content.encode("utf-8", errors="surrogatepass"))


@pytest.mark.slow
@FUZZ
@given(st.sampled_from(sorted(SHIPPED)), OPS)
def test_mutated_shipped_suites(name: str, ops: list[tuple]) -> None:
    _check(_mutate(SHIPPED[name], ops))


ENDINGS = {"as-is": [], "crlf": [("crlf",)], "bom": [("bom",)], "bom-crlf": [("bom",), ("crlf",)]}
# the pretrained suite reads its GGUF checkpoint's tokenizer (7 s each time): every line ending in the slow tier
SLOW_ENDINGS = {"pretrained-llm.yaml"}


@pytest.mark.parametrize(("ops", "name"), [
    pytest.param(ops, name, id=f"{label}-{name}", marks=[pytest.mark.slow] if name in SLOW_ENDINGS else [])
    for label, ops in ENDINGS.items() for name in sorted(SHIPPED)])
def test_shipped_suites_pass_in_any_line_ending(name: str, ops: list[tuple]) -> None:
    """The shipped suites, and the same with Windows line endings or a BOM, are valid (run reaches the sweep)."""
    content = _mutate(SHIPPED[name], ops)
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / name
        suite.write_bytes(content)
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["validate", str(suite)]) == 0
        with pytest.raises(SweepReached):
            main(["run", str(suite), "--out", str(Path(tmp) / "out"), "-q"])
