"""Runs in every Ray worker of the test cluster (runtime_env worker_process_setup_hook): when the test asks for it
(a request file naming a cell key), the worker running that cell kills its own process on the first attempt only,
as a node losing a worker would; a marker file records that it happened."""

from __future__ import annotations

import os
from pathlib import Path

KILL_REQUEST = "ECOBENCH_TEST_KILL_REQUEST"  # env var: path of the request file


def install() -> None:
    request = os.environ.get(KILL_REQUEST)
    if not request:
        return
    from ecobench import cell

    real = cell.run_cell

    def run_cell(suite, c, *args, **kwargs):
        req = Path(request)
        killed = req.with_suffix(".killed")
        if req.is_file() and req.read_text().strip() == c.key and not killed.exists():
            killed.write_text(str(os.getpid()))
            os._exit(1)  # the worker process dies mid-cell, nothing returned
        return real(suite, c, *args, **kwargs)

    cell.run_cell = run_cell
