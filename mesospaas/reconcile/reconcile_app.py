"""The reconciler: desired vs actual for one app, level-triggered, over sets of instance ids.

Owns: ``reconcile_app``, ``ReconcileResult`` and ``apply_result``. Nothing is remembered between calls: the
result is a function of the app spec, its instances, the optional deployment step, the backoff state and
``now``. Applying the result and reconciling again yields no further *changes* (only the same kill
commands, which the shell re-sends with its own throttling until Mesos confirms).

Rules, in order:

1. Expunge instances that are gone for good: unreachable beyond ``expungeAfterSeconds``, and decommissioned
   ones without a live task.
2. Count the *active* instances: goal RUNNING and not unreachable-inactive (an instance unreachable beyond
   ``inactiveAfterSeconds`` stops counting, so a replacement gets scheduled; ``"disabled"`` never does).
3. Without a deployment step (or with one for another version): scale to ``instances``. Too few -> resume
   STOPPED instances first, then create new ones (ids from the injected ``new_ids``). Too many -> pick
   victims with ``kill_selection`` (no-task first, GROUP_BY balance, condition, killSelection).
4. With a deployment step for the app's current version (Marathon's restart algorithm, level-triggered):
   ``min_healthy = ceil(N * mHC)``, ``max_capacity = floor(N * (1 + mOC))``, plus one when they are equal
   and already reached (otherwise it could never move). Old = active instances of another version.
   Unhealthy old instances are replaced at once (they contribute no capacity); healthy old ones are
   killed while more than ``min_healthy`` healthy instances remain; more old ones are killed if old + new
   would exceed ``max_capacity``; new ones are created up to ``min(N, max_capacity - old)``. Surplus new
   instances beyond N are scaled down normally.
5. Victims with a live task get goal DECOMMISSIONED (and a kill command); victims without one are expunged
   directly. Kill commands: every instance whose goal is not RUNNING and whose task is live (not already
   reported KILLING).
6. Backoff does not stop scheduling (the launch queue filters delayed apps); ``launch_delayed_until`` tells
   the shell when to look again.

An ``app`` of ``None`` means the app was removed: every instance is decommissioned / expunged.

Invariants (property-tested): afterwards at most ``max(N, max_capacity)`` active instances (N without a
deployment); an app with 0 instances or ``None`` creates nothing; reconciling the applied result again
changes nothing. Fails: never raises for consistent input.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from mesospaas.model.app import AppSpec, UnreachableEnabled, UnreachableStrategy
from mesospaas.model.condition import Condition
from mesospaas.model.deployment import DeploymentStep
from mesospaas.model.ids import InstanceId, InstanceIdSource
from mesospaas.model.instance import Goal, Instance, scheduled
from mesospaas.launch.backoff import Backoff, delayed_until
from mesospaas.reconcile.kill_selection import kill_order_key, select_instances_to_kill
from mesospaas.reconcile.unreachable import is_unreachable_expired, is_unreachable_inactive

_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    create: tuple[Instance, ...] = ()
    """New SCHEDULED instances to persist (they enter the launch queue)."""
    goals: tuple[tuple[InstanceId, Goal], ...] = ()
    """Goal changes to persist."""
    expunge: tuple[InstanceId, ...] = ()
    """Instances to delete from the store."""
    kill: tuple[InstanceId, ...] = ()
    """Commands: kill the live task of these instances (level-triggered; repeated until they are gone)."""
    launch_delayed_until: float | None = None

    @property
    def changes_nothing(self) -> bool:
        return not (self.create or self.goals or self.expunge)


def _capacity(app: AppSpec, step: DeploymentStep) -> tuple[int, int]:
    n = app.instances
    return (
        math.ceil(n * step.minimum_health_capacity - _EPSILON),
        math.floor(n * (1.0 + step.maximum_over_capacity) + _EPSILON),
    )


def considered_healthy(instance: Instance, app: AppSpec) -> bool:
    """Running, and healthy when the app has health checks."""
    if instance.condition is not Condition.RUNNING:
        return False
    return not app.health_checks or instance.healthy is True


def considered_available(instance: Instance, app: AppSpec) -> bool:
    """Counts as serving capacity in a deployment: considered healthy and, for an instance of ``app``'s own
    version when the app has readiness checks, ready. Instances of other versions are not readiness-checked
    (they proved themselves in their own deployment), so for them this is ``considered_healthy``."""
    if not considered_healthy(instance, app):
        return False
    return not app.readiness_checks or instance.app_version != app.version or instance.ready_at is not None


def _health_unknown(instance: Instance, app: AppSpec) -> bool:
    return bool(app.health_checks) and instance.condition is Condition.RUNNING and instance.healthy is None


def reconcile_app(
    app: AppSpec | None,
    instances: Iterable[Instance],
    now: float,
    *,
    new_ids: InstanceIdSource,
    backoff: Backoff | None = None,
    deployment: DeploymentStep | None = None,
) -> ReconcileResult:
    """What to create, re-goal, expunge and kill so that ``instances`` converge on ``app``."""
    strategy: UnreachableStrategy = app.unreachable_strategy if app is not None else UnreachableEnabled()
    expunge: list[InstanceId] = []
    kept: list[Instance] = []
    for instance in instances:
        if is_unreachable_expired(instance, strategy, now) or (
            instance.goal is Goal.DECOMMISSIONED and not instance.has_live_task
        ):
            expunge.append(instance.id)
        else:
            kept.append(instance)
    active = [
        i for i in kept if i.goal is Goal.RUNNING and not is_unreachable_inactive(i, strategy, now)
    ]
    goals: dict[InstanceId, Goal] = {}
    victims: list[Instance] = []
    create_count = 0
    if app is None:
        victims = [i for i in kept if i.goal is not Goal.DECOMMISSIONED]
    elif deployment is not None and deployment.target_version == app.version:
        create_count, victims = _rolling(app, active, deployment)
    elif len(active) > app.instances:
        victims = list(select_instances_to_kill(app, active, len(active) - app.instances))
    elif len(active) < app.instances:
        missing = app.instances - len(active)
        # Only stopped instances that would count once resumed (an inactive unreachable one would not).
        stopped = sorted(
            (i for i in kept if i.goal is Goal.STOPPED and not is_unreachable_inactive(i, strategy, now)),
            key=lambda i: (i.since, i.id),
        )
        for instance in stopped[:missing]:
            goals[instance.id] = Goal.RUNNING
        create_count = missing - min(missing, len(stopped))
    for victim in victims:
        if victim.has_live_task:
            goals[victim.id] = Goal.DECOMMISSIONED
        else:
            expunge.append(victim.id)
    gone = set(expunge)
    kill = tuple(
        i.id
        for i in kept
        if i.id not in gone
        and goals.get(i.id, i.goal) is not Goal.RUNNING
        and i.has_live_task
        and i.condition is not Condition.KILLING
    )
    create: tuple[Instance, ...] = ()
    if app is not None and create_count > 0:
        create = tuple(scheduled(new_ids(app.id), app.id, app.version, now) for _ in range(create_count))
    return ReconcileResult(
        create=create,
        goals=tuple(goals.items()),
        expunge=tuple(expunge),
        kill=kill,
        launch_delayed_until=delayed_until(backoff, app, now) if app is not None else None,
    )


def _rolling(app: AppSpec, active: Sequence[Instance], step: DeploymentStep) -> tuple[int, list[Instance]]:
    n = app.instances
    target = step.target_version
    old = [i for i in active if i.app_version != target]
    new = [i for i in active if i.app_version == target]
    victims: list[Instance] = []
    if len(new) > n:
        surplus = select_instances_to_kill(app, new, len(new) - n)
        victims.extend(surplus)
        dropped = {i.id for i in surplus}
        new = [i for i in new if i.id not in dropped]
    if step.canary_instances is not None:
        # The canary phase: a few new instances on top of every old one; nothing old is stopped yet.
        return max(0, min(n, step.canary_instances) - len(new)), victims
    healthy_now = sum(1 for i in old + new if considered_available(i, app))
    min_healthy, max_capacity = _capacity(app, step)
    if min_healthy == max_capacity and max_capacity <= healthy_now:
        max_capacity += 1

    def order(instance: Instance) -> tuple[int, float, str]:
        return kill_order_key(instance, app.kill_selection)

    # Known-unhealthy (or not running) old instances add no capacity: they go at once. A running instance
    # whose health is not known yet (no result since launch or since a failover) may well be serving, so it
    # is only killed within the budget, like a healthy one, but before the healthy ones.
    unhealthy_old = [i for i in old if not considered_healthy(i, app) and not _health_unknown(i, app)]
    unknown_old = sorted((i for i in old if _health_unknown(i, app)), key=order)
    healthy_old = unknown_old + sorted((i for i in old if considered_healthy(i, app)), key=order)
    budget = max(0, healthy_now - min_healthy)
    doomed = unhealthy_old + healthy_old[:budget]
    remaining = healthy_old[budget:]
    overflow = len(remaining) + len(new) - max_capacity
    if overflow > 0:
        doomed.extend(remaining[:overflow])
        remaining = remaining[overflow:]
    victims.extend(doomed)
    create = max(0, min(n - len(new), max_capacity - len(remaining) - len(new)))
    return create, victims


def apply_result(instances: Iterable[Instance], result: ReconcileResult) -> tuple[Instance, ...]:
    """The instances after persisting ``result`` (what the shell's store will hold)."""
    gone = set(result.expunge)
    goals = dict(result.goals)
    updated = [
        replace(i, goal=goals[i.id]) if i.id in goals else i for i in instances if i.id not in gone
    ]
    return tuple(updated) + result.create
