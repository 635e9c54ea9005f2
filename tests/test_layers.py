"""gdln's shape: every gdln import at module top, no import cycle, and layers that import only downward.

The layers, lowest first (each subpackage's docstring says the same): util; core and data (side by
side, neither imports the other); theory; tasks; engines; figures; book and sweep (side by side). A module may import its own
subpackage and any lower layer, never a higher one or a sibling of its own rank.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "gdln"
RANK = {"util": 0, "core": 1, "data": 1, "theory": 2, "tasks": 3, "engines": 4, "figures": 5, "book": 6, "sweep": 6}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PKG.rglob("*.py"))}


def _target(node: ast.ImportFrom | ast.Import, module: str, is_pkg: bool) -> list[str]:
    """The gdln modules an import statement names (resolving relative imports)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "gdln"]
    base = node.module or ""
    if node.level:
        pkg = module.split(".") if is_pkg else module.split(".")[:-1]
        pkg = pkg[: len(pkg) - (node.level - 1)]
        base = ".".join(pkg + ([base] if base else []))
    if base.split(".")[0] != "gdln":
        return []
    out = []
    for a in node.names:  # `from gdln.tasks import routing` names the module gdln.tasks.routing
        out.append(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base)
    return out


MODULES = _modules()
IS_PKG = {_module_name(p): p.name == "__init__.py" for p in PKG.rglob("*.py")}


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for m, tree in MODULES.items():
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges[m].update(t for t in _target(node, m, IS_PKG[m]) if t != m)
    return edges


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_subpackage_has_a_rank_and_a_docstring():
    for sub in sorted(p.parent.name for p in PKG.glob("*/__init__.py")):
        assert sub in RANK, f"gdln.{sub} has no layer in RANK"
        doc = ast.get_docstring(MODULES[f"gdln.{sub}"])
        assert doc and "May import" in doc, f"gdln.{sub}/__init__.py must say what it is for and what it may import"


def test_no_gdln_import_inside_a_function_or_class():
    nested = []
    for m, tree in MODULES.items():
        top = set(map(id, tree.body))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
                if _target(node, m, IS_PKG[m]) or (isinstance(node, ast.ImportFrom) and node.level):
                    nested.append(f"{m}:{node.lineno}")
    assert not nested, f"gdln imports below module top: {nested}"


def test_layers_import_only_downward():
    bad = []
    for m, targets in _edges().items():
        lm = _layer(m)
        for t in targets:
            lt = _layer(t)
            if lm is None or lt is None:  # gdln/__init__ (the public API) may import anything;
                if lt is None and lm is not None and t == "gdln":  # ... but nothing imports it back
                    bad.append(f"{m} -> gdln (the public API)")
                continue
            if lm != lt and RANK[lt] >= RANK[lm]:
                bad.append(f"{m} ({lm}, rank {RANK[lm]}) -> {t} ({lt}, rank {RANK[lt]})")
    assert not bad, "imports that go up or sideways between layers:\n" + "\n".join(bad)


def test_module_graph_is_acyclic():
    edges = _edges()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges.get(m, ())):
            if t not in edges:
                continue
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)


@pytest.mark.parametrize("source, expected", [
    ("from gdln.engines.routing import train_routing", False),   # a core module reaching up: caught
])
def test_the_layer_check_can_fail(source, expected):
    tree = ast.parse(source)
    targets = _target(tree.body[0], "gdln.core.fake", False)
    assert targets == ["gdln.engines.routing"]
    assert (RANK[_layer(targets[0])] < RANK["core"]) is expected
