"""The import graph of the package: no cycles, and dependencies run one way (spaces <- controller <- search;
spaces <- children <- search/export; nothing in nao_tf imports the CLI). Every import counts, also the lazy
ones inside functions and those under ``if TYPE_CHECKING``: a lazy import is still an arrow between modules."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"nao_tf": REPO / "nao_tf", "nao_tf.cli": REPO / "cli", "nao_tf.export": REPO / "export"}


def _modules() -> dict[str, Path]:
    out = {}
    for package, folder in ROOTS.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package, *parts])] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports (``from nao_tf.x import y`` counts as nao_tf.x.y when that is a
    module, else nao_tf.x)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_package_init(name: str, graph: dict[str, set[str]]) -> bool:
    return (REPO / "nao_tf" / Path(*name.split(".")[1:]) / "__init__.py").is_file() if name.startswith("nao_tf.") \
        and not name.startswith(("nao_tf.cli", "nao_tf.export")) else False


def test_no_import_cycles():
    graph = _graph()
    # a package's __init__ re-exporting its modules is not an arrow back from them: drop module -> own package
    pruned = {m: {t for t in deps if not (m.startswith(t + ".") and _is_package_init(t, graph))}
              for m, deps in graph.items()}
    assert _cycles(pruned) == []


def test_dependencies_point_one_way():
    graph = _graph()
    lower = ("nao_tf.spaces", "nao_tf.controller", "nao_tf.children")
    upward = [(m, t) for m, deps in graph.items() if m.startswith(lower) for t in deps
              if t.startswith("nao_tf.search")]
    assert upward == []
    into_cli = [(m, t) for m, deps in graph.items() if not m.startswith("nao_tf.cli") for t in deps
                if t.startswith("nao_tf.cli")]
    assert into_cli == []
    spaces_up = [(m, t) for m, deps in graph.items() if m.startswith("nao_tf.spaces") for t in deps
                 if t.startswith(("nao_tf.controller", "nao_tf.children"))]
    assert spaces_up == []


def test_the_graph_sees_lazy_imports():
    """The checker itself: a lazy import inside a function is an edge (e.g. the CLI's search command)."""
    graph = _graph()
    assert "nao_tf.search.api" in graph["nao_tf.cli.search"]
    assert "nao_tf.search.config" in graph["nao_tf.search.registry"]


def test_the_library_never_prints_nor_parses_flags():
    """Output and flags belong to the CLI: nothing under nao_tf/ calls print() or imports argparse."""
    offenders = []
    for path in (REPO / "nao_tf").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} print")
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if "argparse" in names:
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} argparse")
    assert offenders == []
