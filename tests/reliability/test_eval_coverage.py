"""Every cell says how much of the validation split its loss was measured on."""

from __future__ import annotations

from pathlib import Path

from .conftest import cell_lines


def test_cells_record_evaluated_and_available_tokens(tiny_run: Path) -> None:
    rows = cell_lines(tiny_run)
    assert rows
    for rec in rows:
        m = rec["metrics"]
        assert m["eval_tokens"] == 2 * 16 * 32  # eval.batches x eval.batch_size x context (TINY_SETS)
        assert m["eval_tokens_available"] > m["eval_tokens"]
        assert m["eval_tokens_available"] % 32 == 0  # whole windows of the validation split
    assert len({r["metrics"]["eval_tokens_available"] for r in rows}) == 1
