"""The health step: a batch of probe results for one task -> new records, the task's verdict, commands.

Owns ``step(instance, checks, records, results, now) -> HealthStep``, the one place the shell asks what a
batch of results means (design §6: ``step(state slice, event, now) -> (changes, commands)``):

- ``records``: the per-check detail by check index (in memory only); a check without a record starts from
  ``seeded`` when the instance carries a persisted verdict (a new leader), else from an empty record;
- results for another task than the instance's current one are ignored (a stale probe of an old incarnation);
- changes: the records that moved, and the instance when its coarse verdict (``Instance.healthy``: all
  checks alive / some failing / unknown) flips: only then is anything written to the store;
- commands, in order: ``CheckFailed`` (Marathon's ``failed_health_check_event``), ``CheckAliveChanged``
  (``health_status_changed_event``), ``InstanceHealthChanged`` (``instance_health_changed_event``) and
  ``KillUnhealthy`` (kill the task, ``unhealthy_instance_kill_event``, the app's backoff grows).

Pure; never raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mesospaas.health.outcome import Outcome
from mesospaas.health.record import CheckHealth, instance_healthy, seeded
from mesospaas.health.rules import TaskFacts, Verdict, next_health
from mesospaas.model.app import HealthCheckSpec
from mesospaas.model.condition import Condition
from mesospaas.model.ids import TaskId
from mesospaas.model.instance import Instance, with_health


@dataclass(frozen=True, slots=True)
class ProbeResult:
    task_id: TaskId
    check_index: int
    outcome: Outcome
    at: float
    """When the probe finished (the time recorded as lastSuccess / lastFailure)."""


@dataclass(frozen=True, slots=True)
class CheckFailed:
    instance: Instance
    check_index: int


@dataclass(frozen=True, slots=True)
class CheckAliveChanged:
    instance: Instance
    check_index: int
    alive: bool


@dataclass(frozen=True, slots=True)
class InstanceHealthChanged:
    instance: Instance
    healthy: bool | None


@dataclass(frozen=True, slots=True)
class KillUnhealthy:
    instance: Instance
    check_index: int
    reason: str


HealthCommand = CheckFailed | CheckAliveChanged | InstanceHealthChanged | KillUnhealthy


@dataclass(frozen=True, slots=True)
class HealthStep:
    records: dict[int, CheckHealth]
    """Every record of the task after the step (unchanged ones included)."""
    changed: bool
    """Some record moved (the API's rendering of this app is stale)."""
    instance: Instance | None
    """The instance with its new verdict when the verdict flipped (persist it), else None."""
    commands: tuple[HealthCommand, ...]


def facts_of(instance: Instance) -> TaskFacts:
    return TaskFacts(running=instance.condition is Condition.RUNNING and instance.has_live_task,
                     running_since=instance.started_at,
                     unreachable=instance.unreachable_since is not None or instance.condition is Condition.UNREACHABLE)


def starting_records(instance: Instance, checks: Sequence[HealthCheckSpec],
                     records: Mapping[int, CheckHealth]) -> dict[int, CheckHealth]:
    out = dict(records)
    if instance.healthy is not None:
        for index, check in enumerate(checks):
            if check.run_by_scheduler and index not in out:
                out[index] = seeded(instance.healthy, instance.healthy_since)
    return out


def verdict_of(instance: Instance, checks: Sequence[HealthCheckSpec], records: Mapping[int, CheckHealth]) -> bool | None:
    return instance_healthy(records[i] for i in range(len(checks)) if i in records)


def step(instance: Instance, checks: Sequence[HealthCheckSpec], records: Mapping[int, CheckHealth],
         results: Sequence[ProbeResult], now: float) -> HealthStep:
    current = starting_records(instance, checks, records)
    facts = facts_of(instance)
    commands: list[HealthCommand] = []
    kills: list[HealthCommand] = []
    changed = False
    for result in results:
        if result.task_id != instance.task_id or not 0 <= result.check_index < len(checks):
            continue
        check = checks[result.check_index]
        had = result.check_index in current
        before = current.get(result.check_index, CheckHealth())
        transition = next_health(before, result.outcome, facts, check, result.at)
        if transition.record == before:
            continue
        current[result.check_index] = transition.record
        changed = True
        if transition.counted_failure:
            commands.append(CheckFailed(instance, result.check_index))
        was_alive = before.alive if had else False
        if transition.record.alive != was_alive:
            commands.append(CheckAliveChanged(instance, result.check_index, transition.record.alive))
        if transition.verdict is Verdict.KILL:
            kills.append(KillUnhealthy(instance, result.check_index,
                                       f"{check.protocol} health check failed "
                                       f"{transition.record.consecutive_failures} times in a row: "
                                       f"{transition.record.last_failure_cause}"))
    verdict = verdict_of(instance, checks, current)
    after = with_health(instance, verdict, now) if changed else instance
    flipped = after is not instance
    if flipped:
        commands.append(InstanceHealthChanged(after, verdict))
    commands.extend(kills)
    return HealthStep(records=current, changed=changed or current != dict(records),
                      instance=after if flipped else None, commands=tuple(commands))
