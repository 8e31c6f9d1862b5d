"""Extra evaluation domains (`eval.domains`): every cell's model is also scored on other held-out corpora.

A pruned model can keep its loss on the corpus it was calibrated on and lose it elsewhere; a second domain (the
Python standard library beside Shakespeare) shows that. A domain is read with the suite's own data settings
(context, max_chars, val_fraction) and tokenizer, and only its validation split (its last val_fraction) is
scored, with the same evenly spread windows as the main evaluation. Calibration still comes from the main corpus.

Metrics are flat keys, `<metric>@<domain>` (loss@python-stdlib, bpc@..., ppl@..., tokens@...), so the results
frame and the report tables carry them as ordinary columns beside the main loss, bpc and ppl.
"""

from __future__ import annotations

from typing import Any

from ecobench.config.schema import DataConfig, Suite
from ecobench.families import load_data, of_data
from ecobench.train import evaluate

SEP = "@"
TOKENIZERS = ("byte", "pretrained")  # encode any text as it is; char and bpe are fitted to the main corpus


def domain_config(data: DataConfig, domain: str) -> DataConfig:
    """The suite's data settings with the corpus swapped for `domain` (no local path, URL or checksum: the
    domains are the offline corpora that ship with ecobench or Python)."""
    return data.model_copy(update={"corpus": domain, "path": None, "url": None, "sha256": None})


def load_domain(suite: Suite, domain: str, fetch: bool = True) -> Any:
    """The token data of one domain (cached like the main corpus's); DataError names the field when it cannot serve."""
    return load_data(domain_config(suite.data, domain), suite.model, fetch)


def domain_problem(suite: Suite) -> str | None:
    """Why `eval.domains` cannot be evaluated with this suite's tokenizer, or None."""
    if suite.eval.domains and suite.data.tokenizer not in TOKENIZERS:
        return (f"a {suite.data.tokenizer!r} tokenizer is fitted to the main corpus and cannot encode "
                f"{', '.join(suite.eval.domains)} faithfully; use data.tokenizer: byte or pretrained")
    return None


def domain_batches(suite: Suite) -> int | None:
    """Validation batches per domain: eval.domain_batches, else eval.batches (None: the whole split)."""
    n = suite.eval.batches if suite.eval.domain_batches is None else suite.eval.domain_batches
    return None if n == "all" else n


def evaluate_domains(model, suite: Suite, batch_size: int) -> dict[str, float | int]:
    """`<metric>@<domain>` for every domain of the suite: its family's metrics (text: loss, bpc, ppl) and the
    tokens scored. Part of the loss evaluation, not a measured phase: the eval phase's footprint is the paired
    workload of ecobench/measure.py, which reads the main corpus only."""
    out: dict[str, float | int] = {}
    for domain in suite.eval.domains:
        data = load_domain(suite, domain)
        ev = evaluate(model, data, batch_size, domain_batches(suite), phase="eval")
        for k, v in {**of_data(data).metrics(ev, data), "tokens": ev.tokens}.items():
            out[f"{k}{SEP}{domain}"] = v
    return out


def split_key(key: str) -> tuple[str, str | None]:
    """'ppl@python-stdlib' -> ('ppl', 'python-stdlib'); 'ppl' -> ('ppl', None)."""
    base, sep, domain = key.partition(SEP)
    return base, (domain if sep else None)
