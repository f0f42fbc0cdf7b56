"""No import cycles among the engine's modules, counting the imports hidden
in function bodies (``engine/trainers/images.py`` and ``images_classic.py``
imported each other that way), and no lazy import that runs up the layers
(``engine/system.py`` and ``engine/figures`` reached up into the kinds)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def engine_imports() -> dict[str, set[str]]:
    """Module -> the engine modules it imports anywhere (top level or inside a
    function), a package's imports of its own submodules left out."""
    modules = {module_name(p): p for p in (ROOT / "engine").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                # a package that loads its own plug-ins (engine.executors.make) is not a circle of layers
                if target and target != name and target != "engine" and not target.startswith(name + "."):
                    found.add(target)
        graph[name] = found
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_the_trainers_import_no_circle():
    graph = engine_imports()
    assert "engine.trainers.images" not in graph["engine.trainers.images_classic"]
    assert not [c for c in cycles(graph) if any(m.startswith("engine.trainers") for m in c)]


def test_the_lower_layers_never_import_the_kinds():
    graph = engine_imports()
    for low in ("engine.system", "engine.figures", "engine.io", "engine.events", "engine.config", "engine.errors"):
        assert not {m for m in graph[low] if m.startswith("engine.kinds")}, low


def test_the_engine_has_no_import_cycle():
    assert cycles(engine_imports()) == []
