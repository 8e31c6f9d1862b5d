"""Synthetic cell tables whose truth is known: per seed a dense model, its dense+recover control and two methods at
a few ratios; each cell's loss is the seed's level + the planted effect of its group + noise, each cell's paired
log ratio (`log:eval`) likewise. The claims see them exactly as they see a results folder's table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ecobench.config.claims import Claim

RATIOS = (0.3, 0.5, 0.9)


def table(rng: np.random.Generator, seeds: int, effects: dict[str, float] | None = None, noise: float = 0.05,
          seed_sd: float = 0.2, log_effect: float = 0.0, log_noise: float = 0.1) -> pd.DataFrame:
    """One row per cell. `effects`: method -> true loss change against dense (every ratio); the seed level is shared
    by all cells of a seed (what pairing by seed removes)."""
    effects = {"dense": 0.0, "dense+recover": 0.0, "trajectory": 0.0, "magnitude": 0.0, **(effects or {})}
    rows = []
    for s in range(seeds):
        level = 2.0 + rng.normal(0, seed_sd)
        for method in ("dense", "dense+recover", "trajectory", "magnitude"):
            ref = method in ("dense", "dense+recover")
            for r in ([0.0] if ref else RATIOS):
                loss = level + effects[method] + rng.normal(0, noise)
                log = 0.0 if method == "dense" else (log_effect if method == "trajectory" else 0.0) + rng.normal(0, log_noise)
                rows.append({"key": f"seed{s}/{method}/r{r}", "seed": s, "method": method,
                             "structure": "-" if ref else "unstructured", "scope": "-" if ref else "layer",
                             "ratio": r, "recovered": method != "dense", "status": "ok", "loss": loss,
                             "accuracy": 0.5 - (loss - 2.0) / 10, "log:eval": log})
    return pd.DataFrame(rows)


def claim(form: str, **kw) -> Claim:
    base = {"name": form.replace("_", "-"), "form": form, "metric": "loss", "cells": {"method": "trajectory"},
            "than": "dense"}
    return Claim.model_validate({**base, **kw})
