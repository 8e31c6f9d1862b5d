"""Host->device copies (issue 28, item 6): on a GPU the token stream is copied to the device once and batches are
gathered there; the host sends only the windows' start offsets. Tested on the CPU with the device path forced on,
and on `meta` (a device that is not the host), where a batch built on the host would show as a host tensor."""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

from ecobench.config.schema import DataConfig, ModelConfig
from ecobench.data.dataset import load_data
from ecobench.train import _STREAMS, batch_source, val_batches_on

DATA = DataConfig(corpus="shakespeare", context=16, max_chars=20_000)


class HostWindows(TorchFunctionMode):
    """Records every (B, T)-shaped host tensor a torch function makes: a batch built on the host."""

    def __init__(self, shape: tuple[int, int]):
        super().__init__()
        self.shape, self.seen = shape, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor) and out.device.type == "cpu" and tuple(out.shape) == self.shape:
            self.seen += 1
        return out


def test_device_batches_are_the_host_batches_gathered_on_the_device() -> None:
    data = load_data(DATA, ModelConfig())
    host, dev = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    on_host = batch_source(data, torch.device("cpu"), on_device=False)
    on_dev = batch_source(data, torch.device("cpu"), on_device=True)
    for _ in range(5):
        (hx, hy), (dx, dy) = on_host(4, host), on_dev(4, dev)
        assert torch.equal(hx, dx) and torch.equal(hy, dy)  # the same windows, drawn from the same generator
    val_host = list(val_batches_on(data, 3, 4, torch.device("cpu"), on_device=False))
    val_dev = list(val_batches_on(data, 3, 4, torch.device("cpu"), on_device=True))
    assert len(val_host) == len(val_dev) == 4
    assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(val_host, val_dev))


def test_no_batch_is_built_on_the_host_for_a_device_run() -> None:
    """Before, every step stacked (B, T) windows on the host and copied them (pageable) to the GPU."""
    data = load_data(DATA, ModelConfig())
    meta = torch.device("meta")
    draw = batch_source(data, meta)
    gen = torch.Generator().manual_seed(0)
    with HostWindows((4, data.context)) as seen:
        for _ in range(3):
            x, y = draw(4, gen)
            assert x.device == meta and tuple(x.shape) == (4, data.context) and tuple(y.shape) == (4, data.context)
        for x, _ in val_batches_on(data, 4, 2, meta):
            assert x.device == meta
    assert seen.seen == 0
    streams = [k for k in _STREAMS if k[0] == id(data) and k[2] == "meta"]
    assert sorted(k[1] for k in streams) == ["train", "val"]  # each split copied to the device once
