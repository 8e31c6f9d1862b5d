"""A catalogue of malformed suites. Each stops `run` and `validate` with exit code 2 and one line per problem that
names the file, the field and the YAML line where there is one; no traceback; nothing written to the results folder.

Most cases run in-process (`ecobench.cli.main`); a few run as a user runs them, in a subprocess, to prove that no
traceback reaches the terminal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import run_cli

from .conftest import run_inprocess, set_args

# line numbers below refer to this layout
BASE = """\
name: tiny
seeds: [0]
data:
  corpus: path
  path: {corpus}
  context: 16
model:
  n_layer: 1
  n_head: 2
  n_embd: 16
train:
  steps: 4
  batch_size: 4
prune:
  methods:
    - name: magnitude
  ratios: [0, 0.5]
footprint:
  idle_seconds: 0
"""
ZERO_SHA = "0" * 64


def edit(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


@dataclass
class Case:
    id: str
    text: str | None  # the suite file ({corpus} is a small local text); None: built by the test (see _write)
    expect: str  # what follows "error: <file>" on the first error line
    sets: tuple[str, ...] = ()


def _bomb() -> str:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]
    return "\n".join(lines) + "\n" + BASE


CATALOGUE = [
    # syntax
    Case("syntax_unclosed_list", "name: x\nseeds: [0\n", ":3: expected ',' or ']'"),
    Case("syntax_tab_indent", "name: x\n\tseeds: [0]\n", ":2: found character '\\t' that cannot start any token"),
    Case("syntax_bad_indent", edit("  context: 16", " context: 16"), ":6:"),
    Case("empty_file", "", ": the file is empty"),
    Case("nul_byte", "name: x\x00\n", ":1: character #x0000 is not allowed in YAML; a suite is plain text"),
    Case("control_character", BASE + "\x1b[31m\n", ":20: character #x001b is not allowed in YAML; a suite is plain text"),
    Case("not_utf8", None, ":2: the suite is not UTF-8 text (byte 0xe9 cannot be decoded; save it as UTF-8)"),
    Case("utf16", None, ":1: the suite is not UTF-8 text (it looks like UTF-16; save it as UTF-8)"),
    Case("missing_suite_file", None, ": cannot read suite: No such file or directory"),
    Case("huge_file_50MB", None, ": the file is 50.0 MB; a suite is at most 1000 kB"),
    # the wrong shape
    Case("list_not_mapping", "- name: x\n- seeds: [0]\n", ":1: the suite must be a mapping of sections (name, seeds, ...), got a list"),
    Case("scalar_not_mapping", "just some words\n", ":1: the suite must be a mapping of sections (name, seeds, ...), got a str"),
    Case("section_is_list", edit("data:\n  corpus: path\n  path: {corpus}\n  context: 16\n", "data: [1, 2]\n"),
         ":3: data: expected a mapping (indented `key: value` lines), got [1, 2]"),
    Case("section_is_null", BASE.split("prune:")[0] + "prune:\n", ":14: prune: expected a mapping (indented `key: value` lines), got None"),
    Case("methods_not_list", edit("  methods:\n    - name: magnitude", "  methods: magnitude"),
         ":15: prune.methods: Input should be a valid list, got 'magnitude'"),
    Case("key_not_string", BASE + "1: x\n", ":20: (top): keys must be strings, got 1"),
    # unsafe YAML
    Case("python_object_tag", "name: !!python/object/apply:os.system ['echo pwned']\n" + BASE.split("\n", 1)[1],
         ":1: unsafe or unknown YAML tag"),
    Case("python_name_tag", edit("  steps: 4", "  steps: !!python/name:os.system"), ":12: unsafe or unknown YAML tag"),
    Case("alias_bomb", _bomb(), ":1: the suite expands to more than 100,000 values (YAML aliases?)"),
    Case("recursive_alias", "name: &a [*a]\n" + BASE.split("\n", 1)[1], ":1: a YAML alias refers to itself"),
    Case("nested_too_deep", "name: " + "[" * 1000 + "]" * 1000 + "\n", ": the YAML is nested too deeply"),
    # unknown keys at every level
    Case("unknown_top_key", BASE + "extra: 1\n", ":20: extra: unknown key"),
    Case("unknown_data_key", edit("  context: 16", "  context: 16\n  contxt: 3"), ":7: data.contxt: unknown key (did you mean 'context'?)"),
    Case("unknown_model_key", edit("  n_layer: 1", "  n_layr: 1"), ":8: model.n_layr: unknown key (did you mean 'n_layer'?)"),
    Case("unknown_train_key", edit("  batch_size: 4", "  batch_size: 4\n  lr_warmup: 3"), ":14: train.lr_warmup: unknown key"),
    Case("unknown_prune_key", edit("  ratios: [0, 0.5]", "  ratios: [0, 0.5]\n  scop: layer"), ":18: prune.scop: unknown key (did you mean 'scope'?)"),
    Case("unknown_method_option", edit("    - name: magnitude", "    - name: trajectory\n      wieghting: sqrt"),
         ":17: prune.methods[0].wieghting: unknown key (did you mean 'weighting'?)"),
    Case("unknown_targets_key", edit("  ratios: [0, 0.5]", "  ratios: [0, 0.5]\n  targets:\n    lm_heads: true"),
         ":19: prune.targets.lm_heads: unknown key (did you mean 'lm_head'?)"),
    Case("lm_head_tied_to_embedding", edit("  ratios: [0, 0.5]", "  ratios: [0, 0.5]\n  targets:\n    lm_head: true"),
         ":19: prune.targets.lm_head: this model ties the output head (lm_head.weight) to the input embedding "
         "(transformer.wte.weight)"),
    Case("unknown_eval_key", BASE + "eval:\n  bathces: 3\n", ":21: eval.bathces: unknown key (did you mean 'batches'?)"),
    Case("unknown_footprint_key", BASE + "  idel_seconds: 0\n", ":20: footprint.idel_seconds: unknown key (did you mean 'idle_seconds'?)"),
    Case("unknown_site_key", BASE + "  site:\n    pue2: 1.2\n", ":21: footprint.site.pue2: unknown key (did you mean 'pue'?)"),
    # wrong types, missing and empty
    Case("steps_not_a_number", edit("steps: 4", "steps: four"), ":12: train.steps: Input should be a valid integer, got 'four'"),
    Case("steps_not_integer", edit("steps: 4", "steps: 4.5"), ":12: train.steps: Input should be a valid integer, got 4.5"),
    Case("steps_negative", edit("steps: 4", "steps: -1"), ":12: train.steps: Input should be greater than or equal to 0, got -1"),
    Case("steps_bool", edit("steps: 4", "steps: true"), ":12: train.steps: Input should be a valid integer, got True"),
    Case("lr_infinite", edit("  batch_size: 4", "  batch_size: 4\n  lr: .inf"), ":14: train.lr: Input should be a finite number, got inf"),
    Case("seed_negative", edit("seeds: [0]", "seeds: [-1]"), ":2: seeds: seeds must be >= 0"),
    Case("seed_not_integer", edit("seeds: [0]", "seeds: [1.5]"), ":2: seeds[0]: Input should be a valid integer, got 1.5"),
    Case("seed_duplicate", edit("seeds: [0]", "seeds: [3, 3]"), ":2: seeds: seeds has duplicates"),
    Case("seeds_not_list", edit("seeds: [0]", "seeds: 0"), ":2: seeds: Input should be a valid list, got 0"),
    Case("missing_name", edit("name: tiny\n", ""), ":1: name: required field is missing"),
    Case("missing_prune", BASE.split("prune:")[0], ":1: prune: required field is missing"),
    Case("name_with_slash", edit("name: tiny", "name: a/b"), ":1: name: a suite name cannot contain '/'"),
    Case("empty_seeds", edit("seeds: [0]", "seeds: []"), ":2: seeds: must not be empty"),
    Case("empty_methods", edit("  methods:\n    - name: magnitude", "  methods: []"), ":15: prune.methods: must not be empty"),
    Case("empty_ratios", edit("ratios: [0, 0.5]", "ratios: []"), ":17: prune.ratios: must not be empty"),
    Case("empty_scope_list", edit("  ratios: [0, 0.5]", "  ratios: [0, 0.5]\n  scope: []"), ":18: prune.scope: scope must be 'layer', 'global'"),
    Case("method_without_name", edit("    - name: magnitude", "    - label: m"), ":16: prune.methods[0]: each method needs a `name`"),
    Case("duplicate_methods", edit("    - name: magnitude", "    - name: magnitude\n    - name: magnitude"),
         ":15: prune.methods: duplicate methods ['magnitude']: give each a distinct `label`"),
    Case("wanda_bad_compare", edit("    - name: magnitude", "    - name: wanda\n      compare: rows"),
         ":17: prune.methods[0].compare: 'rows' is not one of 'row' or 'layer' (did you mean 'row'?)"),
    Case("sparsegpt_bad_damp", edit("    - name: magnitude", "    - name: sparsegpt\n      percdamp: 0"),
         ":17: prune.methods[0].percdamp: Input should be greater than 0, got 0"),
    Case("random_unknown_option", edit("    - name: magnitude", "    - name: random\n      seed: 3"),
         ":17: prune.methods[0].seed: unknown key"),
    Case("taylor_unknown_option", edit("    - name: magnitude", "    - name: taylor\n      batches: 1"),
         ":17: prune.methods[0].batches: unknown key"),
    Case("movement_without_training", edit("    - name: magnitude", "    - name: movement").replace("steps: 4", "steps: 0"),
         ":12: prune.methods[0] (movement): train.steps: movement is recorded during training: set train.steps > 0"),
    Case("calibration_too_large", edit("  ratios: [0, 0.5]", "  ratios: [0, 0.5]\n  calibration: {batches: 99, batch_size: 9}"
                                       ).replace("- name: magnitude", "- name: wanda"),
         ":18: prune.calibration: 99 x 9 windows of 16 tokens (14,256 tokens) is more than the training split holds"),
    Case("std_without_multipliers", edit("    - name: magnitude", "    - name: trajectory\n      threshold: std"),
         ":16: prune.methods[0]: threshold 'std' needs a non-empty `multipliers` list"),
    Case("n_layer_huge", edit("n_layer: 1", "n_layer: 99999999999"),
         ":8: model.n_layer: Input should be less than or equal to 1024, got 99999999999"),
    Case("grid_too_large", edit("seeds: [0]", f"seeds: {list(range(1000))}").replace(
        "ratios: [0, 0.5]", f"ratios: {[i / 1000 for i in range(200)]}"),
         ":14: prune: the sweep has more than 100,000 cells (seeds x methods x scopes x ratios)"),
    # ratios
    Case("ratio_one", edit("ratios: [0, 0.5]", "ratios: [0, 1.0]"), ":17: prune.ratios: ratios must be in [0, 1), got [1.0]"),
    Case("ratio_negative", edit("ratios: [0, 0.5]", "ratios: [-0.1, 0.5]"), ":17: prune.ratios: ratios must be in [0, 1), got [-0.1]"),
    Case("ratio_duplicate", edit("ratios: [0, 0.5]", "ratios: [0.5, 0, 0.5]"), ":17: prune.ratios: ratios has duplicates: [0.5]"),
    Case("ratio_nan", edit("ratios: [0, 0.5]", "ratios: [.nan]"), ":17: prune.ratios[0]: Input should be a finite number, got nan"),
    # unknown names
    Case("unknown_corpus", edit("corpus: path", "corpus: shakespear"),
         ":4: data.corpus: 'shakespear' is not one of 'shakespeare', 'tinyshakespeare', 'python-stdlib', 'digits-vqa' or 'path' (did you mean 'shakespeare'?)"),
    Case("unknown_method", edit("- name: magnitude", "- name: magnitud"),
         ":16: prune.methods[0].name: unknown method 'magnitud' (did you mean 'magnitude'?); known: magnitude, "),
    Case("unknown_tokenizer", edit("  context: 16", "  context: 16\n  tokenizer: chars"),
         ":7: data.tokenizer: 'chars' is not one of 'char', 'byte', 'bpe' or 'pretrained' (did you mean 'char'?)"),
    Case("unknown_model_family", edit("  n_layer: 1", "  family: gpt3\n  n_layer: 1"),
         ":8: model.family: 'gpt3' is not one of 'gpt2', 'llama' or 'llava' (did you mean 'gpt2'?)"),
    Case("unknown_scope", edit("  ratios: [0, 0.5]", "  ratios: [0, 0.5]\n  scope: globl"),
         ":18: prune.scope: expected 'layer' or 'global' or a list, got 'globl' (did you mean 'global'?)"),
    Case("unknown_scope_in_list", edit("  ratios: [0, 0.5]", "  ratios: [0, 0.5]\n  scope: [layer, globl]"),
         ":18: prune.scope[1]: 'globl' is not one of 'layer' or 'global' (did you mean 'global'?)"),
    Case("eval_batches_word", BASE + "eval:\n  batches: many\n", ":21: eval.batches: expected an integer or 'all', got 'many'"),
    Case("heads_do_not_divide_width", edit("n_embd: 16", "n_embd: 17"), ":7: model: n_embd (17) must be divisible by n_head (2)"),
    # duplicate YAML keys
    Case("duplicate_yaml_key", edit("  context: 16", "  context: 16\n  context: 32"), ":7: data.context: duplicate key"),
    Case("duplicate_section", BASE + "train:\n  steps: 9\n", ":20: train: duplicate key"),
    # data that is not there or not right
    Case("corpus_path_missing", BASE.replace("{corpus}", "/nonexistent/corpus.txt"), ":5: data.path: no file matches '/nonexistent/corpus.txt'"),
    Case("pretrained_dir_missing", edit("  n_layer: 1", "  pretrained: /nonexistent/model\n  n_layer: 1"),
         ":8: model.pretrained: no such directory: /nonexistent/model"),
    Case("checksum_mismatch_path", edit("  context: 16", f"  context: 16\n  sha256: '{ZERO_SHA}'"),
         f":7: data.sha256: checksum mismatch for {{corpus}}: expected {ZERO_SHA}, got "),
    Case("checksum_mismatch_tinyshakespeare", edit("corpus: path", "corpus: tinyshakespeare"),
         ":5: data.path: checksum mismatch for {corpus}: expected 86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"),
    Case("corpus_empty", BASE.replace("{corpus}", "{empty}"), ":5: data.path: the corpus is empty"),
    Case("corpus_shorter_than_context", edit("context: 16", "context: 4000"),
         ":6: data.context: context 4000 is longer than the data: 4680 train / 520 validation tokens"),
    Case("url_for_a_local_corpus", edit("  context: 16", "  context: 16\n  url: https://example.org/x.txt"),
         ":3: data: `url` is only for corpus 'tinyshakespeare'; corpus 'path' reads local files"),
    Case("checksum_for_a_glob", BASE.replace("{corpus}", "{dir}/*.txt").replace("  context: 16", f"  context: 16\n  sha256: '{ZERO_SHA}'"),
         ":7: data.sha256: a checksum needs `path` to match one file; '{dir}/*.txt' matches 2"),
    Case("shakespeare_with_path", edit("corpus: path", "corpus: shakespeare"), ":3: data: corpus 'shakespeare' takes no `path` or `url`"),
    # where and how it computes (run.device, train.precision)
    Case("device_unknown", BASE + "run:\n  device: gpu\n", ":21: run.device: device must be auto, cpu, cuda or cuda:N, got 'gpu'"),
    Case("device_bad_index", BASE + "run:\n  device: cuda:x\n", ":21: run.device: device must be auto, cpu, cuda or cuda:N, got 'cuda:x'"),
    Case("precision_unknown", edit("  batch_size: 4", "  batch_size: 4\n  precision: fp16"),
         ":14: train.precision: 'fp16' is not one of 'fp32' or 'bf16' (did you mean 'bf16'?)"),
    Case("log_every_zero", edit("  batch_size: 4", "  batch_size: 4\n  log_every: 0"),
         ":14: train.log_every: Input should be greater than or equal to 1, got 0"),
    # --set overrides
    Case("set_device_unknown", BASE, " (--set): run.device: device must be auto, cpu, cuda or cuda:N, got 'tpu'",
         ("run.device=tpu",)),
    Case("set_unknown_key", BASE, ": --set train.stpes: unknown key (did you mean 'steps'?)", ("train.stpes=3",)),
    Case("set_not_key_value", BASE, ": --set steps: expected dotted.key=value", ("steps",)),
    Case("set_bad_value", BASE, " (--set): train.steps: Input should be a valid integer, got 'x'", ("train.steps=x",)),
    Case("set_ratio_out_of_range", BASE, " (--set): prune.ratios: ratios must be in [0, 1), got [2.0]", ("prune.ratios=[0, 2.0]",)),
    # task families: image-question data, answer metrics and parts need a vision-language model, and back
    Case("digits_vqa_on_a_text_model", edit("  corpus: path\n  path: {corpus}\n", "  corpus: digits-vqa\n"),
         ":4: data.corpus: 'digits-vqa' is image + question data: it needs a vision-language model"),
    Case("domains_with_a_char_tokenizer", BASE + "eval:\n  domains: [python-stdlib]\n",
         ":21: eval.domains: a 'char' tokenizer is fitted to the main corpus and cannot encode python-stdlib "
         "faithfully; use data.tokenizer: byte or pretrained"),
    Case("domains_unknown_corpus", BASE + "eval:\n  domains: [wikipedia]\n", ":21: eval.domains[0]: "),
    Case("metric_mae_on_a_text_model", edit("footprint:", "eval:\n  metric: mae\nfootprint:"),
         ":19: eval.metric: 'mae' scores answers to questions about images; a text model's metric is 'loss'"),
    Case("parts_vision_on_a_text_model", edit("  ratios: [0, 0.5]", "  ratios: [0, 0.5]\n  targets:\n    parts: [vision]"),
         ":19: prune.targets.parts: ['vision']: a text model has one part, language"),
    Case("text_corpus_on_llava", edit("  n_embd: 16", "  n_embd: 16\n  family: llava").replace(
        "  corpus: path\n  path: {corpus}\n", "  corpus: python-stdlib\n"),
         ":4: data.corpus: 'python-stdlib' is text; a vision-language model reads 'digits-vqa' or 'path'"),
    Case("jsonl_is_not_json", edit("  n_embd: 16", "  n_embd: 16\n  family: llava"),
         ":5: data.path: {corpus}:1: not a JSON object"),
    Case("llava_patch_does_not_divide_the_image", edit("  n_embd: 16", "  n_embd: 16\n  family: llava\n  patch_size: 3"),
         ":7: model: image_size (8) must be divisible by patch_size (3)"),
    # claims: what they name must exist in the sweep and the family's metrics (ecobench/claims/checks.py)
    Case("claims_unknown_method", BASE + "claims:\n  - name: c\n    form: better\n    cells: {method: magnitud}\n",
         ":23: claims[0].cells.method: unknown method 'magnitud' (did you mean 'magnitude'?); the suite's methods: "
         "magnitude"),
    Case("claims_empty_group", BASE + "claims:\n  - name: c\n    form: better\n    cells: {ratio: {min: 0.6, max: 0.9}}\n",
         ":23: claims[0].cells: the group (all methods r0.6–0.9) selects no cell of the sweep"),
    Case("claims_ratio_not_in_sweep", BASE + "claims:\n  - name: c\n    form: better\n    cells: {ratio: [0.3, 0.5]}\n",
         ":23: claims[0].cells.ratio: 0.3 not in the sweep; prune.ratios: 0, 0.5"),
    Case("claims_metric_absent_for_the_family",
         BASE + "claims:\n  - name: c\n    form: better\n    metric: accuracy\n    cells: {method: magnitude}\n",
         ":23: claims[0].metric: 'accuracy' is not reported for a causal-lm model; its metrics are loss, bpc, ppl"),
    Case("claims_control_without_recovery",
         BASE + "claims:\n  - name: c\n    form: better\n    cells: {method: magnitude}\n    than: dense+recover\n",
         ":24: claims[0].than: 'dense+recover' exists only when pruned cells recover (prune.recover_steps > 0)"),
    Case("claims_unknown_form", BASE + "claims:\n  - name: c\n    form: beter\n    cells: {method: magnitude}\n",
         ":22: claims[0].form: 'beter' is not one of 'not_worse', 'better', 'much_worse' or 'ratio_below' (did you "
         "mean 'better'?)"),
    Case("claims_unknown_group_key", BASE + "claims:\n  - name: c\n    form: better\n    cells: {methd: magnitude}\n",
         ":23: claims[0].cells.methd: unknown key (did you mean 'method'?)"),
    Case("claims_not_worse_without_margin",
         BASE + "claims:\n  - name: c\n    form: not_worse\n    cells: {method: magnitude}\n",
         ":21: claims[0]: a not_worse claim needs `margin`"),
    Case("claims_duplicate_names", BASE + "claims:\n" + "  - {name: c, form: better, cells: {method: magnitude}}\n" * 2,
         ":20: claims: claim names must be unique; repeated: ['c']"),
    Case("claims_ratio_metric_not_measured",
         BASE + "claims:\n  - name: c\n    form: ratio_below\n    metric: decode_b1_ratio\n    cells: {method: magnitude}\n"
         "    bound: 1.0\n", ":23: claims[0].metric: decode_b1_ratio: the suite measures no decode"),
]


def _write(case: Case, tmp_path: Path) -> tuple[Path, str]:
    """The suite file of a case, and its expected first error line with the paths filled in."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("hello world. " * 400)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    path = tmp_path / f"{case.id}.yaml"
    if case.id == "not_utf8":
        path.write_bytes(b"seeds: [0]\nname: caf\xe9\n")
    elif case.id == "utf16":
        path.write_bytes(BASE.encode("utf-16"))
    elif case.id == "huge_file_50MB":
        with open(path, "wb") as f:
            f.write(BASE.encode())
            f.truncate(50_000_000)  # sparse: costs no disk
    elif case.id != "missing_suite_file":
        path.write_text(case.text.replace("{corpus}", str(corpus)).replace("{empty}", str(empty)).replace("{dir}", str(tmp_path)))
    return path, f"error: {path}" + case.expect.replace("{corpus}", str(corpus)).replace("{dir}", str(tmp_path))


def _assert_refused(rc: int, err: str, path: Path, expected: str, out: Path) -> None:
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert lines, "no message"
    assert expected in lines[0], f"\nexpected: {expected}\ngot:      {lines[0]}"
    for line in lines:  # one problem per line, each citing the file
        assert line.startswith(f"error: {path}"), line
    assert "Traceback" not in err
    assert not out.exists() or not any(out.iterdir()), f"{out} was written: {list(out.iterdir())}"


def test_catalogue_covers_every_section_and_method() -> None:
    """A new suite section or method without a malformed case of its own fails here, not in a user's hands."""
    from ecobench.config.schema import Suite
    from ecobench.prune.methods import method_names

    assert len({c.id for c in CATALOGUE}) == len(CATALOGUE)
    named = " ".join(c.expect for c in CATALOGUE)
    sections = [f for f in Suite.model_fields if not re.search(rf": {f}\b|\b{f}[.:\[]", named)]
    assert sections == [], f"sections with no malformed case: {sections}"
    methods = [m for m in method_names() if not any(m in (c.text or "") + c.expect for c in CATALOGUE)]
    assert methods == [], f"methods with no malformed case: {methods}"


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", CATALOGUE, ids=lambda c: c.id)
def test_malformed_suite_is_refused(case: Case, command: str, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # a run without --out would land in ./results: it must not appear either
    path, expected = _write(case, tmp_path)
    out = tmp_path / "out"
    extra = ["--out", str(out), "-q"] if command == "run" else []
    rc, _, err = run_inprocess([command, str(path), *extra, *set_args(list(case.sets))], capsys)
    _assert_refused(rc, err, path, expected, out)
    assert not (tmp_path / "results").exists()


def test_validate_and_run_print_the_same_messages(tmp_path: Path, capsys) -> None:
    case = next(c for c in CATALOGUE if c.id == "unknown_data_key")
    path, _ = _write(case, tmp_path)
    _, _, err_validate = run_inprocess(["validate", str(path)], capsys)
    _, _, err_run = run_inprocess(["run", str(path), "--out", str(tmp_path / "o"), "-q"], capsys)
    assert err_validate == err_run


def test_every_problem_at_once_one_line_each(tmp_path: Path, capsys) -> None:
    text = (BASE.replace("steps: 4", "steps: -4").replace("ratios: [0, 0.5]", "ratios: [0, 1.5]")
            .replace("n_layer: 1", "n_layr: 1").replace("  context: 16", "  context: 16\n  context: 8"))
    path = tmp_path / "four.yaml"
    path.write_text(text.replace("{corpus}", str(tmp_path / "corpus.txt")))
    rc, _, err = run_inprocess(["validate", str(path), "--set", "eval.bacthes=2"], capsys)
    assert rc == 2
    assert sorted(err.strip().splitlines()) == sorted([
        f"error: {path}:7: data.context: duplicate key",
        f"error: {path}: --set eval.bacthes: unknown key (did you mean 'batches'?)",
        f"error: {path}:9: model.n_layr: unknown key (did you mean 'n_layer'?)",
        f"error: {path}:13: train.steps: Input should be greater than or equal to 0, got -4",
        f"error: {path}:18: prune.ratios: ratios must be in [0, 1), got [1.5]",
    ])


def test_yaml_exponent_without_dot_is_a_number(tmp_path: Path) -> None:
    """YAML 1.1 reads `3e-4` as a string; a suite means the number, as JSON and YAML 1.2 do."""
    from ecobench.config.load import suite_from_text

    text = BASE.replace("{corpus}", "c.txt").replace("  batch_size: 4", "  batch_size: 4\n  lr: 3e-4")
    sf = suite_from_text(text, "s.yaml", ["prune.recover_lr=1e-5"])
    assert sf.suite.train.lr == 3e-4 and sf.suite.prune.recover_lr == 1e-5


SUBPROCESS_CASES = ["syntax_unclosed_list", "python_object_tag", "checksum_mismatch_path", "set_unknown_key"]


@pytest.mark.slow
@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_no_traceback_as_a_user_sees_it(case_id: str, tmp_path: Path) -> None:
    case = next(c for c in CATALOGUE if c.id == case_id)
    path, expected = _write(case, tmp_path)
    out = tmp_path / "out"
    command = "run" if case_id in ("python_object_tag", "set_unknown_key") else "validate"
    extra = ["--out", str(out)] if command == "run" else []
    proc = run_cli(command, str(path), *extra, *set_args(list(case.sets)), cwd=tmp_path)
    _assert_refused(proc.returncode, proc.stderr, path, expected, out)
    assert proc.stdout == ""
