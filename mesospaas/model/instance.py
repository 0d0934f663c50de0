"""Instances: one desired copy of an app, with a stable id, a goal (desired) and a condition (observed).

Owns: ``Goal``, ``Instance`` and the pure transitions the shell applies when something happens to an
instance: ``scheduled`` (created by the reconciler), ``launched`` (an offer was accepted for it) and
``with_task_status`` (a Mesos status update arrived).

- Goal ``RUNNING``: keep a task running (relaunch after failures, subject to backoff).
- Goal ``STOPPED``: kill the task, keep the instance (it is resumed first on scale-up).
- Goal ``DECOMMISSIONED``: kill the task, then expunge the instance.

The task id is derived: ``<instance id>._app.<incarnation>``; ``incarnation`` counts launches (0 = never
launched). A relaunch keeps the instance id and increments the incarnation, so a status update for an older
incarnation is recognised as stale and ignored.

Invariant: immutable; ``agent`` and ``host_ports`` describe the current (or last) task's placement.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from mesospaas.model.agent import AgentInfo
from mesospaas.model.condition import LIVE_TASK, PLACED, TERMINAL, Condition, condition_from_mesos
from mesospaas.model.ids import AppId, AppVersion, InstanceId, TaskId, parse_task_id, task_id


class Goal(enum.Enum):
    RUNNING = "Running"
    STOPPED = "Stopped"
    DECOMMISSIONED = "Decommissioned"


@dataclass(frozen=True, slots=True)
class Instance:
    id: InstanceId
    app_id: AppId
    app_version: AppVersion
    goal: Goal = Goal.RUNNING
    condition: Condition = Condition.SCHEDULED
    incarnation: int = 0
    agent: AgentInfo | None = None
    host_ports: tuple[int, ...] = ()
    since: float = 0.0
    """When the condition last changed."""
    staged_at: float | None = None
    started_at: float | None = None
    """When the current task first reported TASK_RUNNING."""
    unreachable_since: float | None = None
    healthy: bool | None = None
    """Latest health verdict for the current task (None = no result yet / no health checks)."""
    ip_addresses: tuple[str, ...] = ()
    """The current task's IP addresses, from its status updates' ``container_status.network_infos``."""
    healthy_since: float | None = None
    """When ``healthy`` last took its value: the coarse health state that survives a leader failover (the
    per-check detail of ``mesospaas.health`` lives in the leader's memory only)."""
    ready_at: float | None = None
    """When the current task first passed its app's readiness check (None: not yet, or the app has none)."""

    @property
    def task_id(self) -> TaskId | None:
        return task_id(self.id, self.incarnation) if self.incarnation > 0 else None

    @property
    def has_live_task(self) -> bool:
        return self.condition in LIVE_TASK

    @property
    def is_terminal(self) -> bool:
        return self.condition in TERMINAL

    @property
    def is_placed(self) -> bool:
        """Counted by constraints and affinity: a reachable, non-terminal task on a known agent."""
        return self.agent is not None and self.condition in PLACED

    @property
    def is_launchable(self) -> bool:
        """In the launch queue (before backoff): goal running and no live task."""
        return self.goal is Goal.RUNNING and not self.has_live_task

    def with_goal(self, goal: Goal) -> Instance:
        return replace(self, goal=goal)


def scheduled(instance: InstanceId, app: AppId, version: AppVersion, now: float) -> Instance:
    """A new instance waiting for an offer."""
    return Instance(id=instance, app_id=app, app_version=version, since=now)


def launched(instance: Instance, agent: AgentInfo, host_ports: tuple[int, ...], now: float) -> Instance:
    """The instance after its next task was sent to ``agent`` (incarnation + 1, condition PROVISIONED)."""
    return replace(
        instance,
        condition=Condition.PROVISIONED,
        incarnation=instance.incarnation + 1,
        agent=agent,
        host_ports=host_ports,
        since=now,
        staged_at=now,
        started_at=None,
        unreachable_since=None,
        ip_addresses=(),
        healthy=None,
        healthy_since=None,
        ready_at=None,
    )


def with_task_status(
    instance: Instance, task: TaskId, state: str, reason: str | None, now: float, healthy: bool | None = None,
    ip_addresses: tuple[str, ...] = (),
) -> Instance:
    """The instance after a Mesos status update. Updates for other incarnations return it unchanged."""
    owner, incarnation = parse_task_id(task)
    if owner != instance.id or incarnation != instance.incarnation:
        return instance
    condition = condition_from_mesos(state, reason)
    started_at = instance.started_at
    if condition is Condition.RUNNING and started_at is None:
        started_at = now
    unreachable_since = instance.unreachable_since
    if condition is Condition.UNREACHABLE:
        if unreachable_since is None:
            unreachable_since = now
    else:
        unreachable_since = None
    new_healthy = healthy if healthy is not None else (instance.healthy if condition is Condition.RUNNING else None)
    return replace(
        instance,
        condition=condition,
        since=now if condition is not instance.condition else instance.since,
        started_at=started_at,
        unreachable_since=unreachable_since,
        ip_addresses=ip_addresses or instance.ip_addresses,
        healthy=new_healthy,
        healthy_since=instance.healthy_since if new_healthy == instance.healthy else
        (now if new_healthy is not None else None),
    )


def with_health(instance: Instance, healthy: bool | None, now: float) -> Instance:
    """The instance with a new coarse health verdict (``healthy_since`` moves only when the verdict flips)."""
    if healthy == instance.healthy:
        return instance
    return replace(instance, healthy=healthy, healthy_since=now if healthy is not None else None)
