"""The import graph of tf3dgan, variants and data_io: no cycle, and no arrow running back up.

The layers are the rows of README.md's table under "## The package", top to bottom (``readme_layers``): every
module lies in one of them, and imports only from its own layer or those below it. The README states the
order once; this file reads it.

Every import statement counts, at module level or inside a function (a deferred import is still a
dependency). ``from package import name`` is an edge to ``package.name`` when that is a module, else to
the package itself. Importing ``a.b`` also runs ``a/__init__.py``; those implicit edges are not counted,
since a package's ``__init__`` importing its own modules is no cycle of the design.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("tf3dgan", "variants", "data_io")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from .x import y
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    targets.append(sub if sub in files else module)
            for target in targets:
                while target not in files and "." in target:  # import a.b.c where only a.b is ours: a.b
                    target = target.rsplit(".", 1)[0]
                if target in files and target != name:
                    graph[name].add(target)
    return graph


def strongly_connected_components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative): the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert strongly_connected_components({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle():
    assert strongly_connected_components(import_graph()) == []


def readme_layers() -> list[tuple[str, ...]]:
    """The layers README.md states, top to bottom: the rows of the table under "## The package", each as the
    modules its first column names (``tf3dgan/nn/``: ``tf3dgan.nn`` and all below it; ``tf3dgan/cli.py``:
    ``tf3dgan.cli``); paths outside tf3dgan, variants and data_io (configs/, tests/) are left out."""
    section = (REPO / "README.md").read_text().split("\n## The package\n", 1)[1].split("\n## ", 1)[0]
    layers = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        paths = re.findall(r"`([^`]+)`", line.split("|")[1])
        modules = tuple(_module_name(REPO / path) for path in paths if path.split("/")[0] in PACKAGES)
        if modules:
            layers.append(modules)
    return layers


def layer_of(module: str, layers: list[tuple[str, ...]]) -> int | None:
    """The index of the row that holds ``module``: a file's row, else the row of the deepest folder above it."""
    best, depth = None, -1
    for index, row in enumerate(layers):
        for entry in row:
            is_folder = (REPO / entry.replace(".", "/")).is_dir()
            if module == entry and not is_folder:
                return index
            if is_folder and (module == entry or module.startswith(entry + ".")) and entry.count(".") > depth:
                best, depth = index, entry.count(".")
    return best


def test_the_readme_states_the_layers():
    layers = readme_layers()
    assert ("tf3dgan.commands", "tf3dgan.cli") == layers[0] and layers[-1] == ("data_io",)
    named = [entry for row in layers for entry in row]
    assert len(named) == len(set(named)), "a path stands in two rows"
    for entry in named:
        assert (REPO / entry.replace(".", "/")).is_dir() or (REPO / (entry.replace(".", "/") + ".py")).is_file() \
            or entry in import_graph(), f"README.md names {entry}, which does not exist"


def test_every_module_has_a_layer():
    layers = readme_layers()
    assert [m for m in sorted(import_graph()) if layer_of(m, layers) is None] == []


def test_every_module_imports_only_its_own_layer_or_those_below():
    """The README's order, top to bottom: a module may import from its own row or from any row below it."""
    layers = readme_layers()
    upward = [f"{m} ({', '.join(layers[layer_of(m, layers)])}) imports {t} ({', '.join(layers[layer_of(t, layers)])})"
              for m, targets in sorted(import_graph().items()) for t in sorted(targets)
              if layer_of(t, layers) < layer_of(m, layers)]
    assert upward == []


def test_the_layer_check_sees_an_upward_import():
    layers = [("tf3dgan.evaluation",), ("tf3dgan.generation",), ("data_io",)]
    assert layer_of("tf3dgan.generation.latent_space", layers) == 1
    assert layer_of("data_io.voxel_geometry", layers) == 2
    assert layer_of("tf3dgan.evaluation.shape_metrics", layers) < layer_of("tf3dgan.generation.latent_space", layers)


def _edges(prefix: str):
    for module, targets in import_graph().items():
        if module == prefix or module.startswith(prefix + "."):
            for target in targets:
                yield module, target


def test_errors_imports_nothing_of_tf3dgan():
    assert [(m, t) for m, t in _edges("tf3dgan.errors") if not t.startswith("data_io")] == []


def test_the_package_api_and_the_command_line_are_imported_by_nothing_below():
    # Inside the package, code imports names from their home module, not from tf3dgan/__init__.py.
    assert [(m, t) for m, t in import_graph().items() for t in t if t == "tf3dgan" and m != "tf3dgan"] == []


def test_commands_do_not_import_each_other():
    siblings = [(m, t) for m, t in _edges("tf3dgan.commands")
                if t.startswith("tf3dgan.commands.") or t == "tf3dgan.cli"]
    assert siblings == []
