"""The shell of health checking on the leader: what to probe when, and what the results change.

Owns ``HealthChecking``, started and stopped with the runtime (so only the leader probes, and probing ends
when the runtime stops):

- the per-check detail (``mesospaas.health.CheckHealth`` per task and check) in memory only; what survives a
  failover is the coarse verdict on the ``Instance`` (``healthy`` + ``healthy_since``), written only when it
  flips, never per probe result;
- the schedule: every RUNNING task with a live task, a known agent and not unreachable is probed for each of
  its app version's HTTP/HTTPS/TCP checks, at a stable phase offset in the interval
  (``mesospaas.health.schedule``), at ``agent hostname : host port at portIndex`` (or the literal ``port``);
- probes run in the ``ProbePool`` off the runtime's task; their results are handed to the runtime in batches
  (one runtime command per batch, at most every ``batch_interval``), where ``apply`` runs the pure
  ``mesospaas.health.step``, commits what flipped (instances, grown backoffs, lastTaskFailure) in one store
  transaction, then performs the commands: Marathon's events and kills (with the app's kill policy);
- ``on_mesos_status``: the ``healthy`` flag of a status update (checks Mesos runs) becomes the same record.

Fails: probe errors become outcomes (``scheduler.health_probes``); a failed batch is logged and dropped (the
next results repair the state); store errors propagate as for every runtime command.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mesospaas.deploy import versions_in_flight
from mesospaas.health import (CheckAliveChanged, CheckFailed, CheckHealth, InstanceHealthChanged, KillUnhealthy,
                              ProbeResult, from_mesos_status, step)
from mesospaas.health.schedule import first_due, next_due, phase, start_deadline
from mesospaas.launch.backoff import Backoff, after_failure
from mesospaas.model import AppId, AppSpec, Condition, Instance, InstanceId
from mesospaas.model.app import HealthCheckSpec
from mesospaas.model.ids import AppVersion, TaskId, parse_task_id
from mesospaas.model.task_failure import TaskFailure, from_health_kill
from scheduler.cancelling import cancel_and_wait
from scheduler.health_probes import ProbePool, ProbeTarget
from scheduler.mesos_adapter import check_port, mesos_check_index

if TYPE_CHECKING:
    from scheduler.runtime import SchedulerRuntime

log = logging.getLogger(__name__)


@dataclass
class _Entry:
    """One scheduled check of one task."""

    target: ProbeTarget
    interval: float
    due: float


Key = tuple[TaskId, int]
REFRESH_CHUNK = 1000
FULL_REFRESH_INTERVAL = 10.0
"""The schedule is rebuilt after every change to the runtime's state (checked each ``refresh_interval``) and
at least this often."""


def probe_target(instance: Instance, check: HealthCheckSpec) -> ProbeTarget | None:
    """Where the leader probes ``check`` of ``instance``: its agent's host and the check's port."""
    if instance.agent is None:
        return None
    port = check_port(check, instance.host_ports)
    if port is None:
        return None
    return ProbeTarget(protocol=check.protocol, host=instance.agent.hostname, port=port, path=check.path or "/",
                       timeout=max(0.001, check.timeout_seconds), ignore_http1xx=check.ignore_http1xx)


def probed(instance: Instance) -> bool:
    """Only running tasks are probed; never one that is unreachable."""
    return instance.condition is Condition.RUNNING and instance.has_live_task and instance.task_id is not None \
        and instance.unreachable_since is None


class HealthChecking:
    def __init__(self, runtime: SchedulerRuntime, pool: ProbePool | None = None, batch_interval: float = 0.25,
                 refresh_interval: float = 1.0) -> None:
        self.runtime = runtime
        self.pool = pool or ProbePool()
        self.batch_interval = batch_interval
        self.refresh_interval = refresh_interval
        self._records: dict[InstanceId, tuple[TaskId, dict[int, CheckHealth]]] = {}
        self._app_generations: dict[AppId, int] = {}
        self._entries: dict[Key, _Entry] = {}
        self._heap: list[tuple[float, Key]] = []
        self._results: list[ProbeResult] = []
        self._probes: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._last_refresh = 0.0
        self._seen_generation = -1
        self.batches = 0
        self.results_applied = 0
        self.outcomes: dict[str, int] = {}
        """Probe outcomes so far by kind (``Passed``, ``Failed``, ``Unknown``, ``Ignored``)."""

    # -- what the API reads ----------------------------------------------------------------------------
    def records_of(self, instance: Instance) -> Mapping[int, CheckHealth]:
        """The per-check detail of the instance's current task (empty when there is none yet)."""
        held = self._records.get(instance.id)
        if held is None or held[0] != instance.task_id:
            return {}
        return held[1]

    def generation_of(self, app_id: AppId) -> int:
        """Moves whenever the detail shown for the app's tasks moves."""
        return self._app_generations.get(app_id, 0)

    # -- lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.pool.start()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="health-checks")

    async def stop(self) -> None:
        await cancel_and_wait([self._task, *self._probes])
        self._task = None
        self._probes.clear()
        await self.pool.close()

    # -- scheduling ------------------------------------------------------------------------------------
    async def _loop(self) -> None:
        last_flush = time.monotonic()
        while True:
            mono = time.monotonic()
            now = self.runtime.clock()
            stale = self.runtime.generation != self._seen_generation
            if mono - self._last_refresh >= (self.refresh_interval if stale else FULL_REFRESH_INTERVAL):
                await self._refresh(now)
                self._last_refresh = mono
            self._start_due(now, mono)
            if self._results and mono - last_flush >= self.batch_interval:
                batch, self._results = self._results, []
                last_flush = mono
                self._deliver(batch)
            wait = 0.1
            if self._heap:
                wait = min(wait, max(0.005, self._heap[0][0] - now))
            await asyncio.sleep(wait)

    def _spec_for(self, instance: Instance, versions: Mapping[tuple[AppId, AppVersion], AppSpec]) -> AppSpec | None:
        app = self.runtime.state.apps.get(instance.app_id)
        if app is not None and app.version == instance.app_version:
            return app
        return versions.get((instance.app_id, instance.app_version), app)

    def _versions(self) -> dict[tuple[AppId, AppVersion], AppSpec]:
        return versions_in_flight(running.plan for running in self.runtime.state.deployments.values())

    async def _refresh(self, now: float) -> None:
        """Brings the schedule in line with the tasks: new running tasks get entries, gone ones lose them.

        Works on a copy of the instance list, in chunks, yielding to the event loop between them, so ten
        thousand tasks do not hold the loop for one long stretch."""
        self._seen_generation = self.runtime.generation
        versions = self._versions() if self.runtime.state.deployments else {}
        wanted: set[Key] = set()
        instances = list(self.runtime.state.instances.values())
        for n, instance in enumerate(instances):
            if n % REFRESH_CHUNK == REFRESH_CHUNK - 1:
                await asyncio.sleep(0)
            if not probed(instance):
                continue
            spec = self._spec_for(instance, versions)
            if spec is None:
                continue
            for index, check in enumerate(spec.health_checks):
                if not check.run_by_scheduler:
                    continue
                assert instance.task_id is not None
                key = (instance.task_id, index)
                wanted.add(key)
                if key in self._entries:
                    continue
                target = probe_target(instance, check)
                if target is None:
                    continue
                interval = check.interval_seconds
                due = first_due(instance.started_at or now, interval, phase(str(instance.task_id), index, interval))
                if start_deadline(due, interval) < now:
                    due = next_due(due, interval, now)
                self._entries[key] = _Entry(target, interval, due)
                heapq.heappush(self._heap, (due, key))
        for key in [k for k in self._entries if k not in wanted]:
            del self._entries[key]
        for instance_id in [i for i in self._records if i not in self.runtime.state.instances]:
            del self._records[instance_id]
        if len(self._heap) > 4 * max(16, len(self._entries)):
            self._heap = [(e.due, k) for k, e in self._entries.items()]
            heapq.heapify(self._heap)

    def _start_due(self, now: float, mono: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            due, key = heapq.heappop(self._heap)
            entry = self._entries.get(key)
            if entry is None or entry.due != due:
                continue  # a stale heap item (the entry moved on or is gone)
            start_by = mono + (start_deadline(due, entry.interval) - now)
            probe = asyncio.get_running_loop().create_task(self._probe(key, entry.target, start_by))
            self._probes.add(probe)
            probe.add_done_callback(self._probes.discard)
            entry.due = next_due(due, entry.interval, now)
            heapq.heappush(self._heap, (entry.due, key))

    async def _probe(self, key: Key, target: ProbeTarget, start_by: float) -> None:
        outcome = await self.pool.probe(target, start_by)
        kind = type(outcome).__name__
        self.outcomes[kind] = self.outcomes.get(kind, 0) + 1
        self._results.append(ProbeResult(task_id=key[0], check_index=key[1], outcome=outcome,
                                         at=self.runtime.clock()))

    def _deliver(self, batch: list[ProbeResult]) -> None:
        async def run() -> None:
            await self.apply(batch)
        submitted = asyncio.get_running_loop().create_task(self._submit(run))
        self._probes.add(submitted)
        submitted.add_done_callback(self._probes.discard)

    async def _submit(self, fn: Any) -> None:
        try:
            await self.runtime.submit(fn)
        except Exception as exc:  # the runtime stopped, or the batch failed: the next results repair it
            log.warning("a batch of health results was not applied: %s", exc)

    # -- applying results (on the runtime's task) ------------------------------------------------------
    def _keep(self, instance: Instance, records: dict[int, CheckHealth]) -> None:
        assert instance.task_id is not None
        self._records[instance.id] = (instance.task_id, records)
        self._app_generations[instance.app_id] = self._app_generations.get(instance.app_id, 0) + 1

    async def apply(self, results: Sequence[ProbeResult]) -> None:
        """Runs the pure step over a batch of results and performs what it decides."""
        rt = self.runtime
        now = rt.clock()
        self.batches += 1
        self.results_applied += len(results)
        rt.metrics.on_health_results(results)  # metrics hook
        grouped: dict[InstanceId, list[ProbeResult]] = {}
        for result in results:
            try:
                instance_id, _ = parse_task_id(result.task_id)
            except ValueError:
                continue
            grouped.setdefault(instance_id, []).append(result)
        versions = self._versions() if rt.state.deployments else {}
        updated: dict[InstanceId, Instance] = {}
        commands: list[Any] = []
        detail_moved = False
        for instance_id, batch in grouped.items():
            instance = rt.state.instances.get(instance_id)
            if instance is None or instance.task_id is None:
                continue
            spec = self._spec_for(instance, versions)
            if spec is None:
                continue
            outcome = step(instance, spec.health_checks, self.records_of(instance), batch, now)
            if outcome.changed:
                self._keep(instance, outcome.records)
                detail_moved = True
            if outcome.instance is not None:
                updated[instance_id] = outcome.instance
            commands.extend(outcome.commands)
        backoffs: dict[AppId, Backoff] = {}
        failures: dict[AppId, TaskFailure] = {}
        for command in commands:
            if isinstance(command, KillUnhealthy):
                app = rt.state.apps.get(command.instance.app_id)
                if app is not None:
                    backoffs[app.id] = after_failure(backoffs.get(app.id) or rt.state.backoffs.get(app.id), app, now)
                failure = from_health_kill(command.instance, command.reason, now)
                if failure is not None:
                    failures[failure.app_id] = failure
        before = rt.generation
        await rt.commit_health(list(updated.values()), backoffs, failures)
        if detail_moved and not (updated or backoffs or failures):
            rt.generation += 1  # the rendered task JSON shows the detail: cached responses are stale
        if self._seen_generation == before and not backoffs:
            self._seen_generation = rt.generation  # verdicts moved, not the set of tasks to probe
        self._publish(commands, now)
        for command in commands:
            if isinstance(command, KillUnhealthy) and command.instance.task_id is not None:
                log.warning("%s: killing task %s: %s", command.instance.app_id, command.instance.task_id,
                            command.reason)
                rt.metrics.health_kills.inc()  # metrics hook
                await rt.kill_task(command.instance.task_id, now)
        killed = {c.instance.app_id for c in commands if isinstance(c, KillUnhealthy)}
        if killed or (updated and rt.state.deployments):
            await rt.after_health_change({i.app_id for i in updated.values()}, killed)

    def on_mesos_status(self, before: Instance, after: Instance, healthy: bool, message: str | None,
                        now: float) -> None:
        """A status update with Mesos' ``healthy`` flag (a check Mesos runs): the same record, and events."""
        app = self.runtime.state.apps.get(after.app_id)
        if app is None or after.task_id is None:
            return
        index = mesos_check_index(app)
        if index is None:
            return
        records = dict(self.records_of(after))
        previous = records.get(index)
        record = from_mesos_status(previous, healthy, message, now)
        records[index] = record
        self._keep(after, records)
        commands: list[Any] = []
        if not healthy:
            commands.append(CheckFailed(after, index))
        if record.alive != (previous.alive if previous is not None else False):
            commands.append(CheckAliveChanged(after, index, record.alive))
        if before.healthy != after.healthy:
            commands.append(InstanceHealthChanged(after, after.healthy))
        self._publish(commands, now)

    # -- events ----------------------------------------------------------------------------------------
    def _check_json(self, instance: Instance, index: int) -> dict[str, Any]:
        raw = self.runtime.app_definition(instance.app_id)
        try:
            checks = json.loads(raw).get("healthChecks", []) if raw else []
            return dict(checks[index]) if index < len(checks) else {}
        except (ValueError, TypeError, AttributeError):
            return {}

    def _publish(self, commands: Sequence[Any], now: float) -> None:
        events = self.runtime.events
        for command in commands:
            instance = command.instance
            if isinstance(command, CheckFailed) and events.wants("failed_health_check_event"):
                events.publish("failed_health_check_event", now, appId=instance.app_id, instanceId=instance.id,
                               healthCheck=self._check_json(instance, command.check_index))
            elif isinstance(command, CheckAliveChanged) and events.wants("health_status_changed_event"):
                events.publish("health_status_changed_event", now, appId=instance.app_id, instanceId=instance.id,
                               version=instance.app_version, alive=command.alive)
            elif isinstance(command, InstanceHealthChanged) and events.wants("instance_health_changed_event"):
                fields: dict[str, Any] = {"instanceId": instance.id, "runSpecId": instance.app_id,
                                          "runSpecVersion": instance.app_version}
                if command.healthy is not None:
                    fields["healthy"] = command.healthy
                events.publish("instance_health_changed_event", now, **fields)
            elif isinstance(command, KillUnhealthy) and events.wants("unhealthy_instance_kill_event"):
                agent = instance.agent
                events.publish("unhealthy_instance_kill_event", now, appId=instance.app_id,
                               taskId=instance.task_id, instanceId=instance.id, version=instance.app_version,
                               reason=command.reason, host=agent.hostname if agent else "",
                               slaveId=agent.agent_id if agent else "")


__all__ = ["HealthChecking", "probe_target", "probed"]
