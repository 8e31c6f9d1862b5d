"""What `ecobench validate` prints: a suite's resolved grid (cells, model size, calibration, measurement), counted on
the meta device without training or measuring anything."""

from __future__ import annotations

import torch

from ecobench.config.load import SuiteFile
from ecobench.data.corpus import pending_fetch
from ecobench.data.dataset import TokenData
from ecobench.models.build import build_model, count_params
from ecobench.prune.methods import REGISTRY
from ecobench.prune.targets import describe_targets, select_targets
from ecobench.sweep import expand


def describe_grid(sf: SuiteFile, data: TokenData | None) -> str:
    """What `validate` prints: the resolved grid without running it (`data` None: the corpus is fetched at run
    time, so what depends on it is said to wait)."""
    suite = sf.suite
    cells = expand(suite)
    pruned = [c for c in cells if not c.is_dense and not c.is_control]
    controls = [c for c in cells if c.is_control]
    model = None
    if data is not None and not suite.model.pretrained:
        with torch.device("meta"):
            model = build_model(suite.model, data.vocab_size, data.context, 0)
    lines = [f"suite {suite.name!r} ({sf.source}) is valid"]
    if data is not None:
        split = (f"{len(data.train):,} train / {len(data.val):,} validation questions about {data.train_images} / "
                 f"{data.val_images} images; {data.prompt_len}-token prompts, sequences of {data.context}"
                 if hasattr(data, "val_images") else
                 f"{len(data.train):,} train / {len(data.val):,} validation tokens; context {data.context}")
        lines.append(f"data: {data.description}; tokenizer {data.tokenizer.identity()} (vocab {data.vocab_size}); "
                     f"{split}")
    else:
        lines.append(f"data: {pending_fetch(suite.data)}; the data checks (context, vocabulary, parameters) "
                     "run then")
    if data is None and not suite.model.pretrained:
        lines.append(f"model: {suite.model.label} (parameters depend on the vocabulary, known once the data is fetched)")
    elif model is not None:
        lines.append(f"model: {suite.model.label}, {count_params(model):,} parameters; "
                     f"pruned: {describe_targets(select_targets(model, suite.prune.targets))}")
    else:
        lines.append(f"model: pretrained from {suite.model.pretrained}")
    lines += [
        "methods: " + "; ".join(f"{m.display} ({REGISTRY[m.name].summary})" for m in suite.prune.methods),
    ]
    calibrated = [m.display for m in suite.prune.methods if REGISTRY[m.name].needs & {"calibration", "gradients"}]
    if calibrated:
        cal = suite.prune.calibration
        lines.append(f"calibration: {cal.batches} x {cal.batch_size} windows of {data.context} tokens "
                     f"({cal.batches * cal.batch_size * data.context:,} training tokens, fixed draw) for "
                     f"{', '.join(calibrated)}")
    lines += [
        f"dense models: {len(suite.seeds)} (one per seed: {suite.seeds}), {suite.train.steps} steps each",
        f"cells: {len(cells)} = {len(suite.seeds)} dense references + "
        + (f"{len(controls)} dense+recover controls + " if controls else "")
        + f"{len(pruned)} pruned "
        f"({len(suite.prune.methods)} methods x {len(suite.prune.scopes)} scopes x ratios/multipliers"
        + (f"; structures {', '.join(suite.prune.structures)}: N:M one cell per method at 1 - N/M, structured "
           "per ratio at layer scope" if suite.prune.structures != ["unstructured"] else "") + ")",
        f"evaluation: {suite.eval.execution} execution"
        + (" (masked weights through a sparse kernel where this machine has one)" if suite.eval.execution == "sparse"
           else "")
        + (f"; also on the validation split of {', '.join(suite.eval.domains)} (eval.domains; "
           f"{suite.eval.domain_batches or suite.eval.batches} batches, not a measured phase)"
           if suite.eval.domains else ""),
        f"estimated optimizer steps: "
        f"{len(suite.seeds) * suite.train.steps + (len(pruned) + len(controls)) * suite.prune.recover_steps:,} "
        f"(train {suite.train.steps} x {len(suite.seeds)}, recover {suite.prune.recover_steps} x "
        f"{len(pruned) + len(controls)})",
        f"compute: run.device {suite.run.device}, train.precision {suite.train.precision}"
        + (", torch.compile" if suite.train.compile else "") + (", deterministic kernels" if suite.run.deterministic
                                                                 else ""),
        "footprint: eval" + (f", prefill and decode (batch {suite.eval.inference_batch_sizes})" if suite.eval.inference_tokens
                              else " (no prefill or decode: eval.inference_tokens is 0)")
        + (f" measured as many times as footprint.detect {suite.footprint.detect:g} needs" if suite.footprint.detect
           else f" measured {suite.footprint.repeats} times") + " per cell beside the seed's dense model (both warmed, "
        "ABBA order; each window repeats its workload to the meters' minimum window)",
    ]
    return "\n".join(lines)
