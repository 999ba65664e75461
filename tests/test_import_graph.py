"""The modules of ``memos`` import each other without cycles.

Every ``import`` counts, wherever it is written (module level, inside a function, under
``TYPE_CHECKING``): a cycle hidden behind a deferred or type-only import is still two modules
that cannot be understood, tested or moved one without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import memos

PACKAGE_ROOT = Path(memos.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE_ROOT.rglob("*.py"))}


def _imported(node: ast.AST, package: str) -> list[str]:
    """The dotted names an import statement refers to (``from a import b`` gives a.b and a)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        return [f"{base}.{alias.name}" for alias in node.names] + [base]
    return []


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The module a dotted name lives in (``memos.llms.kv.cache_view`` -> ``memos.llms.kv``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the memos modules it imports anywhere in its source."""
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for name in _imported(node, package):
                owner = _owner(name, modules)
                if owner is not None and owner != module and not module.startswith(owner + "."):
                    targets.add(owner)
        graph[module] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (``[a, b, ..., a]``), or None when the graph is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found is not None:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found is not None:
                return found
    return None


def test_memos_modules_import_each_other_without_cycles() -> None:
    graph = import_graph(_modules())
    assert "memos.llms.kv" in graph["memos.llms.kv_room"]
    assert "memos.mem_os.cube_handle" in graph["memos.mem_os.main"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_reports_a_cycle_through_a_deferred_import(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("import b\n", encoding="utf-8")
    (tmp_path / "b.py").write_text("def f():\n    from a import g\n", encoding="utf-8")
    modules = {"a": tmp_path / "a.py", "b": tmp_path / "b.py"}
    assert find_cycle(import_graph(modules)) == ["a", "b", "a"]
