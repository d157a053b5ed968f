"""The import layering of DESIGN.md ("Each layer depends only on the layers above it") and no
import cycles, by an AST walk over src/attnkit: every ``import`` and ``from ... import``, at module
level or inside functions and classes (those hide cycles), relative imports resolved.

Layers (docs/architecture.md; DESIGN.md's table with decoding and evaluation moved below the
tasks, whose evaluate and predict use them): 0 the root helpers (``registry``, ``errors``,
``schema``, ``io``, ``machine``, ``references``, the package ``__init__``, whose lazy attributes
``attnkit.load_run``... name their higher-layer modules as strings, imported on first use, never by
``import attnkit``); 1 functional, losses; 2 nn; 3 models; 4 data, decoding, evaluation; 5 tasks;
6 config, training, pretrained; 7 studies, viz; 8 cli, explore, notebook.
Imports between packages of one layer are allowed (cycles are caught separately).

Known violations are listed in ALLOWED_UPWARD and ALLOWED_CYCLES. Each entry is a strict xfail:
when the code is fixed the entry's test passes, which fails the run until the entry is removed,
so the lists cannot go stale. Any violation not listed fails ``test_no_upward_imports`` /
``test_no_import_cycles``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "attnkit"

LAYERS = {
    "": 0,
    "registry": 0,
    "errors": 0,
    "schema": 0,
    "io": 0,
    "machine": 0,
    "references": 0,
    "progress": 0,
    "heads": 0,  # ""=__init__
    "capabilities": 0,
    "predictions": 0,
    "functional": 1,
    "losses": 1,
    "nn": 2,
    "models": 3,
    "data": 4,
    "decoding": 4,
    "evaluation": 4,
    "tasks": 5,
    "config": 6,
    "training": 6,
    "pretrained": 6,
    "export": 6,
    "studies": 7,
    "viz": 7,
    "cli": 8,
    "explore": 8,
    "notebook": 8,
}

# (importer, imported) upward imports in today's code; remove an entry when it is fixed.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}

# Strongly connected components of the import graph in today's code (as sets of modules).
ALLOWED_CYCLES: dict[frozenset[str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module named by a ``from`` import (relative ones resolved against `importer`)."""
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    if node.level > 1:
        base = base[: -(node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """Module -> the attnkit modules it imports anywhere in its file. ``from P import x`` counts
    as an import of the module P.x when that module exists, else of P; ``import P.Q`` of P.Q."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node)
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names
                ]
            for target in targets:
                if target == PACKAGE or target.startswith(PACKAGE + "."):
                    while target not in modules:  # e.g. `import attnkit.x.y` of a name, not a file
                        target = target.rsplit(".", 1)[0]
                    if target != name:
                        graph[name].add(target)
    return graph


def layer(module: str) -> float:
    top = module.split(".")[1] if "." in module else ""
    if top not in LAYERS:
        raise AssertionError(f"{module}: package {top!r} has no layer; add it to DESIGN.md and LAYERS")
    return LAYERS[top]


def upward_imports(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(a, b) for a, targets in graph.items() for b in targets if layer(b) > layer(a)}


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _describe_upward(pairs) -> str:
    return "\n".join(f"  {a} (layer {layer(a):g}) -> {b} (layer {layer(b):g})" for a, b in sorted(pairs))


def _describe_cycle(component: frozenset[str], graph: dict[str, set[str]]) -> str:
    edges = sorted((a, b) for a in component for b in graph[a] if b in component)
    return "  cycle among " + ", ".join(sorted(component)) + "\n" + "\n".join(f"    {a} -> {b}" for a, b in edges)


GRAPH = import_graph()


def test_the_walk_sees_imports_inside_functions_and_relative_imports():
    # config imports the tasks' registry inside a function, and io with a relative import
    assert {"attnkit.tasks", "attnkit.io"} <= GRAPH["attnkit.config"]
    assert "attnkit.functional.attention" in GRAPH["attnkit.functional.hard"]  # from .attention import
    assert "attnkit.training.distributed" in GRAPH["attnkit.training.trainer"]  # from . import distributed
    assert "attnkit.data" in GRAPH["attnkit.training.trainer"]  # from ..data import (the package)
    assert {m.split(".")[1] if "." in m else "" for m in GRAPH} <= set(LAYERS)  # every module has a layer
    assert len(GRAPH) == len(list((SRC / PACKAGE).rglob("*.py"))) > 60


def test_the_checks_catch_made_up_violations():
    graph = {
        "attnkit.functional.x": {"attnkit.cli.y"},
        "attnkit.cli.y": {"attnkit.functional.x"},
        "attnkit.nn.z": set(),
    }
    assert upward_imports(graph) == {("attnkit.functional.x", "attnkit.cli.y")}
    assert cycles(graph) == [frozenset({"attnkit.functional.x", "attnkit.cli.y"})]


def test_no_upward_imports():
    unexpected = upward_imports(GRAPH) - set(ALLOWED_UPWARD)
    assert not unexpected, (
        "upward imports (DESIGN.md: each layer depends only on the layers above it):\n" + _describe_upward(unexpected)
    )


def test_no_import_cycles():
    unexpected = [c for c in cycles(GRAPH) if c not in ALLOWED_CYCLES]
    assert not unexpected, "import cycles:\n" + "\n".join(_describe_cycle(c, GRAPH) for c in unexpected)


@pytest.mark.parametrize(
    "pair",
    [
        pytest.param(pair, id=f"{pair[0]}->{pair[1]}", marks=pytest.mark.xfail(strict=True, reason=reason))
        for pair, reason in ALLOWED_UPWARD.items()
    ],
)
def test_known_upward_import_is_fixed(pair):
    assert pair not in upward_imports(GRAPH), "still there:\n" + _describe_upward([pair])


@pytest.mark.parametrize(
    "component",
    [
        pytest.param(
            c, id="+".join(sorted(m.rsplit(".", 1)[-1] for m in c)), marks=pytest.mark.xfail(strict=True, reason=reason)
        )
        for c, reason in ALLOWED_CYCLES.items()
    ],
)
def test_known_cycle_is_fixed(component):
    assert component not in cycles(GRAPH), "still there:\n" + _describe_cycle(component, GRAPH)
