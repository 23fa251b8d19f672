"""The package's static import graph has no cycle, and the front ends route through
`modelrouter.routing` instead of calling the classifier or the LLM router themselves.

Every `import` / `from … import` in `server/modelrouter` counts, at any depth (imports inside
functions too), except those under `if TYPE_CHECKING:`, which never run.
`python tests/architecture/test_import_graph_has_no_cycles.py` prints the graph's cycles (none)
and its layers.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "server" / "modelrouter"
FRONT_ENDS = ("modelrouter.lsp", "modelrouter.commands.ask", "modelrouter.commands.route")
ROUTING_STEPS = ("modelrouter.classify", "modelrouter.llm_router", "modelrouter.learned")


def modules() -> dict[str, Path]:
    """Module name → file, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports at run time."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def resolve(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                if not is_package:
                    base.pop()
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            # `from pkg import sub` imports the submodule; `from mod import name` the module.
            targets = [
                f"{module}.{a.name}" if f"{module}.{a.name}" in known else module
                for a in node.names
            ]
        else:
            targets = []
        for target in targets:
            hit = resolve(target)
            if hit is not None and hit != name:
                found.add(hit)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return found


def graph() -> dict[str, set[str]]:
    """Module → the package modules it imports at run time."""
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in edges[v]:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(edges)))
    for v in sorted(edges):
        if v not in index:
            connect(v)
    return groups


def _describe(group: list[str], edges: dict[str, set[str]]) -> str:
    return "; ".join(f"{m} -> {', '.join(sorted(edges[m] & set(group)))}" for m in group)


def test_the_package_import_graph_has_no_cycle() -> None:
    edges = graph()
    assert len(edges) > 40  # the walk found the package
    found = cycles(edges)
    assert not found, "import cycles: " + " | ".join(_describe(g, edges) for g in found)


def test_the_cycle_finder_finds_a_cycle_and_ignores_type_checking(tmp_path: Path) -> None:
    pkg = tmp_path / "modelrouter"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from modelrouter import b\n")
    (pkg / "b.py").write_text("from modelrouter.a import f\n")
    (pkg / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from modelrouter import a\n"
    )
    known = {
        "modelrouter": pkg / "__init__.py",
        **{f"modelrouter.{n}": pkg / f"{n}.py" for n in "abc"},
    }
    edges = {name: imports(name, path, known) for name, path in known.items()}
    assert edges["modelrouter.c"] == set()
    assert cycles(edges) == [["modelrouter.a", "modelrouter.b"]]


def test_front_ends_route_only_through_the_routing_module() -> None:
    edges = graph()
    for module, targets in edges.items():
        if module.startswith(FRONT_ENDS):
            direct = sorted(t for t in targets if t in ROUTING_STEPS)
            assert not direct, f"{module} calls routing steps itself: {direct}"
    assert "modelrouter.routing.decide" in edges["modelrouter.commands.ask"]


def _layers(edges: dict[str, set[str]]) -> list[list[str]]:
    """Modules grouped by depth: layer 0 imports nothing of the package."""
    depth: dict[str, int] = {}

    def level(m: str) -> int:
        if m not in depth:
            depth[m] = 0
            depth[m] = 1 + max((level(t) for t in edges[m]), default=-1)
        return depth[m]

    for m in edges:
        level(m)
    out: list[list[str]] = [[] for _ in range(max(depth.values()) + 1)]
    for m, d in sorted(depth.items()):
        out[d].append(m)
    return out


if __name__ == "__main__":
    edges = graph()
    found = cycles(edges)
    print(f"{len(edges)} modules, {sum(map(len, edges.values()))} imports, {len(found)} cycles")
    for group in found:
        print("cycle:", _describe(group, edges))
    for i, layer in enumerate(_layers(edges)):
        print(f"layer {i}: {' '.join(m.removeprefix('modelrouter.') for m in layer)}")
    sys.exit(1 if found else 0)
