"""A partial evaluation samples the whole validation split, the same windows every time."""

from __future__ import annotations

import torch

from ecobench.data.dataset import TokenData
from ecobench.data.tokenizer import ByteTokenizer


def _data(n_val: int, context: int = 10) -> TokenData:
    return TokenData(train=torch.zeros(100, dtype=torch.long), val=torch.arange(n_val), tokenizer=ByteTokenizer(),
                     context=context, chars_per_token=1.0, corpus_sha256="", description="")


def test_partial_evaluation_spreads_over_the_split() -> None:
    data = _data(1001)  # 100 windows of 10 tokens
    batches = list(data.val_batches(batch_size=4, max_batches=2))  # 8 of 100 windows
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    starts = [int(row[0]) // 10 for row in x]
    assert starts == [0, 12, 25, 37, 50, 62, 75, 87]  # evenly strided, not windows 0..7
    assert torch.equal(y, x + 1)  # targets are the next tokens of the same windows
    assert all(int(row[0]) % 10 == 0 for row in x)  # whole, non-overlapping windows
    again = torch.cat([b[0] for b in data.val_batches(4, 2)])
    assert torch.equal(x, again)


def test_all_and_too_many_read_every_window_once_in_order() -> None:
    data = _data(1001)
    for max_batches in (None, 30):
        x = torch.cat([b[0] for b in data.val_batches(8, max_batches)])
        assert [int(r[0]) // 10 for r in x] == list(range(100))
    assert data.val_window_starts(3) == [0, 33, 66]
