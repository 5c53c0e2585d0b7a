"""The import graph of tf3dgan, variants and data_io: no cycle, and no arrow running back up.

Every import statement counts, at module level or inside a function (a deferred import is still a
dependency). ``from package import name`` is an edge to ``package.name`` when that is a module, else to
the package itself. Importing ``a.b`` also runs ``a/__init__.py``; those implicit edges are not counted,
since a package's ``__init__`` importing its own modules is no cycle of the design.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("tf3dgan", "variants", "data_io")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


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


def _edges(prefix: str):
    for module, targets in import_graph().items():
        if module == prefix or module.startswith(prefix + "."):
            for target in targets:
                yield module, target


def test_data_io_imports_nothing_above_it():
    assert [(m, t) for m, t in _edges("data_io") if not t.startswith("data_io")] == []


def test_errors_and_variants_stay_below_config_and_training():
    assert [(m, t) for m, t in _edges("tf3dgan.errors") if not t.startswith("data_io")] == []
    allowed = ("variants", "tf3dgan.errors", "tf3dgan.nn", "tf3dgan.cpu")
    assert [(m, t) for m, t in _edges("variants") if not t.startswith(allowed)] == []


def test_lower_layers_do_not_import_commands_cli_or_the_package_api():
    upward = [(m, t) for m, t in import_graph().items() for t in t
              if not m.startswith(("tf3dgan.commands", "tf3dgan.cli"))
              and (t.startswith("tf3dgan.commands") or t == "tf3dgan.cli")]
    assert upward == []
    # Inside the package, code imports names from their home module, not from tf3dgan/__init__.py.
    assert [(m, t) for m, t in import_graph().items() for t in t if t == "tf3dgan" and m != "tf3dgan"] == []


def test_commands_do_not_import_each_other():
    siblings = [(m, t) for m, t in _edges("tf3dgan.commands")
                if t.startswith("tf3dgan.commands.") or t == "tf3dgan.cli"]
    assert siblings == []
