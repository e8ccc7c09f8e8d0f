"""The package's import graph, read from the source (every import, at module level or inside a function): no two
modules import each other, and the study runner stays a small composition of its pieces."""

from __future__ import annotations

import ast
from pathlib import Path

import ptst

SRC = Path(ptst.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    targets.add(sub if sub in modules else node.module)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def test_no_two_modules_import_each_other():
    graph = import_graph()
    assert len(graph) > 50  # the whole package was read
    pairs = sorted({tuple(sorted((a, b))) for a, targets in graph.items() for b in targets if a in graph.get(b, ())})
    assert pairs == []


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    assert "ptst.report.results" in graph["ptst.study.preflight"]  # imported inside run_preflight
    assert "ptst.study.run_cells" in graph["ptst.study.preflight"]  # the run-cells API, not the runner
    assert "ptst.study.runner" not in graph["ptst.study.preflight"]
