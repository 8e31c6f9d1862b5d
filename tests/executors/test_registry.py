"""The executor registry and the command line's executor options: each misuse is one line and exit 2, before any
work."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecobench.errors import UserError
from ecobench.executors import REGISTRY, ExecutorOptions, make_executor
from tests.reliability.conftest import run_inprocess, tiny_args


def test_both_executors_are_registered_and_an_unknown_one_is_named() -> None:
    assert {"local", "ray"} <= set(REGISTRY)
    with pytest.raises(UserError, match=r"^--executor: unknown executor 'slurm'; one of local, ray"):
        make_executor("slurm")


def test_ray_options_with_the_local_executor_are_one_line(tmp_path: Path, capsys) -> None:
    rc, _, err = run_inprocess([*tiny_args(tmp_path / "run"), "--shared-dir", str(tmp_path / "s")], capsys)
    assert rc == 2
    assert err == "error: --address and --shared-dir are options of --executor ray\n"
    assert not (tmp_path / "run").exists()


def test_an_address_nothing_answers_is_one_line_not_minutes_of_retries(tmp_path: Path, capsys) -> None:
    ray = pytest.importorskip("ray")
    assert not ray.is_initialized()  # else open() would use that cluster, not the address
    ex = make_executor("ray", ExecutorOptions(address="127.0.0.1:1"))
    with pytest.raises(UserError, match=r"^--address 127\.0\.0\.1:1: cannot connect to Ray: nothing answers at "
                                        r"127\.0\.0\.1:1 .*ray start --head"):
        ex.open(None)  # refused before the suite is read
    ex.close()
