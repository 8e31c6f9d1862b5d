"""gpu-check's short-window check against a fake NVML library (scripts/gpu-check.sh, ecobench/gpucheck.py)."""

from __future__ import annotations

import pytest


def test_short_windows_read_by_the_chosen_channel_and_the_counter(fake_nvml, clock) -> None:
    """40 bursts of 50 ms on a fake GPU drawing 200 W: ecobench's window for a burst that short reads power samples
    (below min_counter_window_s), the counter is read at the same edges; both are reported, summed. A 50 ms window is
    far below the 2 s a GPU window needs (protocol v2), so its source says `unreliable:short-window`, never measured."""
    import pynvml

    from ecobench.footprint import FootprintConfig, Monitor
    from ecobench.gpucheck import shortcheck
    from tests.footprint.conftest import FakeGpu

    fake_nvml([FakeGpu("GPU-aaaa", power_w=200.0)], clock)
    monitor = Monitor(FootprintConfig(cpu="none", ram="none", idle_seconds=0), device="cuda:0", clock=clock)
    monitor.start()
    try:
        result = shortcheck(pynvml, 0, monitor, lambda: clock.advance(0.05), 40, 0.05, sleep=clock.advance)
    finally:
        monitor.close()
    assert result.bursts == 40 and result.source == "unreliable:short-window"
    assert result.counter_j == pytest.approx(40 * 0.05 * 200.0, rel=1e-3)  # the counter counts whole mJ
    assert result.chosen_j == pytest.approx(result.counter_j, rel=1e-3) and "40 bursts of 50 ms" in result.line()
