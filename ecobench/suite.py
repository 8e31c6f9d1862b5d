"""The suite: its schema, strict YAML loading, `--set` overrides, validation, and expansion into cells.

Every problem in a suite is reported at once, as `file:line: field.path: message` lines, before any work.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from ecobench.config_base import Config
from ecobench.errors import SuiteError
from ecobench.footprint.config import FootprintConfig

MAX_SUITE_BYTES = 1_000_000  # a suite is a page of YAML; anything bigger is a mistake (or an attack)
MAX_SUITE_VALUES = 100_000  # keys and values after YAML aliases are expanded
TINYSHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


# ----------------------------------------------------------------------------- schema


class DataConfig(Config):
    corpus: Literal["shakespeare", "tinyshakespeare", "python-stdlib", "path"] = "shakespeare"
    path: str | None = None  # file or glob for corpus=path; a local copy for tinyshakespeare
    url: str | None = None  # tinyshakespeare only: where to fetch it (checked against sha256)
    sha256: str | None = None  # expected checksum of a fetched or local file (tinyshakespeare: the known one)
    tokenizer: Literal["char", "byte", "bpe", "pretrained"] = "char"
    vocab_size: int = Field(1024, ge=260, le=65535)  # bpe only: the trained vocabulary size
    context: int = Field(128, ge=2)  # tokens per training sequence
    val_fraction: float = Field(0.1, gt=0, lt=1)  # the last fraction of the token stream is validation
    max_chars: int | None = Field(None, ge=1)  # keep only the first N characters of the corpus

    @model_validator(mode="after")
    def _paths(self) -> DataConfig:
        if self.corpus == "path" and not self.path:
            raise ValueError("corpus 'path' needs `path:` (a file or a glob)")
        if self.corpus in ("shakespeare", "python-stdlib") and (self.path or self.url):
            raise ValueError(f"corpus '{self.corpus}' takes no `path` or `url`")
        if self.corpus == "path" and self.url:
            raise ValueError("`url` is only for corpus 'tinyshakespeare'; corpus 'path' reads local files")
        return self


class ModelConfig(Config):
    name: str | None = None  # label in results; derived from the shape when absent
    family: Literal["gpt2", "llama"] = "gpt2"
    n_layer: int = Field(4, ge=1)  # transformer blocks
    n_head: int = Field(4, ge=1)  # attention heads per block
    n_embd: int = Field(128, ge=8)  # residual width
    intermediate: int | None = Field(None, ge=8)  # MLP width (default 4 x n_embd)
    dropout: float = Field(0.0, ge=0, lt=1)
    bias: bool = True  # gpt2 only: biases in Linear layers
    pretrained: str | None = None  # a local Hugging Face checkpoint directory (skips the config above)
    gguf_file: str | None = None  # file name inside `pretrained` when the checkpoint is GGUF

    @model_validator(mode="after")
    def _heads(self) -> ModelConfig:
        if self.pretrained is None and self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        return self

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.pretrained:
            return Path(self.pretrained).name
        return f"{self.family}-L{self.n_layer}-H{self.n_head}-D{self.n_embd}"


class TrainConfig(Config):
    steps: int = Field(500, ge=0)  # optimizer steps of dense training (0: use the model as loaded)
    batch_size: int = Field(32, ge=1)  # sequences per step
    lr: float = Field(1e-3, gt=0)  # peak learning rate
    min_lr: float | None = Field(None, ge=0)  # cosine floor (default lr / 10)
    warmup_steps: int = Field(50, ge=0)  # linear warm-up before the cosine decay
    weight_decay: float = Field(0.1, ge=0)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.99, ge=0, lt=1)
    grad_clip: float = Field(1.0, ge=0)  # max global grad norm; 0 disables
    eval_interval: int = Field(0, ge=0)  # steps between validation checks (4 batches) during training; 0: none
    record_every: int = Field(50, ge=1)  # steps between trajectory checkpoints
    threads: int | None = Field(None, ge=1)  # torch intra-op threads (default: torch's choice)


class TrajectoryMethod(Config):
    name: Literal["trajectory"]
    label: str | None = None  # the method's name in results (default: the method name)
    weighting: Literal["sqrt", "linear", "uniform", "ema"] = "sqrt"  # a_i of checkpoint i
    ema_decay: float = Field(0.9, gt=0, lt=1)  # ema weighting only: a_i = decay^(K - i)
    window: int | None = Field(None, ge=1)  # use only the last `window` checkpoints
    criterion: Literal["final", "averaged"] = "averaged"  # rank/mask by |w_final| or by |m|
    threshold: Literal["sparsity", "std"] = "sparsity"  # cut at the ratio's quantile, or at std(|m|) * r per tensor
    multipliers: list[float] | None = None  # threshold=std only: the values of r, one cell each

    @model_validator(mode="after")
    def _multipliers(self) -> TrajectoryMethod:
        if self.threshold == "std":
            if not self.multipliers:
                raise ValueError("threshold 'std' needs a non-empty `multipliers` list")
            if any(r < 0 for r in self.multipliers):
                raise ValueError("multipliers must be >= 0")
            if len(set(self.multipliers)) != len(self.multipliers):
                raise ValueError("multipliers has duplicates")
        elif self.multipliers is not None:
            raise ValueError("`multipliers` is only used with threshold: std")
        return self


class MagnitudeMethod(Config):
    name: Literal["magnitude"]
    label: str | None = None


class RandomMethod(Config):
    name: Literal["random"]
    label: str | None = None


MethodConfig = Annotated[TrajectoryMethod | MagnitudeMethod | RandomMethod, Field(discriminator="name")]
METHOD_NAMES = ("trajectory", "magnitude", "random")


def method_label(m: MethodConfig) -> str:
    return m.label or m.name


class TargetsConfig(Config):
    blocks: bool = True  # Linear/Conv1D weights inside the transformer blocks
    embeddings: bool = False  # token (and position) embedding tables
    lm_head: bool = False  # the output projection (when not tied to the embeddings)
    include: list[str] | None = None  # extra fnmatch patterns on parameter names
    exclude: list[str] | None = None  # fnmatch patterns removed from the set above


class PruneConfig(Config):
    methods: list[MethodConfig] = Field(min_length=1)
    ratios: list[float] = Field(min_length=1)  # fraction of targeted weights to zero, each in [0, 1)
    scope: Literal["layer", "global"] | list[Literal["layer", "global"]] = "layer"
    targets: TargetsConfig = TargetsConfig()
    recover_steps: int = Field(0, ge=0)  # fine-tuning steps after pruning, mask held (0: none)
    recover_lr: float | None = Field(None, gt=0)  # default: train.lr / 10, constant

    @field_validator("ratios")
    @classmethod
    def _ratios(cls, v: list[float]) -> list[float]:
        bad = [r for r in v if not (0 <= r < 1) or math.isnan(r)]
        if bad:
            raise ValueError(f"ratios must be in [0, 1), got {bad}")
        if len(set(v)) != len(v):
            raise ValueError(f"ratios has duplicates: {sorted(r for r in set(v) if v.count(r) > 1)}")
        return v

    @field_validator("scope")
    @classmethod
    def _some_scope(cls, v: str | list[str]) -> str | list[str]:
        if not v:
            raise ValueError("scope must be 'layer', 'global' or a non-empty list of them")
        return v

    @field_validator("methods")
    @classmethod
    def _unique_methods(cls, v: list) -> list:
        labels = [method_label(m) for m in v]
        dups = sorted({x for x in labels if labels.count(x) > 1})
        if dups:
            raise ValueError(f"duplicate methods {dups}: give each a distinct `label`")
        return v

    @property
    def scopes(self) -> list[str]:
        return [self.scope] if isinstance(self.scope, str) else list(dict.fromkeys(self.scope))


class EvalConfig(Config):
    batches: int | Literal["all"] = 50  # validation batches (of train.batch_size sequences) or the whole split
    batch_size: int | None = Field(None, ge=1)  # default: 4 x train.batch_size (no gradients, so larger fits)
    inference_tokens: int = Field(0, ge=0)  # tokens timed in the inference phase (0: no inference phase)
    inference_batch_size: int = Field(1, ge=1)

    @field_validator("batches")
    @classmethod
    def _positive(cls, v: int | str) -> int | str:
        if isinstance(v, int) and v < 1:
            raise ValueError("batches must be >= 1 or 'all'")
        return v


class Suite(Config):
    name: str = Field(min_length=1, pattern=r"^[^/\\\x00]+$")
    seeds: list[int] = Field(min_length=1)
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    prune: PruneConfig
    eval: EvalConfig = EvalConfig()
    footprint: FootprintConfig = FootprintConfig()

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if any(s < 0 for s in v):
            raise ValueError("seeds must be >= 0")
        if len(set(v)) != len(v):
            raise ValueError("seeds has duplicates")
        return v

    def fingerprint(self) -> str:
        """Identity of what the suite computes (not its name), so a resume never mixes two suites."""
        d = self.model_dump(mode="json")
        d.pop("name")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- YAML with line numbers


class _Loader(yaml.SafeLoader):
    """SafeLoader that records the line of every key path and refuses duplicate keys."""


# YAML 1.1 reads `3e-4` (no dot) as a string; suites mean a number, as YAML 1.2 and JSON do
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def _construct(loader: _Loader, node: yaml.Node, path: tuple, lines: dict, problems: list[str]) -> Any:
    # aliases may share nodes: refuse a node inside itself, and cap the expanded size ("billion laughs")
    loader.ecobench_nodes = getattr(loader, "ecobench_nodes", 0) + 1
    if loader.ecobench_nodes > MAX_SUITE_VALUES:
        raise yaml.constructor.ConstructorError(
            None, None, f"the suite expands to more than {MAX_SUITE_VALUES:,} values (YAML aliases?)", node.start_mark
        )
    active = loader.__dict__.setdefault("ecobench_active", set())
    if id(node) in active:
        raise yaml.constructor.ConstructorError(None, None, "a YAML alias refers to itself", node.start_mark)
    active.add(id(node))
    try:
        return _construct_node(loader, node, path, lines, problems)
    finally:
        active.discard(id(node))


def _construct_node(loader: _Loader, node: yaml.Node, path: tuple, lines: dict, problems: list[str]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in (
        "tag:yaml.org,2002:map",
        "tag:yaml.org,2002:seq",
    ):
        return loader.construct_object(node, deep=True)  # SafeLoader refuses python/* and unknown tags
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                problems.append(f"{key_node.start_mark.line + 1}: {_dotted(path) or '(top)'}: keys must be strings, got {key!r}")
                continue
            if key in out:
                problems.append(f"{key_node.start_mark.line + 1}: {_dotted(path + (key,))}: duplicate key")
                continue
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _construct(loader, value_node, path + (key,), lines, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, v, path + (i,), lines, problems) for i, v in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _dotted(path: tuple) -> str:
    s = ""
    for p in path:
        s += f"[{p}]" if isinstance(p, int) else (f".{p}" if s else str(p))
    return s


def parse_yaml(text: str, source: str, problems_out: list[str] | None = None) -> tuple[Any, dict[tuple, int]]:
    """YAML -> (data, {key path: line}). Raises SuiteError for syntax errors, unsafe tags and duplicate keys;
    with `problems_out`, duplicate and non-string keys go there instead (the first value is kept) so that they
    are reported together with the schema's problems."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SuiteError(f"{source}: the file is empty", [f"{source}: the file is empty"])
        problems: list[str] = []
        lines: dict[tuple, int] = {}
        data = _construct(loader, node, (), lines, problems)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        what = (err.problem or str(err)).strip()
        if "python/" in what or "could not determine a constructor" in what:
            what = f"unsafe or unknown YAML tag ({what}); suites are plain data"
        raise SuiteError(f"{where}: {what}", [f"{where}: {what}"]) from err
    except yaml.YAMLError as err:
        raise SuiteError(f"{source}: {err}", [f"{source}: {err}"]) from err
    except RecursionError as err:
        msg = f"{source}: the YAML is nested too deeply"
        raise SuiteError(msg, [msg]) from err
    finally:
        loader.dispose()
    if problems:
        msgs = [f"{source}:{p}" for p in problems]
        if problems_out is None:
            raise SuiteError(msgs[0], msgs)
        problems_out += msgs
    return data, lines


# ----------------------------------------------------------------------------- --set overrides


def _unwrap(ann: Any) -> Any:
    """The config class inside Optional[...] / list[...], or None for plain values."""
    from typing import get_args

    from pydantic import BaseModel

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for a in get_args(ann):
        u = _unwrap(a)
        if u is not None:
            return u
    return None


def apply_overrides(data: dict, overrides: list[str], source: str) -> list[str]:
    """Apply `dotted.key=value` overrides (values parsed as YAML) in place; return problems."""
    problems = []
    for item in overrides:
        key, eq, raw = item.partition("=")
        if not eq or not key:
            problems.append(f"{source}: --set {item}: expected dotted.key=value")
            continue
        parts = key.split(".")
        ok, candidates = _schema_has_path(parts)
        if not ok:
            hint = _did_you_mean(parts[-1], candidates)
            problems.append(f"{source}: --set {key}: unknown key{hint}")
            continue
        try:
            value = yaml.load(raw, Loader=_Loader) if raw.strip() else ""  # noqa: S506 (a SafeLoader)
        except yaml.YAMLError as err:
            problems.append(f"{source}: --set {key}: cannot parse value {raw!r}: {err}")
            continue
        cur: Any = data
        for i, p in enumerate(parts[:-1]):
            nxt = parts[i + 1]
            if isinstance(cur, list):
                idx = int(p)
                if idx >= len(cur):
                    problems.append(f"{source}: --set {key}: index {idx} out of range")
                    break
                cur = cur[idx]
            else:
                if not isinstance(cur.get(p), (dict, list)):
                    cur[p] = [] if nxt.isdigit() else {}
                cur = cur[p]
        else:
            last = parts[-1]
            if isinstance(cur, list):
                idx = int(last)
                if idx >= len(cur):
                    problems.append(f"{source}: --set {key}: index {idx} out of range")
                    continue
                cur[idx] = value
            else:
                cur[last] = value
    return problems


def _schema_has_path(parts: list[str]) -> tuple[bool, list[str]]:
    """Walk the schema along a path that may hold list indices; method options accept any method's field."""
    from pydantic import BaseModel

    cur: Any = Suite
    for i, part in enumerate(parts):
        if part.isdigit():
            continue
        if not (isinstance(cur, type) and issubclass(cur, BaseModel)):
            return False, []
        if cur is PruneConfig and part == "methods" and i + 1 < len(parts):
            fields = {f for m in (TrajectoryMethod, MagnitudeMethod, RandomMethod) for f in m.model_fields}
            rest = [p for p in parts[i + 1 :] if not p.isdigit()]
            if len(rest) == 1 and rest[0] in fields:
                return True, []
            return False, sorted(fields)
        if part not in cur.model_fields:
            return False, list(cur.model_fields)
        cur = _unwrap(cur.model_fields[part].annotation)
    return True, []


def _did_you_mean(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


# ----------------------------------------------------------------------------- validation


OVERRIDDEN = "--set"  # in `lines`: this value came from a --set override, not from the file


def _where(source: str, line: int | str | None) -> str:
    if line == OVERRIDDEN:
        return f"{source} (--set)"
    return f"{source}:{line}" if line else source


_TYPE_WORDS = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
               "list": "a list", "dict": "a mapping"}


def _is_union_branch(x: Any) -> bool:
    """pydantic names the branch of a plain union in the loc (`literal['layer','global']`, `int`, `list[...]`)."""
    return isinstance(x, str) and (not x.isidentifier() or x in _TYPE_WORDS)


def _literal_choices(expected: str) -> list[str]:
    """pydantic's "'a', 'b' or 'c'" -> ['a', 'b', 'c'], the candidates for "did you mean"."""
    return [c.strip().strip("'") for c in expected.replace(" or ", ",").split(",") if c.strip()]


def _merge_union(errors: list[dict]) -> dict:
    """One error for a value that matched no branch of a union: `expected 'layer' or 'global' or a list, got ...`."""
    wants, cands = [], []
    for e in errors:
        if e["type"] == "literal_error":
            expected = e.get("ctx", {}).get("expected", "")
            wants.append(expected)
            cands += _literal_choices(expected)
        elif e["type"].endswith("_type"):
            base = e["type"].removesuffix("_type").replace("string", "str")
            wants.append(_TYPE_WORDS.get(base, base))
        else:
            wants.append(e["msg"].removeprefix("Value error, "))
    got = errors[0].get("input")
    hint = _did_you_mean(got, cands) if isinstance(got, str) else ""
    return {"type": "union_merged", "msg": f"expected {' or '.join(dict.fromkeys(wants))}, got {got!r}{hint}"}


def _format_errors(err: ValidationError, lines: dict[tuple, int], source: str, data: Any) -> list[str]:
    # pydantic puts the discriminator value in the loc of union members (methods.0.trajectory.window)
    items: list[tuple[tuple, tuple, Any]] = []  # (loc, raw loc, error or [errors of one union])
    unions: dict[tuple, list] = {}
    for e in err.errors(include_url=False):
        raw = e["loc"]
        loc = tuple(x for i, x in enumerate(raw) if not (i > 0 and isinstance(raw[i - 1], int) and x in METHOD_NAMES))
        cut = next((i for i, x in enumerate(loc) if i > 0 and _is_union_branch(x)), None)
        if cut is None:
            items.append((loc, raw, e))
            continue
        field, rest = loc[:cut], loc[cut + 1 :]
        if field not in unions:
            unions[field] = []
            items.append((field, raw, unions[field]))
        unions[field].append((field + rest, raw, e))
    out = []
    for loc, raw, e in items:
        if isinstance(e, list):
            # a branch that matched the value's shape reports the real problem inside it; else merge the branches
            deeper = [x for x in e if len(x[0]) > len(loc)]
            todo = deeper or [(loc, raw, _merge_union([x[2] for x in e]))]
        else:
            todo = [(loc, raw, e)]
        out += [_format_one(*x, lines, source) for x in todo]
    return list(dict.fromkeys(out))


def _format_one(loc: tuple, raw: tuple, e: dict, lines: dict[tuple, int], source: str) -> str:
    line = None
    for k in range(len(loc), -1, -1):
        if loc[:k] in lines:
            line = lines[loc[:k]]
            break
    where = _where(source, line)
    field = _dotted(loc) or "(top)"
    msg = e["msg"]
    if e["type"] == "extra_forbidden":
        parent_model = _model_at(raw[:-1])
        cands = list(parent_model.model_fields) if parent_model else []
        msg = f"unknown key{_did_you_mean(loc[-1], cands)}"
    elif e["type"] == "union_tag_invalid":
        tag = e.get("ctx", {}).get("tag")
        msg = f"unknown method {tag!r}{_did_you_mean(tag, list(METHOD_NAMES))}; known: {', '.join(METHOD_NAMES)}"
        field = _dotted(loc + ("name",))
    elif e["type"] == "union_tag_not_found":
        msg = f"each method needs a `name` (one of {', '.join(METHOD_NAMES)})"
    elif e["type"] == "literal_error":
        got = e.get("input")
        expected = e.get("ctx", {}).get("expected", "")
        cands = _literal_choices(expected)
        msg = f"{got!r} is not one of {expected}{_did_you_mean(got, cands)}"
    elif e["type"] == "missing":
        msg = "required field is missing"
    elif e["type"] == "value_error":
        msg = msg.removeprefix("Value error, ")
    elif e["type"] == "too_short" and e.get("ctx", {}).get("actual_length") == 0:
        msg = "must not be empty"
    elif e["type"] in ("model_type", "dict_type"):
        msg = f"expected a mapping (indented `key: value` lines), got {e.get('input')!r}"
    elif e["type"] == "string_pattern_mismatch" and loc == ("name",):
        msg = f"a suite name cannot contain '/', '\\' or NUL (it names the results folder), got {e.get('input')!r}"
    elif "input" in e and (e["type"].endswith("_type") or e["type"] in _BOUNDS):
        msg = f"{msg}, got {e['input']!r}"
    return f"{where}: {field}: {msg}"


_BOUNDS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number")


def _model_at(loc: tuple) -> Any:
    from pydantic import BaseModel

    cur: Any = Suite
    for part in loc:
        if isinstance(part, int):
            continue
        if cur is PruneConfig and part == "methods":
            cur = "methods"
            continue
        if cur == "methods" and part in METHOD_NAMES:
            cur = {"trajectory": TrajectoryMethod, "magnitude": MagnitudeMethod, "random": RandomMethod}[part]
            continue
        if isinstance(cur, type) and issubclass(cur, BaseModel) and part in cur.model_fields:
            cur = _unwrap(cur.model_fields[part].annotation)
        else:
            return None
    return cur if isinstance(cur, type) else None


@dataclass(frozen=True)
class SuiteFile:
    """A validated suite with where it came from, so later checks (data, sensors) can cite file and line."""

    suite: Suite
    source: str
    lines: dict

    def where(self, field: str) -> str:
        """`file:line` of the deepest part of a dotted field path that the file spells out."""
        parts = tuple(field.split("."))
        for k in range(len(parts), 0, -1):
            if parts[:k] in self.lines:
                return _where(self.source, self.lines[parts[:k]])
        return self.source


def load_suite(path: str | Path, overrides: list[str] | None = None) -> SuiteFile:
    """Read, parse and validate a suite file; every problem is reported in one SuiteError."""
    path = Path(path)
    source = str(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise SuiteError(f"{source}: cannot read suite: {err.strerror}") from err
    if size > MAX_SUITE_BYTES:
        raise SuiteError(f"{source}: the file is {size / 1e6:.1f} MB; a suite is at most {MAX_SUITE_BYTES // 1000} kB")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SuiteError(f"{source}: cannot read suite: {err}") from err
    return suite_from_text(text, source, overrides)


def suite_from_text(text: str, source: str = "<suite>", overrides: list[str] | None = None) -> SuiteFile:
    yaml_problems: list[str] = []
    data, lines = parse_yaml(text, source, yaml_problems)
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise SuiteError(f"{source}:1: the suite must be a mapping of sections (name, seeds, ...), got a {kind}")
    problems = yaml_problems + apply_overrides(data, overrides or [], source)
    for item in overrides or []:
        path = tuple(int(p) if p.isdigit() else p for p in item.partition("=")[0].split("."))
        for k in [k for k in lines if k[: len(path)] == path]:
            del lines[k]
        lines[path] = OVERRIDDEN
    try:
        suite = Suite.model_validate(data)
    except ValidationError as err:
        problems += _format_errors(err, lines, source, data)
        suite = None
    if problems:
        raise SuiteError(problems[0], problems)
    return SuiteFile(suite, source, lines)


# ----------------------------------------------------------------------------- cells


@dataclass(frozen=True)
class Cell:
    """One (seed, method, scope, ratio or multiplier) point of the sweep. `ratio` 0 with method 'dense' is the reference."""

    seed: int
    method: str  # the method's label
    scope: str  # 'layer' | 'global' | '-' for the dense reference
    ratio: float | None  # target sparsity; None for threshold=std cells
    multiplier: float | None = None  # the paper's r for threshold=std cells

    @property
    def key(self) -> str:
        target = f"r{self.ratio:g}" if self.ratio is not None else f"std{self.multiplier:g}"
        return f"seed{self.seed}/{self.method}/{self.scope}/{target}"

    @property
    def is_dense(self) -> bool:
        return self.method == "dense"


def expand(suite: Suite) -> list[Cell]:
    """The sweep in run order: per seed, the dense reference then every method x scope x ratio."""
    cells: list[Cell] = []
    nonzero = [r for r in sorted(suite.prune.ratios) if r > 0]
    for seed in suite.seeds:
        cells.append(Cell(seed, "dense", "-", 0.0))
        for m in suite.prune.methods:
            for scope in suite.prune.scopes:
                if isinstance(m, TrajectoryMethod) and m.threshold == "std":
                    # the paper's per-tensor threshold: scope does not apply
                    if scope == suite.prune.scopes[0]:
                        cells += [Cell(seed, method_label(m), "layer", None, r) for r in m.multipliers]
                    continue
                cells += [Cell(seed, method_label(m), scope, r) for r in nonzero]
    return cells


def method_by_label(suite: Suite, label: str) -> MethodConfig:
    for m in suite.prune.methods:
        if method_label(m) == label:
            return m
    raise KeyError(label)
