"""The local executor: every dense model and cell in this process, one after another, measured by the driver's own
meters. The budget is checked before each cell; a busy machine under `footprint.on_contention: stop` ends the
sweep cleanly ('contention'), the cell it was measuring left to the resume."""

from __future__ import annotations

from typing import Any

from ecobench import cell as cells
from ecobench import signals
from ecobench.config.schema import Suite
from ecobench.dense import MODEL_FILE, ensure_dense
from ecobench.errors import MeasurementStopped, UserError
from ecobench.executors.base import ExecutorOptions, SweepJob, register, say_kept


class LocalExecutor:
    name = "local"

    def __init__(self, options: ExecutorOptions):
        if options.address is not None or options.shared_dir is not None:
            raise UserError("--address and --shared-dir are options of --executor ray")

    def open(self, suite: Suite) -> dict[str, Any]:
        return {"name": self.name}

    def run(self, job: SweepJob) -> str:
        suite, store = job.suite, job.store
        for seed in suite.seeds:
            mine = [c for c in job.todo if c.seed == seed]
            if not mine:
                continue
            dense_dir = store.dense_dir(seed)
            job.status(f"seed {seed}: dense training")
            dense = ensure_dense(suite, seed, dense_dir, job.monitor, job.progress)
            dense_sha = (dense.get("sha256") or {}).get(MODEL_FILE)
            say_kept(store.finished(), seed, dense_sha)
            for cell in mine:
                signals.check()
                if job.over_budget(0.0):
                    return "budget"
                job.status(cell.key)
                try:
                    rec = cells.run_cell(suite, cell, dense_dir, dense, job.monitor, job.progress, job.repeats)
                except MeasurementStopped as err:  # footprint.on_contention: stop; the cell is not recorded
                    job.notes["stopped"] = str(err)
                    return "contention"
                job.emit(rec.model_copy(update={"dense_sha256": dense_sha}))
        return "complete"

    def account(self, session: dict[str, Any]) -> dict[str, Any]:
        return session  # every window was the driver's own: its run window holds them all

    def close(self) -> None:
        pass


register("local", LocalExecutor)
