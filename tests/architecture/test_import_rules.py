"""Import rules that keep the design honest (checked on the source, so nobody has to remember them).

- ``localmesos`` imports nothing from ``mesospaas``, ``scheduler``, ``api`` or ``executor``: it cannot agree
  with the framework by construction.
- ``executor`` imports nothing from ``scheduler``, ``api`` or ``localmesos``: it talks to the scheduler only
  through Mesos. It may use the standard-library-only core (``mesospaas``), so logic exists once.
- ``mesospaas`` (the core) imports only the standard library and itself.
- ``api`` imports nothing from ``scheduler``, ``executor`` or ``localmesos``: it depends on the core and on its
  own ports (``api/platform.py``); the composition root (``scheduler.serve``, ``scheduler.local``, the test
  fixtures) hands the scheduler's implementations in.
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


def test_executor_imports_only_itself_and_the_core() -> None:
    offenders = {f: n & (OURS - {"executor", "mesospaas"}) for f, n in imported_top_levels("executor").items()}
    assert {f: n for f, n in offenders.items() if n} == {}
    assert imported_top_levels("executor"), "no executor sources found"


def test_api_imports_nothing_of_the_scheduler() -> None:
    offenders = {f: n & {"scheduler", "executor", "localmesos"} for f, n in imported_top_levels("api").items()}
    assert {f: n for f, n in offenders.items() if n} == {}
    assert len(imported_top_levels("api")) > 10, "no api sources found"


def test_core_imports_only_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"mesospaas", "__future__"}
    offenders = {f: n - allowed for f, n in imported_top_levels("mesospaas").items()}
    assert {f: n for f, n in offenders.items() if n} == {}


def imported_modules(package: str) -> dict[str, set[str]]:
    """Full dotted names each file under ``package`` imports (absolute imports; relative ones resolved)."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        own = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = own.split(".")[: -node.level]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                names.add(module)
                names.update(f"{module}.{alias.name}" for alias in node.names)
        found[str(path.relative_to(ROOT))] = names
    return found


def test_the_lb_imports_nothing_of_the_api_or_the_scheduler_outside_itself() -> None:
    """``scheduler/lb`` is a separate process on the public HTTP API: routing core, std lib, aiohttp only."""
    allowed_third_party = {"aiohttp", "prometheus_client"}
    offenders: dict[str, set[str]] = {}
    for path, names in imported_modules("scheduler/lb").items():
        bad = {n for n in names if n.split(".")[0] == "api"
               or (n.split(".")[0] == "scheduler" and not (n == "scheduler.lb" or n.startswith("scheduler.lb.")))
               or (n.split(".")[0] not in sys.stdlib_module_names | OURS | allowed_third_party | {"__future__"})
               or (n.split(".")[0] in OURS - {"scheduler", "mesospaas"})}
        if bad:
            offenders[path] = bad
    assert offenders == {}
    assert imported_modules("scheduler/lb"), "no scheduler/lb sources found"
