"""The house's import rules, drawn from the code itself: no import cycle between modules, and no module importing one
that the layer list below puts higher. Every import counts: module level, inside functions, under TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "ecobench"

# One line per layer, lowest first; a module may import its own layer and the ones below. A name covers a module or a
# package (its longest listed prefix decides). Cycles are refused inside a layer too. errors, safefile and config are
# the ground (config imports no other package of ecobench but the two leaves errors and safefile); report.units is a leaf (it imports nothing of ecobench) that
# the accounting and the forecast print with, so it sits low although it lives in report/.
LAYERS = """
errors safefile config
atomic signals record integrity device footprint sweep report.units
data
train families models domains
prune
store results dense measure cell accounting run_parts forecast provenance executors runner grid gpucheck suites claims kernels limits
report
cli __main__
"""
# Within or across layers, these never import each other's package (first -> second): data is read by models and
# pruning, never the other way; pruning receives calibration batches, not data objects.
APART = (("data", "models"), ("prune", "data"))


def module_names(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under `root` (a package directory); packages by their __init__."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: dict[str, Path]) -> list[str]:
    """The modules of the package that one import statement reads (a `from pkg import name` reads pkg.name when it is a
    module, else pkg)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".")[: len(module.split(".")) - (0 if is_package else 1)]
            base = base[: len(base) - (node.level - 1)]
            stem = ".".join(base + ([node.module] if node.module else []))
        else:
            stem = node.module or ""
        names = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in known else stem for a in node.names]
    out = []
    for name in names:
        while name and name not in known:  # `import pkg.mod.attr` or a name inside a module: the module it is in
            name = name.rpartition(".")[0]
        if name:
            out.append(name)
    return out


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (anywhere in its body), itself left out."""
    known = module_names(root)
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        is_package = path.name == "__init__.py"
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                deps.update(_targets(module, is_package, node, known))
        deps.discard(module)
        graph[module] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan), each sorted: the import circles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def parse_layers(text: str, package: str) -> dict[str, int]:
    """'a b\\nc' -> {'pkg.a': 0, 'pkg.b': 0, 'pkg.c': 1}; the package itself (its __init__) is the ground."""
    layers = {package: 0}
    for level, line in enumerate(ln for ln in text.splitlines() if ln.strip()):
        for name in line.split():
            layers[f"{package}.{name}"] = level
    return layers


def layer_of(module: str, layers: dict[str, int]) -> int | None:
    """The layer of the longest listed prefix; the package's own __init__ only by its exact name."""
    name = module
    while "." in name:
        if name in layers:
            return layers[name]
        name = name.rpartition(".")[0]
    return layers.get(module)


def back_up_imports(graph: dict[str, set[str]], layers: dict[str, int]) -> list[str]:
    """'a -> b' for every import of a module in a higher layer than the importer's."""
    out = []
    for m in sorted(graph):
        for d in sorted(graph[m]):
            low, high = layer_of(m, layers), layer_of(d, layers)
            if low is not None and high is not None and high > low:  # unplaced modules are reported apart
                out.append(f"{m} (layer {low}) -> {d} (layer {high})")
    return out


def unplaced(graph: dict[str, set[str]], layers: dict[str, int]) -> list[str]:
    return sorted(m for m in graph if layer_of(m, layers) is None)


def apart_imports(graph: dict[str, set[str]], package: str, apart: tuple[tuple[str, str], ...]) -> list[str]:
    """'a -> b' for every import from a package of the first name of a pair into the second's."""

    def inside(module: str, name: str) -> bool:
        return module == f"{package}.{name}" or module.startswith(f"{package}.{name}.")

    return [f"{m} -> {d}" for m in sorted(graph) for d in sorted(graph[m])
            for a, b in apart if inside(m, a) and inside(d, b)]


def check(root: Path, layer_text: str, apart: tuple[tuple[str, str], ...] = ()) -> list[str]:
    """Every breach of the rules, one line each (empty: the package keeps them)."""
    graph = import_graph(root)
    layers = parse_layers(layer_text, root.name)
    return ([f"not in the layer list: {m}" for m in unplaced(graph, layers)]
            + [f"import cycle: {' <-> '.join(c)}" for c in cycles(graph)]
            + [f"imports a higher layer: {line}" for line in back_up_imports(graph, layers)]
            + [f"imports a package it must not: {line}" for line in apart_imports(graph, root.name, apart)])


def test_ecobench_keeps_its_layers():
    problems = check(ROOT, LAYERS, APART)
    assert not problems, "\n".join(problems)


LEAVES = ("ecobench.errors", "ecobench.safefile")  # modules at the ground that import nothing of ecobench but errors


def test_the_leaves_stay_leaves():
    graph = import_graph(ROOT)
    assert {m: sorted(graph[m]) for m in LEAVES} == {"ecobench.errors": [], "ecobench.safefile": ["ecobench.errors"]}


def test_the_config_layer_imports_nothing_of_the_library():
    graph = import_graph(ROOT)
    outside = [f"{m} -> {d}" for m in graph if m.startswith("ecobench.config") for d in graph[m]
               if not d.startswith("ecobench.config") and d not in LEAVES]
    assert not outside, outside


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    """A throwaway package `pkg` in tmp_path with these modules (path -> source); never imported, only read."""
    root = tmp_path / "pkg"
    for rel, text in {"__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


_LOW_HIGH = "low\nhigh\n"


def test_the_checker_passes_a_package_that_keeps_the_rules(tmp_path: Path):
    root = _package(tmp_path, {"low/__init__.py": "", "low/a.py": "import os\n",
                               "high/__init__.py": "", "high/b.py": "from pkg.low import a\nfrom ..low.a import x\n"})
    assert check(root, _LOW_HIGH) == []


def test_the_checker_finds_a_cycle_through_a_function_level_import(tmp_path: Path):
    root = _package(tmp_path, {
        "low/__init__.py": "",
        "low/a.py": "from pkg.low.b import f\n",
        "low/b.py": "def f():\n    from pkg.low import a  # a cycle even though it runs late\n    return a\n",
    })
    assert check(root, _LOW_HIGH) == ["import cycle: pkg.low.a <-> pkg.low.b"]


def test_the_checker_finds_a_cycle_through_type_checking_and_relative_imports(tmp_path: Path):
    root = _package(tmp_path, {
        "low/__init__.py": "",
        "low/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import T\n",
        "low/b.py": "from . import c\n",
        "low/c.py": "import pkg.low.a\n",
    })
    assert check(root, _LOW_HIGH) == ["import cycle: pkg.low.a <-> pkg.low.b <-> pkg.low.c"]


def test_the_checker_finds_an_import_that_runs_back_up(tmp_path: Path):
    root = _package(tmp_path, {"low/__init__.py": "", "low/a.py": "def f():\n    from pkg.high.b import g\n",
                               "high/__init__.py": "", "high/b.py": "def g():\n    pass\n"})
    assert check(root, _LOW_HIGH) == ["imports a higher layer: pkg.low.a (layer 0) -> pkg.high.b (layer 1)"]


def test_the_checker_finds_a_forbidden_pair_and_an_unplaced_module(tmp_path: Path):
    root = _package(tmp_path, {"low/__init__.py": "", "low/a.py": "", "high/__init__.py": "",
                               "high/b.py": "from pkg.low import a\n", "stray.py": ""})
    assert check(root, _LOW_HIGH, (("high", "low"),)) == ["not in the layer list: pkg.stray",
                                                          "imports a package it must not: pkg.high.b -> pkg.low.a"]


@pytest.mark.parametrize("edit", ["cycle", "back-up"])
def test_the_checker_fails_on_ecobench_with_one_bad_import_added(tmp_path: Path, edit: str):
    """The real package, copied, with one bad import added: the test above would fail."""
    import shutil

    root = tmp_path / "ecobench"
    shutil.copytree(ROOT, root, ignore=shutil.ignore_patterns("__pycache__"))
    bad = {"cycle": ("errors.py", "\ndef _late():\n    from ecobench import atomic  # noqa\n"),
           "back-up": ("config/base.py", "\ndef _late():\n    from ecobench.prune import masks  # noqa\n")}[edit]
    if edit == "cycle":  # atomic (a layer above errors) importing errors, and errors importing atomic: both rules
        (root / "atomic.py").write_text((root / "atomic.py").read_text() + "\nfrom ecobench import errors  # noqa\n")
    path = root / bad[0]
    path.write_text(path.read_text() + bad[1])
    problems = check(root, LAYERS, APART)
    assert problems, "the checker missed an added bad import"
    if edit == "cycle":
        assert any(p.startswith("import cycle: ") and "ecobench.atomic" in p and "ecobench.errors" in p
                   for p in problems), problems
    else:
        assert "imports a higher layer: ecobench.config.base (layer 0) -> ecobench.prune.masks (layer 4)" in problems
