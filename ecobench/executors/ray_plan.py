"""What each Ray task holds and how the session's energy adds up over tasks: plain functions of the suite and the
cluster's resources (no Ray import), so they are tested without a cluster."""

from __future__ import annotations

from typing import Any

from ecobench.config.schema import Suite

CPU_METER = "ecobench_cpu_meter"  # custom resource: one per node, held by the one measured task on that node's CPU


def task_resources(suite: Suite, cluster: dict[str, float], node_cpus: list[float]) -> dict[str, Any]:
    """The Ray options of one measured task, so that no two measured tasks share a measured device.

    GPU (run.device cuda*, or auto on a cluster with GPUs): one GPU each (NVML measures that GPU). CPU: the node's
    CPU meter when the cluster registers `ecobench_cpu_meter`; otherwise every CPU of the largest node, which no
    other task can share (smaller nodes then sit idle: register the meter to use them)."""
    threads = suite.train.threads or 1
    device = suite.run.device
    if device.startswith("cuda") or (device == "auto" and cluster.get("GPU", 0) > 0):
        return {"num_gpus": 1, "num_cpus": threads}
    if cluster.get(CPU_METER, 0) > 0:
        return {"num_cpus": threads, "resources": {CPU_METER: 1}}
    return {"num_cpus": max(node_cpus, default=1)}


def remote_kw(resources: dict[str, Any]) -> dict[str, Any]:
    """What `ray.remote(...)` itself must be given: max_calls=1 for a GPU task (a fresh worker per task). Ray drops
    max_calls from `.options()`, and sets it to 1 only when num_gpus is given to `ray.remote`, not to `.options()`."""
    return {"max_calls": 1} if resources.get("num_gpus") else {}


def task_device(setting: str, gpu_ids: list[Any]) -> str:
    """run.device as a task sees it: a task holding a GPU computes on that GPU, which Ray exposes to its worker as
    CUDA device 0 (CUDA_VISIBLE_DEVICES), whatever index the suite names (cuda:N numbers the node's GPUs, not the
    task's)."""
    if gpu_ids and (setting == "auto" or setting.startswith("cuda")):
        return "cuda:0"
    return setting


def accounting_note(resources: dict[str, Any]) -> str:
    """How energy is attributed on this cluster (recorded in the manifest, said in the README)."""
    held = ("one GPU each, in a fresh worker per task; NVML measures that GPU, the node's CPU meter its CPU share"
            if "num_gpus" in resources
            else "its node's CPU meter (" + (f"resource {CPU_METER}" if "resources" in resources else
                                              "every CPU of the node") + "), so no two measured tasks run on one node")
    return (f"each task holds {held}; a task's rows are measured by its own worker's meters (RAPL where readable, "
            "else codecarbon's estimate, with the attribution in each row); the session footprint is the driver's "
            "run window plus every task's window (tasks.rule). The driver does no GPU work and meters its CPU only, "
            "without Ray's processes under it; a node that runs the driver and tasks with machine-wide CPU attribution "
            "(or RAPL) counts that CPU energy in both, process attribution (the default) does not")


TASKS_RULE = ("the session's footprint is the driver's run window plus every task's window on its worker (loading "
              "data and models, the phases, the checkpoint's bytes); not counted: each worker process's start, meter "
              "probe, idle baseline and warm-up, and tasks cut short (a killed worker, a cancelled task)")


def add_tasks(session: dict[str, Any], tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """The driver's session footprint plus its tasks' footprints, per field (a field unknown in any is unknown);
    the session's wall time stays the driver's."""
    from ecobench.accounting import TOTAL_FIELDS

    out = dict(session)
    summed: dict[str, Any] = {}
    for k in TOTAL_FIELDS:
        summed[k] = sum(t[k] for t in tasks) if all(t.get(k) is not None for t in tasks) else None
        if k != "wall_s" and tasks:
            out[k] = None if session.get(k) is None or summed[k] is None else session[k] + summed[k]
    out["sources"] = {c: "+".join(dict.fromkeys([v, *(t["sources"][c] for t in tasks)]))
                      for c, v in session["sources"].items()}
    out["tasks"] = {"count": len(tasks), **summed, "rule": TASKS_RULE}
    return out
