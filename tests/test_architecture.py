"""The package's shape: no import cycle, layers that import only below them, no restated defaults."""

from __future__ import annotations

import ast
from pathlib import Path

from brainreps.config import definition_defaults

SRC = Path(__file__).resolve().parents[1] / "src" / "brainreps"


def module_name(path: Path) -> str:
    """brainreps.x.y for src/brainreps/x/y.py (and brainreps.x for x/__init__.py)."""
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the brainreps modules it imports anywhere in its source (lazy imports too)."""
    modules = {module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    base = f"{base}.{node.module}" if node.module else base
                # `from pkg import mod` imports the module pkg.mod when there is one
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

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


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    assert "brainreps.spikes.benchmark" in graph["brainreps.spikes.pipeline"]
    assert "brainreps.config_checks" in graph["brainreps.config"]  # imported inside a function


def test_the_package_has_no_import_cycle():
    assert cycles(import_graph()) == []


# What each sub-package may import from the rest of brainreps: the foundation modules, and
# nothing of the stages that use it.
FOUNDATION = {
    "brainreps",
    "brainreps.config",
    "brainreps.config_checks",
    "brainreps.device",
    "brainreps.io",
    "brainreps.logs",
}


def test_spikes_imports_nothing_above_it():
    graph = import_graph()
    outside = {
        f"{name} -> {target}"
        for name, targets in graph.items()
        if name.startswith("brainreps.spikes")
        for target in targets
        if not target.startswith("brainreps.spikes") and target not in FOUNDATION
    }
    assert outside == set()


def test_plots_draw_from_arrays_and_import_no_stage():
    graph = import_graph()
    outside = {
        f"{name} -> {target}"
        for name, targets in graph.items()
        if name.startswith("brainreps.plots")
        for target in targets
        if not target.startswith("brainreps.plots") and target not in FOUNDATION
    }
    assert outside == set()


def test_definition_defaults_follow_references():
    model = definition_defaults("models#model")
    assert model["layers"] == {"every": 1, "of": "blocks"}  # the default of the $ref'd layer_spec
    assert "arch" not in model  # required, no default
