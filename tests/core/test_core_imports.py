"""The core imports only the standard library and itself, and reads no clock and no global randomness."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "mesospaas"
MODULES = sorted(CORE.rglob("*.py"))

FORBIDDEN_CALLS = {
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "monotonic"),
    ("time", "monotonic_ns"),
    ("time", "perf_counter"),
    ("time", "localtime"),
    ("time", "gmtime"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("uuid", "uuid1"),
    ("uuid", "uuid4"),
    ("os", "urandom"),
}
RANDOM_MODULE_FUNCTIONS = {
    "random",
    "randint",
    "randrange",
    "choice",
    "choices",
    "shuffle",
    "sample",
    "uniform",
    "gauss",
    "getrandbits",
    "seed",
    "betavariate",
    "expovariate",
    "triangular",
    "Random",
    "SystemRandom",
}


def _imports(tree: ast.AST) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                found.append(("mesospaas", node.lineno))  # relative imports stay inside the package
            elif node.module:
                found.append((node.module, node.lineno))
    return found


def _call_target(node: ast.Call) -> tuple[str, str] | None:
    func = node.func
    if isinstance(func, ast.Attribute):
        base = func.value
        if isinstance(base, ast.Name):
            return base.id, func.attr
        if isinstance(base, ast.Attribute):  # datetime.datetime.now()
            return base.attr, func.attr
    return None


def test_the_core_has_modules_to_check() -> None:
    assert len(MODULES) > 10


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_module_imports_only_stdlib_and_mesospaas(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = [
        f"{path.name}:{line} imports {name}"
        for name, line in _imports(tree)
        if name.split(".")[0] not in sys.stdlib_module_names and name.split(".")[0] != "mesospaas"
    ]
    assert not bad, bad


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_module_reads_no_clock_and_no_global_random(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            target = _call_target(node)
            if target in FORBIDDEN_CALLS or (
                target is not None and target[0] == "random" and target[1] in RANDOM_MODULE_FUNCTIONS
            ):
                bad.append(f"{path.name}:{node.lineno} calls {target[0]}.{target[1]}")  # type: ignore[index]
        if isinstance(node, ast.ImportFrom) and node.module in ("random", "time", "datetime"):
            for alias in node.names:
                name = alias.name
                if (node.module == "random" and name in RANDOM_MODULE_FUNCTIONS) or (
                    node.module, name
                ) in FORBIDDEN_CALLS or (node.module == "time" and name != "struct_time"):
                    bad.append(f"{path.name}:{node.lineno} imports {node.module}.{name}")
    assert not bad, bad


def test_the_checker_catches_what_it_forbids() -> None:
    sample = ast.parse(
        "import aiohttp\nimport random\nimport time\nx = time.time()\ny = random.random()\n"
        "from datetime import datetime\nz = datetime.now()\n"
    )
    assert [n for n, _ in _imports(sample)] == ["aiohttp", "random", "time", "datetime"]
    calls = [_call_target(n) for n in ast.walk(sample) if isinstance(n, ast.Call)]
    assert ("time", "time") in calls and ("random", "random") in calls and ("datetime", "now") in calls
