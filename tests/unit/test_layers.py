"""The layers of ARCHITECTURE.md as a test: dependencies point downward, and no module
imports itself back through another.

Every ``import`` in ``src/`` counts, a function's own imports included, except those
under ``if TYPE_CHECKING:`` (they never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "scrapeline"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node but those inside ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def imports_of(name: str) -> set[str]:
    """The modules of scrapeline that ``name`` imports when it runs."""
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("scrapeline"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not node.module.startswith("scrapeline"):
                continue
            for alias in node.names:
                inner = f"{node.module}.{alias.name}"
                found.add(inner if inner in MODULES else node.module)
    found.discard(name)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def test_the_walk_finds_the_package_and_its_imports() -> None:
    # the rules below mean nothing if the walk reads no imports
    assert "scrapeline.ledger.sqlite" in GRAPH
    assert "scrapeline.errors" in GRAPH["scrapeline.ledger.sqlite"]
    assert "scrapeline.events" in GRAPH["scrapeline.runner.run"]


def _within(module: str, layer: str) -> bool:
    return module == layer or module.startswith(layer + ".")


FORBIDDEN = [
    # (layer, what it must not import)
    ("scrapeline.model", ["scrapeline"]),
    ("scrapeline.errors", ["scrapeline"]),
    (
        "scrapeline.ledger",
        [
            "scrapeline.pipeline",
            "scrapeline.runner",
            "scrapeline.fetch",
            "scrapeline.observe",
            "scrapeline.workspace",
            "scrapeline.cli",
            "scrapeline.context",
        ],
    ),
    (
        "scrapeline.fetch",
        [
            "scrapeline.runner",
            "scrapeline.pipeline",
            "scrapeline.ledger",
            "scrapeline.observe",
            "scrapeline.workspace",
            "scrapeline.cli",
        ],
    ),
    ("scrapeline.runner", ["scrapeline.observe", "scrapeline.workspace", "scrapeline.cli"]),
    ("scrapeline.observe", ["scrapeline.runner", "scrapeline.workspace", "scrapeline.cli"]),
    ("scrapeline.workspace", ["scrapeline.ops", "scrapeline.cli"]),
    ("scrapeline.ops", ["scrapeline.cli"]),
]
ALLOWED_BELOW = {
    "scrapeline.model": {"scrapeline.errors", "scrapeline.secrets"},
    "scrapeline.errors": {"scrapeline.secrets"},
}


@pytest.mark.parametrize(("layer", "banned"), FORBIDDEN, ids=[f[0] for f in FORBIDDEN])
def test_a_layer_imports_nothing_above_it(layer: str, banned: list[str]) -> None:
    allowed = ALLOWED_BELOW.get(layer, set())
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if _within(module, layer)
        for target in targets
        if target not in allowed and any(_within(target, b) for b in banned)
    )
    assert not wrong, "\n".join(wrong)


def _cycle() -> list[str] | None:
    """One import cycle among the modules, or None (depth-first, three colours)."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for target in sorted(GRAPH.get(name, ())):
            if target not in GRAPH:
                continue
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return None

    for name in sorted(GRAPH):
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None


def test_no_module_imports_itself_back() -> None:
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        GRAPH, "scrapeline.errors", {*GRAPH["scrapeline.errors"], "scrapeline.cli.main"}
    )
    cycle = _cycle()
    assert cycle is not None and "scrapeline.errors" in cycle
