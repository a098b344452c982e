"""House rule 2: the core cannot see the edges."""

from __future__ import annotations

import ast
from pathlib import Path

import tuneyard


def test_errors_are_not_http_below_api() -> None:
    """No HTTPException outside tuneyard/api (rule 4)."""
    root = Path(tuneyard.__file__).parent
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "HTTPException" in path.read_text() and path.relative_to(root).parts[0] != "api"
    ]
    assert offenders == []


# -- the import graph: no cycles, datasets below core, no vendor in core ----------------

ROOT = Path(tuneyard.__file__).parent
VENDORS = ("clova", "dashscope", "qianfan", "openai", "bce")


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its `__init__`)."""
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the tuneyard modules it imports, read from the source: every `import` and
    `from … import`, at top level, under `if TYPE_CHECKING:` and inside functions."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.append(full if full in modules else base)
            for target in targets:
                while target and target not in modules:  # `import a.b.c` names a.b.c
                    target = target.rpartition(".")[0]
                if target and target != name and target.startswith("tuneyard"):
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def _unit(module: str) -> str:
    """The top-level node a module belongs to: `tuneyard.core`, `tuneyard.kinds`, …"""
    return ".".join(module.split(".")[:2])


def test_find_cycle_reports_the_ring() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_type_checking_and_function_imports() -> None:
    graph = import_graph()
    assert "tuneyard.core.ports" in graph["tuneyard.core.service"]
    assert "tuneyard.core.jobs" in graph["tuneyard.core.ports"]


def test_no_module_imports_itself_back() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle between modules: " + " -> ".join(cycle or [])


def test_no_top_level_package_imports_itself_back() -> None:
    packages: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        if module == "tuneyard":
            continue
        edges = packages.setdefault(_unit(module), set())
        edges.update(_unit(t) for t in targets if t != "tuneyard" and _unit(t) != _unit(module))
    cycle = find_cycle(packages)
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle or [])


def test_datasets_import_nothing_from_core() -> None:
    graph = import_graph()
    leaks = sorted(
        f"{m} -> {t}"
        for m, targets in graph.items()
        if _unit(m) == "tuneyard.datasets"
        for t in targets
        if _unit(t) == "tuneyard.core"
    )
    assert not leaks, leaks


def test_core_names_no_vendor() -> None:
    """Code, strings, docstrings and comments of `tuneyard/core` name no vendor: a
    dialect's choices reach the core as neutral values (an id style, an opaque dialect)."""
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "core").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if any(vendor in line.lower() for vendor in VENDORS)
    ]
    assert not found, "\n".join(found)


EDGES = ("fastapi", "starlette", "sqlalchemy", "alembic", "torch", "transformers", "peft", "ray")
"""Third-party packages the core (and the datasets it reads with) may never reach."""


def _third_party(path: Path) -> set[str]:
    """The top-level names of the non-tuneyard modules a file imports (anywhere in it)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names - {"tuneyard"}


def test_core_and_datasets_cannot_reach_the_edges() -> None:
    """House rule 2, read from the source: nothing the core or the datasets import, however
    indirectly, imports web, ORM, torch or Ray code (tests/integration checks the same in
    a fresh interpreter)."""
    graph, modules = import_graph(), _modules()
    for package in ("tuneyard.core", "tuneyard.datasets"):
        seen: set[str] = set()
        todo = [m for m in graph if _unit(m) == package]
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo.extend(graph[module])
        leaks = sorted(
            f"{m} imports {name}"
            for m in seen
            for name in _third_party(modules[m])
            if name in EDGES
        )
        assert not leaks, f"{package} reaches the edges: {leaks}"
