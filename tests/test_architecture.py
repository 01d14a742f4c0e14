"""The README's architecture section, checked on the code: data flows one way, layers import only
what is below them, no module borrows another's private names, no import cycles, SQL only in store.

A change that breaks a rule fails here with the file and the import, rather than in a review."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "geova"

# what each layer must not import (prefixes of module names)
FORBIDDEN = {
    "geova.core": (
        "flask",
        "sqlalchemy",
        "geoalchemy2",
        "geova.io",
        "geova.store",
        "geova.web",
        "geova.evaluation",
        "geova.importing",
        "geova.cli",
    ),
    "geova.io": (
        "flask",
        "sqlalchemy",
        "geoalchemy2",
        "geova.store",
        "geova.web",
        "geova.evaluation",
        "geova.importing",
        "geova.cli",
    ),
    "geova.store": ("flask", "geova.io", "geova.web", "geova.evaluation", "geova.importing", "geova.cli"),
    "geova.web": ("sqlalchemy.sql", "geoalchemy2", "geova.cli", "geova.importing"),
}
# SQL is built only in geova/store: elsewhere sqlalchemy may give types and exceptions, no queries
SQL_NAMES = {"select", "insert", "update", "delete", "text", "func", "and_", "or_", "exists", "union_all"}


def _module(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, tuple[Path, ast.Module]]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        out[_module(path)] = (path, ast.parse(path.read_text(encoding="utf-8")))
    return out


SOURCES = _sources()


def _imports(tree: ast.Module, module: str, package: bool) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, names) of every import, relative ones resolved."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name, []) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                keep = len(parts) - node.level + (1 if package else 0)
                base = ".".join(parts[:keep] + ([base] if base else []))
            out.append((node.lineno, base, [a.name for a in node.names]))
    return out


def _is_package(module: str) -> bool:
    return SOURCES[module][0].name == "__init__.py"


def test_layers_import_only_what_is_below_them():
    wrong = []
    for module, (path, tree) in SOURCES.items():
        for layer, forbidden in FORBIDDEN.items():
            if module != layer and not module.startswith(layer + "."):
                continue
            for line, target, _names in _imports(tree, module, _is_package(module)):
                if any(target == f or target.startswith(f + ".") for f in forbidden):
                    wrong.append(f"{path.relative_to(REPO)}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_sql_is_built_only_in_the_store():
    wrong = []
    for module, (path, tree) in SOURCES.items():
        if module.startswith("geova.store") or module in ("geova.store",):
            continue
        for line, target, names in _imports(tree, module, _is_package(module)):
            if target.split(".")[0] == "sqlalchemy":
                built = sorted(set(names) & SQL_NAMES)
                if built:
                    wrong.append(f"{path.relative_to(REPO)}:{line} imports {', '.join(built)} from {target}")
    assert not wrong, "\n".join(wrong)


def test_no_private_name_is_borrowed_from_another_module():
    wrong = []
    for module, (path, tree) in SOURCES.items():
        for line, target, names in _imports(tree, module, _is_package(module)):
            if not target.startswith("geova") or target == module:
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private:
                wrong.append(f"{path.relative_to(REPO)}:{line} imports {', '.join(private)} from {target}")
    assert not wrong, "\n".join(wrong)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, (_path, tree) in SOURCES.items():
        for _line, target, names in _imports(tree, module, _is_package(module)):
            if not target.startswith("geova"):
                continue
            # `from geova.web import api` imports the module geova.web.api
            found = [f"{target}.{n}" for n in names if f"{target}.{n}" in SOURCES]
            for dep in found or [target]:
                if dep in SOURCES and dep != module:
                    graph[module].add(dep)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


@pytest.mark.parametrize("layer", ["geova.core", "geova.io", "geova.store", "geova.web", "geova.importing"])
def test_no_import_cycles(layer):
    """Packages import their submodules from __init__ (blueprint registration), which is not a cycle
    of meaning; every other mutual dependency is."""
    graph = {
        m: {d for d in deps if not (_is_package(d) and m.startswith(d + "."))}
        for m, deps in _graph().items()
        if m.startswith(layer)
    }
    graph = {m: {d for d in deps if d.startswith(layer) and not _is_package(m)} for m, deps in graph.items()}
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])
