"""Run in a fresh process by test_first_cell.py: the same dense model measured as several cells, the way a run does
it (process warm-up, then each cell's paired windows). Prints each cell's first measured window per workload (CPU
seconds of this process: a proxy that a busy neighbour inflates far less than wall time)."""

from __future__ import annotations

import json
import sys

import torch

from ecobench.data.dataset import load_data
from ecobench.footprint import Monitor
from ecobench.measure import eval_workload, inference_workloads, measure_paired, warm_up_process
from ecobench.models.build import build_model
from ecobench.suites import load_suite

torch.set_num_threads(1)
suite = load_suite(sys.argv[1], ["eval.inference_batch_sizes=[1]", "footprint.idle_seconds=0"]).suite
data = load_data(suite.data, suite.model)
model = build_model(suite.model, data.vocab_size, data.context, 0)
twin = build_model(suite.model, data.vocab_size, data.context, 0)
monitor = Monitor(suite.footprint)
monitor.start()
warm_up_process(suite, data, model)
first: dict[str, list[float]] = {}
for cell in range(4):
    workloads = [eval_workload(suite, data), *inference_workloads(suite, data)]
    for row in measure_paired(monitor, f"cell{cell}", model, twin, workloads, repeats=2):
        first.setdefault(row["phase"], []).append(row["cpu_process_s_repeats"][0])
monitor.close()
print(json.dumps(first))
