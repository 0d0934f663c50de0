"""``lastTaskFailure``: the last task of an app that failed, as Marathon records and shows it.

Owns ``TaskFailure`` (Marathon's shape: appId, taskId, instanceId, state, message, host, slaveId, timestamp,
version) and the two pure ways one is made, as Marathon makes them:

- ``from_status``: a status update in a failure state (``TASK_FAILED``, ``TASK_ERROR``, ``TASK_LOST``,
  ``TASK_DROPPED``, ``TASK_GONE``, ``TASK_GONE_BY_OPERATOR``, ``TASK_UNKNOWN``); a kill that was asked for
  (``TASK_KILLED``) or a task that finished is not a failure;
- ``from_health_kill``: a task killed for failing its health checks (state ``TASK_KILLED``, message
  ``Task was killed since health check failed. Reason: ...``).

The shell keeps one per app (the latest), persisted, and drops it with the app. Pure; never raises.
"""

from __future__ import annotations

from dataclasses import dataclass

from mesospaas.model.ids import AppId, AppVersion, InstanceId
from mesospaas.model.instance import Instance

FAILURE_STATES = frozenset({"TASK_FAILED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE",
                            "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN"})


@dataclass(frozen=True, slots=True)
class TaskFailure:
    app_id: AppId
    task_id: str
    instance_id: InstanceId
    state: str
    message: str
    host: str
    slave_id: str | None
    timestamp: float
    version: AppVersion


def from_status(instance: Instance, task_id: str, state: str, message: str | None, agent_id: str | None,
                now: float) -> TaskFailure | None:
    if state not in FAILURE_STATES:
        return None
    agent = instance.agent
    return TaskFailure(app_id=instance.app_id, task_id=task_id, instance_id=instance.id, state=state,
                       message=message or "", host=agent.hostname if agent else "",
                       slave_id=agent_id or (agent.agent_id if agent else None), timestamp=now,
                       version=instance.app_version)


def from_health_kill(instance: Instance, reason: str, now: float) -> TaskFailure | None:
    if instance.task_id is None:
        return None
    agent = instance.agent
    return TaskFailure(app_id=instance.app_id, task_id=str(instance.task_id), instance_id=instance.id,
                       state="TASK_KILLED", message=f"Task was killed since health check failed. Reason: {reason}",
                       host=agent.hostname if agent else "", slave_id=agent.agent_id if agent else None,
                       timestamp=now, version=instance.app_version)
