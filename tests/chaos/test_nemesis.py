"""The short nemesis run CI does (issue 18): three `mesospaas serve` on a ZooKeeper ensemble, `local-mesos` in
process mode, seeded clients, every fault kind at least once, then the checker. Replay a failure with the seed
it prints: ``MESOSPAAS_CHAOS_SEED=<seed> .venv/bin/python -m pytest tests/chaos/test_nemesis.py`` (or a long run
with ``benchmarks/chaos.py --seed <seed>``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.chaos.nemesis import KINDS
from tests.chaos.run import run_chaos

SEED = int(os.environ.get("MESOSPAAS_CHAOS_SEED", "18"))
CLIENT_SECONDS = 75.0
"""How long the clients issue operations; the nemesis goes on until every kind was injected once."""


@pytest.mark.slow
@pytest.mark.timeout(1200)  # a deadline for a broken build, not a duration check
def test_a_seeded_nemesis_run_finds_no_violation(tmp_path: Path) -> None:
    result = run_chaos(tmp_path / "chaos", SEED, CLIENT_SECONDS)
    report = result.summary()
    print(report)
    assert not result.violations, report
    assert set(result.faults) | set(result.skipped) == set(KINDS), report
    assert set(result.faults) == set(KINDS), report  # every kind injected, none skipped
    assert result.counts["ok"] > 0 and result.converge_seconds is not None, report
