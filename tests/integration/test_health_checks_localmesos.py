"""Contract: localmesos treats a health check as the real Mesos 1.11 agent of transcript 91 does.

The HealthCheck below is the one the recorder sent in transcript 91 (``accept-cf0-fail``, file
``91-health-checks.json`` of the Mesos transcripts; copied here so the test needs nothing outside the
repository). The real master answered the ACCEPT with 202 and the agent sent one ``healthy: false`` update and
then ``TASK_KILLING`` / ``TASK_KILLED`` (surprise 34: ``consecutive_failures: 0`` behaves as 1).
"""

from __future__ import annotations

from typing import Any

import pytest

from localmesos.health_check import HealthCheckState, parse_health_check
from localmesos.master import _health_check_error

TRANSCRIPT_91_CF0 = {"type": "COMMAND", "command": {"value": "exit 1", "shell": True}, "delay_seconds": 0,
                     "interval_seconds": 1, "timeout_seconds": 2, "consecutive_failures": 0,
                     "grace_period_seconds": 1}


def test_the_master_accepts_zero_consecutive_failures() -> None:
    assert _health_check_error(TRANSCRIPT_91_CF0) is None


def test_zero_consecutive_failures_behaves_as_one_the_first_counted_failure_kills() -> None:
    config = parse_health_check(TRANSCRIPT_91_CF0)
    assert config.consecutive_failures == 1
    state = HealthCheckState.for_config(config, started_at=0.0)
    assert state.on_result(False, now=0.5) is None  # inside the 1 s grace period: only logged
    update = state.on_result(False, now=1.6)
    assert update is not None and update.healthy is False and update.kill_task


@pytest.mark.parametrize("failures, kill_at", [(1, 1), (3, 3)])
def test_other_limits_kill_at_the_limit(failures: int, kill_at: int) -> None:
    raw: dict[str, Any] = {**TRANSCRIPT_91_CF0, "consecutive_failures": failures, "grace_period_seconds": 0}
    state = HealthCheckState.for_config(parse_health_check(raw), started_at=0.0)
    kills = [i + 1 for i in range(5) if (u := state.on_result(False, now=float(i + 1))) is not None and u.kill_task]
    assert kills[0] == kill_at


def test_negative_consecutive_failures_are_still_refused() -> None:
    with pytest.raises(ValueError):
        parse_health_check({**TRANSCRIPT_91_CF0, "consecutive_failures": -1})
