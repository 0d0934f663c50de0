"""Import rules that keep the design honest (checked on the source, so nobody has to remember them).

- ``localmesos`` imports nothing from ``mesospaas``, ``scheduler``, ``api`` or ``executor``: it cannot agree
  with the framework by construction.
- ``executor`` imports nothing else from this repository.
- ``mesospaas`` (the core) imports only the standard library and itself.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = {"mesospaas", "scheduler", "api", "executor", "localmesos"}


def imported_top_levels(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_localmesos_imports_nothing_of_the_framework() -> None:
    offenders = {f: n & (OURS - {"localmesos"}) for f, n in imported_top_levels("localmesos").items()}
    assert {f: n for f, n in offenders.items() if n} == {}
    assert imported_top_levels("localmesos"), "no localmesos sources found"


def test_executor_imports_nothing_else_of_this_repository() -> None:
    offenders = {f: n & (OURS - {"executor"}) for f, n in imported_top_levels("executor").items()}
    assert {f: n for f, n in offenders.items() if n} == {}


def test_core_imports_only_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"mesospaas", "__future__"}
    offenders = {f: n - allowed for f, n in imported_top_levels("mesospaas").items()}
    assert {f: n for f, n in offenders.items() if n} == {}
