"""Marathon's rules for checks the leader runs (reference §4.3), one result at a time.

Owns ``next_health(record, outcome, task, check, now) -> Transition``:

- ``Unknown`` and ``Ignored`` (1xx under ``ignoreHttp1xx``) change nothing;
- results for a task that is not running (or is unreachable) are ignored;
- a success sets firstSuccess (once) and lastSuccess and resets consecutiveFailures;
- a failure inside the grace period (no success yet and ``now < runningSince + gracePeriodSeconds``) is not
  recorded at all; any other failure is counted, with its cause;
- kill rule: on a counted failure, when the failures counted *before it* already reached
  ``maxConsecutiveFailures`` and that is > 0 (0 = never kill), the verdict is ``KILL`` (so with 3, the 4th
  failure in a row kills); never for an unreachable task, and only once per task. Checks an executor runs
  (``COMMAND``, ``MESOS_*``: the mesospaas executor uses these rules too) follow Mesos instead: the failure
  that makes the count reach ``maxConsecutiveFailures`` kills, and 0 means 1.

The verdict is ``HEALTHY``/``UNHEALTHY`` from the record's ``alive`` otherwise. Pure; never raises.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from mesospaas.health.outcome import Failed, Outcome, Passed
from mesospaas.health.record import CheckHealth, failed, succeeded
from mesospaas.model.app import HealthCheckSpec


MESOS_RUN = frozenset({"COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"})
"""Checks an executor runs on the agent; every other protocol is run by the leader."""


class Verdict(enum.Enum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    KILL = "kill"


@dataclass(frozen=True, slots=True)
class TaskFacts:
    """What the rules need to know about the task a result is for."""

    running: bool
    running_since: float | None
    unreachable: bool = False


@dataclass(frozen=True, slots=True)
class Transition:
    record: CheckHealth
    verdict: Verdict
    counted_failure: bool = False
    """A failure was recorded (Marathon then publishes ``failed_health_check_event``)."""


def in_grace(record: CheckHealth, task: TaskFacts, check: HealthCheckSpec, now: float) -> bool:
    if record.first_success is not None:
        return False
    started = task.running_since if task.running_since is not None else now
    return now < started + check.grace_period_seconds


def _verdict(record: CheckHealth) -> Verdict:
    return Verdict.HEALTHY if record.alive else Verdict.UNHEALTHY


def next_health(record: CheckHealth, outcome: Outcome, task: TaskFacts, check: HealthCheckSpec,
                now: float) -> Transition:
    if not task.running or task.unreachable:
        return Transition(record, _verdict(record))
    if isinstance(outcome, Passed):
        after = succeeded(record, now)
        return Transition(after, _verdict(after))
    if not isinstance(outcome, Failed):  # Unknown, Ignored: the state stays as it was
        return Transition(record, _verdict(record))
    if in_grace(record, task, check, now):
        return Transition(record, _verdict(record))
    after = failed(record, outcome.cause, now)
    if check.protocol in MESOS_RUN:
        # Mesos' rule (the mesospaas executor runs these as a Mesos executor does): the failure that brings
        # the count to consecutive_failures kills, and 0 counts as 1 (transcript 91).
        kill = after.consecutive_failures >= max(1, check.max_consecutive_failures) and not record.kill_requested
    else:
        limit = check.max_consecutive_failures
        kill = limit > 0 and record.consecutive_failures >= limit and not record.kill_requested
    if kill:
        return Transition(replace(after, kill_requested=True), Verdict.KILL, counted_failure=True)
    return Transition(after, _verdict(after), counted_failure=True)
