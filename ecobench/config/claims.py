"""`claims:` in a suite: the hypotheses a run is meant to support or refute, each comparing two groups of cells on
one metric, paired by seed. Pure schema: what a claim says; which cells a group selects and whether they exist in
the sweep is checked against the suite (ecobench/claims/checks.py), the verdicts are computed from results
(ecobench/claims/judge.py)."""

from __future__ import annotations

import difflib
import math
import re
from typing import Annotated, Any, Literal

from pydantic import Field, PlainSerializer, PlainValidator, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ecobench.config.base import Config, visible

DENSE_REF = "dense"  # the seed's unpruned model
CONTROL_REF = "dense+recover"  # the dense model trained the recovery steps too: the compute-matched reference
REFERENCES = (DENSE_REF, CONTROL_REF)
FORMS = ("not_worse", "better", "much_worse", "ratio_below")
QUALITY_METRICS = ("loss", "bpc", "ppl", "accuracy", "mae")  # cell metrics a claim may compare
HIGHER_IS_BETTER = ("accuracy",)
DOMAIN_METRICS = ("loss", "bpc", "ppl")  # <metric>@<domain> for each of eval.domains
# paired footprint ratios ×dense: energy per 1k tokens of a measured workload (eval, prefill_bN, decode_bN)
RATIO_METRIC = re.compile(r"^(eval|prefill_b[1-9]\d*|decode_b[1-9]\d*)_ratio$")


def _hint(got: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(got, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def is_ratio_metric(metric: str) -> bool:
    return RATIO_METRIC.match(metric) is not None


def metric_label(metric: str) -> str:
    """'decode_b1_ratio' -> 'decode_b1': the measured workload a ratio metric reads."""
    return metric.removesuffix("_ratio")


def higher_is_better(metric: str) -> bool:
    return metric.partition("@")[0] in HIGHER_IS_BETTER


class RatioRange(Config):
    """`ratio: {min: 0.1, max: 0.5}`: every ratio of the sweep in [min, max] (both ends included)."""

    min: float = Field(0.0, ge=0, lt=1)
    max: float = Field(0.99, ge=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> RatioRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is above max ({self.max:g})")
        return self


def _ratio_entry(value: Any) -> float | list[float] | RatioRange | None:
    """A number, a list of numbers (ratios of the sweep), or a {min, max} range."""
    if value is None or isinstance(value, RatioRange):
        return value
    if isinstance(value, dict):
        return RatioRange.model_validate(value)
    items = value if isinstance(value, list) else [value]
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v < 1:
            raise PydanticCustomError("value_error", f"a ratio is a number in [0, 1), a list of them or a min/max "
                                      f"range, got {visible(repr(v))}")
    if isinstance(value, list) and not value:
        raise PydanticCustomError("value_error", "an empty list of ratios selects no cell")
    return [float(v) for v in value] if isinstance(value, list) else float(value)


RatioSelector = Annotated[
    float | list[float] | RatioRange | None, PlainValidator(_ratio_entry),
    PlainSerializer(lambda v: v.model_dump() if isinstance(v, RatioRange) else v)]


def _names(what: str) -> Any:
    def check(value: Any) -> str | list[str] | None:
        if value is None:
            return None
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(v, str) and v for v in items):
            raise PydanticCustomError("value_error", f"{what} is a name or a non-empty list of names, got "
                                      f"{visible(repr(value))}")
        return value

    return Annotated[str | list[str] | None, PlainValidator(check)]


MethodNames = _names("method")
StructureNames = _names("structure")
ScopeNames = _names("scope")


class GroupConfig(Config):
    """Which pruned cells a side of a claim takes (every field that is set must match; unset fields match all).
    Per seed, the metric is averaged over the group's cells, so seeds stay the unit of the test."""

    method: MethodNames = None  # method label(s) of prune.methods (the `label`, else the name)
    structure: StructureNames = None  # unstructured | "N:M" | structured
    scope: ScopeNames = None  # layer | global
    ratio: RatioSelector = None  # 0.5 | [0.3, 0.5] | {min: 0.1, max: 0.5}: target ratios of the sweep
    recovered: bool | None = None  # true: cells that were fine-tuned after pruning (prune.recover_steps > 0)

    def describe(self) -> str:
        def one(v: Any) -> str:
            return ",".join(v) if isinstance(v, list) else str(v)

        parts = [one(self.method) if self.method else "all methods"]
        if self.structure:
            parts.append(one(self.structure))
        if self.scope:
            parts.append(one(self.scope))
        if isinstance(self.ratio, RatioRange):
            parts.append(f"r{self.ratio.min:g}–{self.ratio.max:g}")
        elif isinstance(self.ratio, list):
            parts.append("r" + ",".join(f"{r:g}" for r in self.ratio))
        elif self.ratio is not None:
            parts.append(f"r{self.ratio:g}")
        if self.recovered is not None:
            parts.append("recovered" if self.recovered else "not recovered")
        return " ".join(visible(p) for p in parts)


def _group_entry(value: Any) -> str | GroupConfig:
    """`dense`, `dense+recover`, or a mapping of selectors (GroupConfig)."""
    if isinstance(value, GroupConfig):
        return value
    if isinstance(value, str):
        if value in REFERENCES:
            return value
        raise PydanticCustomError(
            "value_error", f"{visible(repr(value))} is not a reference{_hint(value, REFERENCES)}; a group is 'dense', "
            "'dense+recover' or a mapping of method, structure, scope, ratio, recovered")
    if not isinstance(value, dict):
        raise PydanticCustomError("value_error", "a group is 'dense', 'dense+recover' or a mapping of method, "
                                  f"structure, scope, ratio, recovered; got {visible(repr(value))}")
    return GroupConfig.model_validate(value)


Group = Annotated[str | GroupConfig, PlainValidator(_group_entry),
                  PlainSerializer(lambda g: g if isinstance(g, str) else g.model_dump(exclude_none=True))]


def describe_group(g: str | GroupConfig) -> str:
    return g if isinstance(g, str) else g.describe()


class Claim(Config):
    """One hypothesis: `cells` against `than` on `metric`, per seed. The forms:
    not_worse (cells at most `margin` worse: non-inferiority), better (cells better), much_worse (cells worse by at
    least `effect`), ratio_below (a paired footprint ratio ×dense of the cells below `bound`)."""

    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")  # short id in tables
    says: str | None = Field(None, max_length=400)  # the sentence it tests, as the paper puts it
    form: Literal["not_worse", "better", "much_worse", "ratio_below"]
    metric: str = "loss"  # loss, bpc, ppl, accuracy, mae, <loss|bpc|ppl>@<domain>, or <workload>_ratio
    cells: Group  # the side the claim is about
    than: Group = DENSE_REF  # the side it is compared with (ratio_below: dense, or a group whose ratio it divides by)
    margin: float | None = Field(None, gt=0)  # not_worse: how much worse still counts as "not worse" (metric units)
    effect: float | None = Field(None, gt=0)  # much_worse: the least difference that counts as "much" (metric units)
    bound: float | None = Field(None, gt=0)  # ratio_below: the ratio ×dense the cells must stay below (e.g. 1.0)

    @field_validator("says")
    @classmethod
    def _says(cls, v: str | None) -> str | None:
        return None if v is None else visible(v)

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        base, at, domain = v.partition("@")
        if is_ratio_metric(v):
            return v
        if at and base in DOMAIN_METRICS and domain:
            return v
        if not at and base in QUALITY_METRICS:
            return v
        known = [*QUALITY_METRICS, "eval_ratio", "decode_b1_ratio", "prefill_b1_ratio"]
        raise ValueError(f"unknown metric {visible(v)!r}{_hint(v, known)}; a claim compares loss, bpc, ppl, accuracy, "
                         "mae, <loss|bpc|ppl>@<domain> or a paired footprint ratio <eval|prefill_bN|decode_bN>_ratio")

    @model_validator(mode="after")
    def _form_fields(self) -> Claim:
        wants = {"not_worse": "margin", "much_worse": "effect", "ratio_below": "bound"}.get(self.form)
        for field in ("margin", "effect", "bound"):
            if getattr(self, field) is not None and field != wants:
                raise ValueError(f"a {self.form} claim takes no `{field}`"
                                 + (f" (it takes `{wants}`)" if wants else ""))
        if wants and getattr(self, wants) is None:
            raise ValueError(f"a {self.form} claim needs `{wants}`")
        ratio = is_ratio_metric(self.metric)
        if self.form == "ratio_below" and not ratio:
            raise ValueError(f"ratio_below reads a paired footprint ratio (eval_ratio, decode_b1_ratio, ...), not "
                             f"{self.metric!r}")
        if ratio and self.form != "ratio_below":
            raise ValueError(f"{self.metric} is a footprint ratio ×dense: test it with form ratio_below")
        if self.cells == self.than:
            raise ValueError("`cells` and `than` are the same group: the claim compares nothing")
        return self

    @property
    def threshold(self) -> float:
        """The boundary of the claim on the per-seed difference (ratio_below: on the log ratio)."""
        if self.form == "not_worse":
            return float(self.margin)  # type: ignore[arg-type]
        if self.form == "much_worse":
            return float(self.effect)  # type: ignore[arg-type]
        if self.form == "ratio_below":
            return math.log(self.bound)  # type: ignore[arg-type]
        return 0.0

    @property
    def claims_below(self) -> bool:
        """True when the claim says the (worse-oriented) difference lies below the threshold."""
        return self.form != "much_worse"


def unique_claim_names(v: list[Claim]) -> list[Claim]:
    dups = sorted({c.name for c in v if [d.name for d in v].count(c.name) > 1})
    if dups:
        raise ValueError(f"claim names must be unique; repeated: {dups}")
    return v
