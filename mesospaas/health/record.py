"""The health record of one check of one task, as Marathon keeps it and shows it in ``healthCheckResults``.

Owns: ``CheckHealth`` (firstSuccess, lastSuccess, lastFailure, lastFailureCause, consecutiveFailures; ``alive``
derived), the two transitions every source of results shares (``succeeded``, ``failed``), the verdict over
all checks of a task (``instance_healthy``, Marathon's tasksHealthy/tasksUnhealthy rule) and ``seeded``: the
record a new leader starts from when it only knows the persisted coarse state (alive + since).

Invariant: immutable; ``alive`` is ``lastSuccess`` exists and is later than ``lastFailure`` (Marathon's rule).
Fails: never raises.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class CheckHealth:
    first_success: float | None = None
    last_success: float | None = None
    last_failure: float | None = None
    last_failure_cause: str | None = None
    consecutive_failures: int = 0
    kill_requested: bool = False
    """A kill for failing this check was issued for the task (not shown; keeps the kill from repeating)."""

    @property
    def alive(self) -> bool:
        if self.last_success is None:
            return False
        return self.last_failure is None or self.last_success > self.last_failure


def succeeded(record: CheckHealth, now: float) -> CheckHealth:
    """A success: resets ``consecutiveFailures``."""
    return replace(record, first_success=record.first_success if record.first_success is not None else now,
                   last_success=now, consecutive_failures=0)


def failed(record: CheckHealth, cause: str | None, now: float) -> CheckHealth:
    """A counted failure."""
    return replace(record, last_failure=now, last_failure_cause=cause,
                   consecutive_failures=record.consecutive_failures + 1)


def instance_healthy(records: Iterable[CheckHealth]) -> bool | None:
    """True when the task has results and all are alive, False when any is not alive, None without results."""
    seen = False
    for record in records:
        if not record.alive:
            return False
        seen = True
    return True if seen else None


def seeded(healthy: bool, since: float | None) -> CheckHealth:
    """The record a new leader assumes from the persisted verdict: alive since ``since``, or failing since.

    A seeded failing record counts no failures: only failures this leader sees lead to a kill."""
    at = since if since is not None else 0.0
    if healthy:
        return CheckHealth(first_success=at, last_success=at)
    return CheckHealth(first_success=at, last_success=None, last_failure=at)
