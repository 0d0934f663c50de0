"""The kill rule differs by who runs the check: Marathon's for the leader's checks (with 3, the 4th failure in
a row kills; 0 never kills), Mesos' for the checks an executor runs (with 3, the 3rd kills; 0 counts as 1)."""

from __future__ import annotations

import pytest

from mesospaas.health import CheckHealth, Failed, TaskFacts, Verdict, next_health
from mesospaas.model.app import HealthCheckSpec

RUNNING = TaskFacts(running=True, running_since=0.0)


def failures_until_kill(protocol: str, limit: int, most: int = 10) -> int | None:
    check = HealthCheckSpec(protocol=protocol, grace_period_seconds=0, max_consecutive_failures=limit)
    record = CheckHealth()
    for n in range(1, most + 1):
        transition = next_health(record, Failed("500 Internal Server Error"), RUNNING, check, float(n))
        record = transition.record
        if transition.verdict is Verdict.KILL:
            return n
    return None


@pytest.mark.parametrize(("protocol", "limit", "kills_at"), [
    ("HTTP", 3, 4), ("TCP", 1, 2), ("HTTPS", 0, None),
    ("MESOS_HTTP", 3, 3), ("MESOS_TCP", 1, 1), ("COMMAND", 0, 1), ("MESOS_HTTPS", 2, 2),
])
def test_who_runs_the_check_decides_the_kill_rule(protocol: str, limit: int, kills_at: int | None) -> None:
    assert failures_until_kill(protocol, limit) == kills_at
