"""The analysis layer counts; stores read. Importing and running analysis code never loads a
store's I/O modules, and the cookie knowledge lives in sessdiag.frameworks, so
stores/redis/clients and analysis/clients no longer import each other."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\n"
                          "print('\\n'.join(m for m in sys.modules if m.startswith('sessdiag')))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_analysis_never_imports_store_io():
    mods = _modules_after("import sessdiag.analysis.clients, sessdiag.analysis.accesslog, "
                          "sessdiag.analysis.cadence, sessdiag.analysis.races")
    assert "sessdiag.analysis.clients" in mods
    assert not {m for m in mods if m.startswith("sessdiag.stores")}, mods


def test_no_cycle_between_the_client_modules():
    mods = _modules_after("import sessdiag.stores.redis.clients")
    assert "sessdiag.analysis.clients" not in mods
    mods = _modules_after("import sessdiag.analysis.clients")
    assert "sessdiag.stores.redis.clients" not in mods


def test_analysis_sources_name_no_store_module_but_the_protocol():
    """Lazy imports included: an import inside a function is still an edge."""
    import ast
    from pathlib import Path

    pkg = Path(__file__).resolve().parents[2] / "sessdiag" / "analysis"
    found = {}
    for path in sorted(pkg.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "sessdiag.stores"):
                found.setdefault(path.name, set()).add(node.module)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("sessdiag.stores"):
                        found.setdefault(path.name, set()).add(a.name)
    assert found == {"clients.py": {"sessdiag.stores.base"}}  # SessionStore, for type hints
