"""Conditions: what Mesos last told us about an instance's task (observed state, never desired state).

Owns: ``Condition``, the mapping from every Mesos ``TASK_*`` state (plus reason, for ``TASK_LOST``) to a
condition, the mapping back to the ``state`` string the API shows, and the classifications the rest of the
core relies on (terminal, live task, placed for constraints, counts as a launch failure).

``SCHEDULED`` means "no task yet" (waiting for an offer); ``PROVISIONED`` means an offer was accepted and
the launch sent, no status update yet. ``UnreachableInactive`` is not stored: it is derived from
``unreachable_since``, the app's unreachable strategy and ``now`` (see ``reconcile.unreachable``).

``TASK_LOST`` is split as Marathon does: agent/master disconnects (the task may come back) -> UNREACHABLE;
reconciliation and unknown-task reasons -> UNKNOWN; any other reason -> GONE. Unknown state strings map to
UNKNOWN. Fails: never raises.
"""

from __future__ import annotations

import enum
from typing import Final


class Condition(enum.Enum):
    SCHEDULED = "Scheduled"
    PROVISIONED = "Provisioned"
    STAGING = "Staging"
    STARTING = "Starting"
    RUNNING = "Running"
    KILLING = "Killing"
    KILLED = "Killed"
    FINISHED = "Finished"
    FAILED = "Failed"
    ERROR = "Error"
    DROPPED = "Dropped"
    GONE = "Gone"
    GONE_BY_OPERATOR = "GoneByOperator"
    UNKNOWN = "Unknown"
    UNREACHABLE = "Unreachable"


TERMINAL: Final = frozenset(
    {
        Condition.KILLED,
        Condition.FINISHED,
        Condition.FAILED,
        Condition.ERROR,
        Condition.DROPPED,
        Condition.GONE,
        Condition.GONE_BY_OPERATOR,
        Condition.UNKNOWN,
    }
)
"""The task is over; an instance in one of these has no live task."""

LIVE_TASK: Final = frozenset(
    {
        Condition.PROVISIONED,
        Condition.STAGING,
        Condition.STARTING,
        Condition.RUNNING,
        Condition.KILLING,
        Condition.UNREACHABLE,
    }
)
"""A task was launched and may still be running (unreachable ones may come back)."""

PLACED: Final = frozenset(
    {Condition.PROVISIONED, Condition.STAGING, Condition.STARTING, Condition.RUNNING, Condition.KILLING}
)
"""What constraints count as "placed": non-terminal and reachable (Marathon excludes lost/unreachable)."""

LAUNCH_FAILURES: Final = frozenset(
    {Condition.FAILED, Condition.FINISHED, Condition.ERROR, Condition.DROPPED, Condition.GONE}
)
"""Terminal conditions that count as a launch failure for backoff. KILLED (asked for) does not."""

_BY_STATE: Final = {
    "TASK_STAGING": Condition.STAGING,
    "TASK_STARTING": Condition.STARTING,
    "TASK_RUNNING": Condition.RUNNING,
    "TASK_KILLING": Condition.KILLING,
    "TASK_KILLED": Condition.KILLED,
    "TASK_FINISHED": Condition.FINISHED,
    "TASK_FAILED": Condition.FAILED,
    "TASK_ERROR": Condition.ERROR,
    "TASK_DROPPED": Condition.DROPPED,
    "TASK_UNREACHABLE": Condition.UNREACHABLE,
    "TASK_GONE": Condition.GONE,
    "TASK_GONE_BY_OPERATOR": Condition.GONE_BY_OPERATOR,
    "TASK_UNKNOWN": Condition.UNKNOWN,
}

LOST_MAY_COME_BACK: Final = frozenset(
    {"REASON_AGENT_DISCONNECTED", "REASON_MASTER_DISCONNECTED", "REASON_AGENT_REMOVED"}
)
LOST_UNKNOWN: Final = frozenset({"REASON_RECONCILIATION", "REASON_TASK_UNKNOWN", "REASON_AGENT_UNKNOWN"})

_TO_STATE: Final = {
    Condition.SCHEDULED: "TASK_STAGING",
    Condition.PROVISIONED: "TASK_STAGING",
    Condition.STAGING: "TASK_STAGING",
    Condition.STARTING: "TASK_STARTING",
    Condition.RUNNING: "TASK_RUNNING",
    Condition.KILLING: "TASK_KILLING",
    Condition.KILLED: "TASK_KILLED",
    Condition.FINISHED: "TASK_FINISHED",
    Condition.FAILED: "TASK_FAILED",
    Condition.ERROR: "TASK_ERROR",
    Condition.DROPPED: "TASK_DROPPED",
    Condition.GONE: "TASK_GONE",
    Condition.GONE_BY_OPERATOR: "TASK_GONE_BY_OPERATOR",
    Condition.UNKNOWN: "TASK_UNKNOWN",
    Condition.UNREACHABLE: "TASK_UNREACHABLE",
}


def condition_from_mesos(state: str, reason: str | None = None) -> Condition:
    """The condition for a Mesos task status (``state`` like ``TASK_RUNNING``, ``reason`` like ``REASON_…``)."""
    if state == "TASK_LOST":
        if reason is None or reason in LOST_MAY_COME_BACK:
            return Condition.UNREACHABLE
        if reason in LOST_UNKNOWN:
            return Condition.UNKNOWN
        return Condition.GONE
    return _BY_STATE.get(state, Condition.UNKNOWN)


def mesos_state(condition: Condition) -> str:
    """The ``state`` string the API reports (conditions without a Mesos state report ``TASK_STAGING``)."""
    return _TO_STATE[condition]
