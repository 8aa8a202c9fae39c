"""The package's layers, guarded: no import cycle, lower layers never import the CLI or the
renderers, and no module grows past 1,000 lines.

Imports are read from the AST of every module, including those inside functions (the lazy
imports that keep start-up fast are where a cycle or a back-edge hides: a store once reached
into the CLI's progress object that way).
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "sessdiag"
MAX_LINES = 1000

# Layers that must not know how they are driven or shown.
LOWER = ("sessdiag.codecs", "sessdiag.stores", "sessdiag.analysis", "sessdiag.core",
         "sessdiag.frameworks")
UPPER = ("sessdiag.cli", "sessdiag.render", "sessdiag.commands")

# Modules allowed over MAX_LINES while being split (none: stores/files/prune is a package now).
OVERSIZED_ALLOWED: set[str] = set()


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _imports(name: str) -> set[str]:
    """The sessdiag modules `name` imports anywhere in its body (top level or lazy)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    base = name if _is_package(name) else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                mod = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            # `from pkg import sub` imports the submodule when there is one.
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod
                       for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:  # `import a.b.c` of a name inside a module
                t = t.rpartition(".")[0]
            if t.startswith("sessdiag") and t != name:
                found.add(t)
    return found


GRAPH = {m: _imports(m) for m in MODULES}


def test_the_graph_sees_lazy_imports() -> None:
    # stores/__init__.py imports each backend only inside its factory.
    assert "sessdiag.stores.redis.store" in GRAPH["sessdiag.stores"]
    assert "sessdiag.cli.scan" in GRAPH["sessdiag.cli"]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for m in sorted(graph):
        if m not in index:
            visit(m)
    return out


def test_the_cycle_finder_finds_a_lazy_back_edge() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle() -> None:
    assert _cycles(GRAPH) == []


def test_lower_layers_never_import_cli_or_renderers() -> None:
    bad = sorted(f"{m} -> {t}" for m, ts in GRAPH.items() if m.startswith(LOWER)
                 for t in ts if t.startswith(UPPER))
    assert bad == []


def test_no_module_over_1000_lines() -> None:
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in MODULES.items()}
    over = sorted(m for m, n in sizes.items() if n > MAX_LINES and m not in OVERSIZED_ALLOWED)
    assert over == [], {m: sizes[m] for m in over}
    # An allowance that is no longer needed must go, or it would hide the next one.
    assert all(sizes.get(m, 0) > MAX_LINES for m in OVERSIZED_ALLOWED)
