"""Resource usage of tasks: the executor's reports in memory.

Owns ``TaskStats``: the latest ``UsageReport`` (``mesospaas.executor_protocol``) per instance, fed by the
framework messages of the mesospaas executor (the runtime hands every ``FrameworkMessage`` to ``on_message``;
the input of a future autoscaler). The API reads it through ``api.platform.TaskUsageView`` (its JSON:
``api.task_usage``); the agent's own view of a container (``/monitor/statistics``) is read by the API itself
(``api.sandbox_files.agent_statistics``).

Invariants: memory holds one report per instance, the newest (by report timestamp); reports of another
incarnation replace the old one; reports of instances that no longer exist are dropped on the next
``on_message``s sweep. Fails: ``on_message`` never raises (a message that is not ours is logged and ignored).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from mesospaas.executor_protocol import USAGE, ProtocolError, UsageReport, decode_usage, document_type
from mesospaas.model.ids import InstanceId, parse_task_id
from scheduler.mesos_driver import FrameworkMessage

log = logging.getLogger(__name__)
SWEEP_EVERY = 1000


@dataclass(frozen=True, slots=True)
class ReceivedUsage:
    report: UsageReport
    agent_id: str
    received_at: float


class TaskStats:
    def __init__(self, exists: Callable[[InstanceId], bool] = lambda _: True) -> None:
        self._latest: dict[InstanceId, ReceivedUsage] = {}
        self._exists = exists
        self._messages = 0

    def on_message(self, message: FrameworkMessage, now: float) -> None:
        try:
            if document_type(message.data) != USAGE:
                log.info("framework message of type %s from %s ignored", document_type(message.data),
                         message.executor_id)
                return
            report = decode_usage(message.data)
            instance, _ = parse_task_id(report.task_id)
        except (ProtocolError, ValueError) as exc:
            log.warning("unreadable framework message from executor %s: %s", message.executor_id, exc)
            return
        old = self._latest.get(instance)
        if old is None or old.report.task_id != report.task_id or old.report.timestamp <= report.timestamp:
            self._latest[instance] = ReceivedUsage(report, message.agent_id, now)
        self._messages += 1
        if self._messages % SWEEP_EVERY == 0:
            for gone in [i for i in self._latest if not self._exists(i)]:
                del self._latest[gone]

    def latest(self, task_id: str) -> ReceivedUsage | None:
        """The newest report of exactly this task (None for another incarnation's or none)."""
        try:
            instance, _ = parse_task_id(task_id)
        except ValueError:
            return None
        found = self._latest.get(instance)
        return found if found is not None and found.report.task_id == task_id else None

    def __len__(self) -> int:
        return len(self._latest)
