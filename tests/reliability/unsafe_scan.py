"""An ``ast`` scanner for unsafe deserialisation and code execution on data.

Flags, with file:line: imports of ``pickle``/``cPickle``/``_pickle``/``dill``/``marshal``/
``shelve``/``joblib`` and any call through them; ``torch.load`` without ``weights_only=True``;
``eval``/``exec`` (the builtins) on anything; ``yaml.load``/``yaml.load_all`` without a safe
loader and ``yaml.unsafe_load``/``full_load``; ``numpy.load(..., allow_pickle=True)``; and
pandas' ``read_pickle``. Aliases (``import pickle as p``, ``from torch import load``) are
followed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

UNSAFE_MODULES = frozenset({"pickle", "cPickle", "_pickle", "dill", "marshal", "shelve", "joblib"})
SAFE_YAML_LOADERS = frozenset({"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"})


@dataclass(frozen=True)
class Finding:
    """One unsafe construct."""

    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str) -> None:
        self.path = path
        self.aliases: dict[str, str] = {}  # local name -> fully qualified name
        self.findings: list[Finding] = []

    def _flag(self, node: ast.AST, what: str) -> None:
        self.findings.append(Finding(self.path, getattr(node, "lineno", 0), what))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.aliases[alias.asname or alias.name.split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0]
            )
            if alias.name.split(".")[0] in UNSAFE_MODULES:
                self._flag(node, f"import of {alias.name}")
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
        if module.split(".")[0] in UNSAFE_MODULES:
            self._flag(node, f"import from {module}")
        self.generic_visit(node)

    def _qualified(self, func: ast.expr) -> str | None:
        dotted = _dotted(func)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        base = self.aliases.get(head, head)
        return f"{base}.{rest}" if rest else base

    def visit_Call(self, node: ast.Call) -> None:
        name = self._qualified(node.func)
        if name is not None:
            self._check_call(node, name)
        self.generic_visit(node)

    def _check_call(self, node: ast.Call, name: str) -> None:
        root = name.split(".")[0]
        if root in UNSAFE_MODULES:
            self._flag(node, f"call of {name}")
        elif name in ("eval", "exec", "builtins.eval", "builtins.exec"):
            self._flag(node, f"{name.split('.')[-1]}() call")
        elif name == "torch.load" and not _is_true(_kw(node, "weights_only")):
            self._flag(node, "torch.load without weights_only=True")
        elif name in ("yaml.unsafe_load", "yaml.full_load", "yaml.unsafe_load_all"):
            self._flag(node, f"{name}")
        elif name in ("yaml.load", "yaml.load_all"):
            loader = _kw(node, "Loader") or (node.args[1] if len(node.args) > 1 else None)
            loader_name = _dotted(loader) if loader is not None else None
            if loader_name is None or loader_name.split(".")[-1] not in SAFE_YAML_LOADERS:
                self._flag(node, f"{name} without a safe Loader")
        elif name in ("numpy.load", "np.load") and _is_true(_kw(node, "allow_pickle")):
            self._flag(node, "numpy.load with allow_pickle=True")
        elif name.endswith("read_pickle") and root in ("pandas", "pd"):
            self._flag(node, f"{name}")


def scan_source(source: str, path: str = "<string>") -> list[Finding]:
    """Findings in one module's source text."""
    scanner = _Scanner(path)
    scanner.visit(ast.parse(source, filename=path))
    return scanner.findings


def scan_tree(roots: list[Path], relative_to: Path) -> list[Finding]:
    """Findings in every ``*.py`` file under ``roots``."""
    findings: list[Finding] = []
    for root in roots:
        for file in sorted(root.rglob("*.py")):
            rel = str(file.relative_to(relative_to))
            findings += scan_source(file.read_text(encoding="utf-8"), rel)
    return findings
