"""Executors: where a sweep's dense models and cells run, in this process (`local`) or as tasks on a Ray cluster
(`ray`). One module each; adding one touches one module and its test. Whatever runs the work, the driver
(ecobench/runner.py) stays the only writer of the results folder: an executor hands each finished CellRecord back
through `SweepJob.emit`, so resume works the same with every executor, and across them."""

from ecobench.executors import local, ray  # noqa: F401 (registration)
from ecobench.executors.base import (
    REGISTRY,
    Executor,
    ExecutorOptions,
    SweepJob,
    driver_footprint,
    make_executor,
    register,
)

__all__ = ["REGISTRY", "Executor", "ExecutorOptions", "SweepJob", "driver_footprint", "make_executor", "register"]
