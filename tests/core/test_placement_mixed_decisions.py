"""The placement code makes exactly the recorded decisions on seeded mixed offer rounds.

``data/placement_mixed_decisions.json`` was written by ``tests/core/placement_mixed_record.py`` (run it as
``.venv/bin/python -m tests.core.placement_mixed_record``) with the placement code as it was *before* the
issue-11 speed work: for each case of ``CASES`` (a few hundred agents, dozens of apps cycling through every
kind of rule of ``benchmarks.placement_bench.MIXED_KINDS``: UNIQUE, GROUP_BY, MAX_PER, CLUSTER, LIKE,
UNLIKE, IS, affinity and anti-affinity between apps, PREFERRED rules, binpack) it holds every launch in
order (instance, offer, agent, host ports), the declines, the unplaced instances and the per-app
diagnostics. Any optimisation of ``mesospaas.placement`` must keep them identical; a deliberate change of
the algorithm rewrites the file with the script and says so.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from benchmarks.placement_bench import MIXED_KINDS
from tests.core.placement_mixed_record import CASES, DATA, decisions

RECORDED: dict[str, dict[str, Any]] = json.loads(DATA.read_text())


def test_every_case_is_recorded() -> None:
    assert sorted(RECORDED) == sorted(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_placement_makes_the_recorded_decisions(case: str) -> None:
    expected = RECORDED[case]
    actual = decisions(case)
    for position, (got, want) in enumerate(zip(actual["launches"], expected["launches"])):
        assert got == want, f"launch #{position} differs"
    assert len(actual["launches"]) == len(expected["launches"])
    assert actual["declines"] == expected["declines"]
    assert actual["unplaced"] == expected["unplaced"]
    assert actual["diagnostics"] == expected["diagnostics"]


def test_the_recording_exercises_every_kind_and_some_waiting() -> None:
    """The recorded rounds are not trivial: every kind of app launched, some apps wait, rules rejected."""
    launched_apps = {row[0].split(".")[0] for data in RECORDED.values() for row in data["launches"]}
    for kind in MIXED_KINDS:
        pattern = re.compile("mixed_" + kind.replace("_", "-") + r"-\d{3}")
        assert any(pattern.fullmatch(app) for app in launched_apps), kind
    assert all(data["unplaced"] for data in RECORDED.values())
    reasons = {r for data in RECORDED.values() for d in data["diagnostics"].values() for r in d["rejects"]}
    assert {"UnfulfilledConstraint", "AffinityUnmet", "InsufficientCpus"} <= reasons
    rules = {r for data in RECORDED.values() for d in data["diagnostics"].values() for r in d["rejects_by_rule"]}
    assert any("UNIQUE" in r for r in rules) and any("ANTI_AFFINITY" in r for r in rules)
