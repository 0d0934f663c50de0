"""Deployment supervision: progress deadlines, crash loops, canaries and pauses, over plain data.

Marathon's deployments could neither fail nor roll back by themselves (a step that never completes runs
forever). This module decides, from a plan, its progress, the instances and ``now``, whether a deployment is
still making progress, whether it has failed (and should roll back), and where its canaries stand. The shell
persists the ``Supervision`` it returns whenever ``changed`` says so, then acts on the verdict.

Rules (each app opts in through its ``upgradeStrategy`` extensions; a deployment none of whose apps opts in
behaves exactly as Marathon's):

- **Progress** is a new instance becoming healthy and ready (``counted`` of an action grows past its best
  so far) or an old one stopping as planned (``other_live`` falls below its lowest so far), or a step
  completing. The bests are watermarks of the current step, so an instance that flaps is not progress twice.
- **Deadline**: the smallest ``progressDeadlineSeconds`` among the apps that opt in (600 s for an app that
  asks for ``autoRollback`` without one). A deployment that makes no progress for that long fails. The clock
  does not run while the deployment is paused or while healthy canaries wait out ``healthySeconds``; a new
  leader starts each deadline window afresh (``resumed``), so its own failover never fails a deployment.
- **Crash loop**: ``CRASH_LOOP_FAILURES`` failed tasks of the new version of an opted-in app within one
  deployment fail it (``count_failure``, called by the shell for every status update that fails a task).
- **Canary** (``upgradeStrategy.canary`` of an app being restarted): until the app is promoted, its restart
  is held at ``canary_instances`` new instances on top of the old ones (``canary_holds``, fed to
  ``deploy.progress``); once all of them have been healthy and ready for ``healthySeconds``, AUTO promotes
  the app and the rollout goes on, MANUAL pauses the deployment until ``continued``.
- **Rollback**: a failed deployment rolls back when one of its apps asks for ``autoRollback``. An automatic
  rollback (``rollback_of``) never fails by itself: it restores the version that worked and runs until it is
  done, as every Marathon deployment does, so nothing loops and nothing is left half way.

Pure and deterministic; never raises for a consistent plan and progress.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

from mesospaas.deploy.plan import apps_by_action
from mesospaas.deploy.progress import Progress
from mesospaas.launch.backoff import is_launch_failure
from mesospaas.model.app import AppSpec, CanaryPromotion
from mesospaas.model.deployment import ActionKind, DeploymentId, DeploymentPlan
from mesospaas.model.ids import AppId
from mesospaas.model.instance import Goal, Instance
from mesospaas.reconcile.reconcile_app import considered_available

CRASH_LOOP_FAILURES = 3
"""Failed tasks of the new version (of apps that opt in) that fail a deployment."""

InstancesByApp = Mapping[AppId, Sequence[Instance]]


class DeploymentState(enum.Enum):
    """What ``GET /v2/deployments/{id}`` says of a deployment."""

    RUNNING = "running"
    PAUSED = "paused"
    ROLLING_BACK = "rolling back"
    """An automatic rollback of a failed deployment, running."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class Watermark:
    """The best an action of the current step has reached: most instances counted, fewest others live."""

    app: AppId
    counted: int
    other_live: int


@dataclass(frozen=True, slots=True)
class CanaryWait:
    """Since when every canary of ``app`` has been healthy and ready."""

    app: AppId
    healthy_since: float


@dataclass(frozen=True, slots=True)
class Supervision:
    """What the shell persists beside a running deployment's plan and step index."""

    started_at: float = 0.0
    last_progress_at: float = 0.0
    step_index: int = 0
    """The step the watermarks belong to."""
    watermarks: tuple[Watermark, ...] = ()
    failed_tasks: int = 0
    """Failed tasks of the new version of apps that opt in, within this deployment."""
    waits: tuple[CanaryWait, ...] = ()
    promoted: frozenset[AppId] = frozenset()
    """Apps whose canary phase is over (promoted automatically or by ``continued``)."""
    paused: bool = False
    """A MANUAL canary is waiting for ``POST /v2/deployments/{id}/continue``."""
    rollback_of: DeploymentId | None = None
    """Set on an automatic rollback: the deployment that failed."""


def started(now: float, rollback_of: DeploymentId | None = None) -> Supervision:
    return Supervision(started_at=now, last_progress_at=now, rollback_of=rollback_of)


def resumed(supervision: Supervision, now: float) -> Supervision:
    """A new leader took over: the deadline window starts afresh (its own absence is not the app's fault)."""
    return replace(supervision, last_progress_at=max(supervision.last_progress_at, now))


@dataclass(frozen=True, slots=True)
class Verdict:
    supervision: Supervision
    changed: bool
    """Whether ``supervision`` differs in anything the store must keep."""
    failure: str | None = None
    """Why the deployment failed (a sentence for people), or ``None``."""
    promoted: tuple[AppId, ...] = ()
    """Apps promoted by this call (their canary phase just ended)."""
    paused_now: bool = False
    """The deployment paused in this call (a MANUAL canary proved healthy)."""


def _restarts(plan: DeploymentPlan) -> dict[AppId, tuple[int, AppSpec]]:
    """Apps restarted by the plan: their step position and target spec."""
    out: dict[AppId, tuple[int, AppSpec]] = {}
    for app_id, (position, action) in apps_by_action(plan).items():
        target = plan.target.app(app_id)
        if action.action is ActionKind.RESTART and target is not None:
            out[app_id] = (position, target)
    return out


def canary_count(app: AppSpec) -> int | None:
    """How many canaries a restart of ``app`` starts: its canary's ``instances``, within the over-capacity
    budget (at least one) and the app's instance count; ``None`` without a canary."""
    canary = app.upgrade_strategy.canary
    if canary is None or app.instances == 0:
        return None
    over = math.floor(app.instances * app.upgrade_strategy.maximum_over_capacity + 1e-9)
    return max(1, min(canary.instances, over, app.instances))


def canary_holds(plan: DeploymentPlan, supervision: Supervision) -> Mapping[AppId, int]:
    """Restarts held in their canary phase, with their canary count (``deploy.progress``'s ``canaries``)."""
    holds: dict[AppId, int] = {}
    if supervision.rollback_of is not None:
        return MappingProxyType(holds)  # a rollback goes straight back
    for app_id, (_, target) in _restarts(plan).items():
        count = canary_count(target)
        if count is not None and app_id not in supervision.promoted:
            holds[app_id] = count
    return MappingProxyType(holds)


def _opted_in(plan: DeploymentPlan) -> list[AppSpec]:
    apps = []
    for app_id in sorted(plan.affected_apps):
        target = plan.target.app(app_id)
        if target is not None and target.upgrade_strategy.fails:
            apps.append(target)
    return apps


def deadline(plan: DeploymentPlan) -> float | None:
    """The progress deadline in force for the plan (seconds), or ``None`` when it never fails by time."""
    values = [d for app in _opted_in(plan) if (d := app.upgrade_strategy.deadline) is not None]
    return min(values) if values else None


def wants_rollback(plan: DeploymentPlan, supervision: Supervision) -> bool:
    """Whether a failure of this deployment rolls it back (one of its apps asks, and it is no rollback)."""
    if supervision.rollback_of is not None:
        return False
    return any(app.upgrade_strategy.auto_rollback for app in _opted_in(plan))


def count_failure(plan: DeploymentPlan, supervision: Supervision, before: Instance, after: Instance) -> Supervision:
    """``supervision`` after a status update moved ``before`` to ``after``: one more failed task when a task of
    the new version of an opted-in app just failed (a kill that was asked for is no failure)."""
    target = plan.target.app(after.app_id)
    if target is None or not target.upgrade_strategy.fails or after.app_version != target.version:
        return supervision
    if after.goal is not Goal.RUNNING or not is_launch_failure(after.condition) or is_launch_failure(before.condition):
        return supervision
    return replace(supervision, failed_tasks=supervision.failed_tasks + 1)


def continued(supervision: Supervision, plan: DeploymentPlan, now: float) -> Supervision:
    """``POST /v2/deployments/{id}/continue``: every held canary is promoted and the pause ends."""
    holds = canary_holds(plan, supervision)
    return replace(supervision, paused=False, promoted=supervision.promoted | frozenset(holds), waits=(),
                   last_progress_at=now)


def _new_available(app: AppSpec, instances: Sequence[Instance]) -> int:
    return sum(1 for i in instances if i.goal is Goal.RUNNING and i.app_version == app.version
               and considered_available(i, app))


def supervise(
    plan: DeploymentPlan, progress: Progress, supervision: Supervision, instances: InstancesByApp, now: float
) -> Verdict:
    """The next supervision state of a running deployment and whether it failed (see the module rules)."""
    if progress.finished or progress.current is None:
        return Verdict(supervision, False)
    s = supervision
    step = progress.current
    statuses = {a.action.app: a for a in step.actions}
    last_progress = s.last_progress_at
    if step.index != s.step_index:
        marks = tuple(Watermark(app, a.counted, a.other_live) for app, a in sorted(statuses.items()))
        last_progress = now
    else:
        known = {w.app: w for w in s.watermarks}
        marks_list = []
        for app, status in sorted(statuses.items()):
            mark = known.get(app)
            if mark is None:
                marks_list.append(Watermark(app, status.counted, status.other_live))
                continue
            if status.counted > mark.counted or status.other_live < mark.other_live:
                last_progress = now
            marks_list.append(Watermark(app, max(mark.counted, status.counted),
                                        min(mark.other_live, status.other_live)))
        marks = tuple(marks_list)

    # Canaries of the apps restarted in this step.
    holds = canary_holds(plan, s)
    restarts = _restarts(plan)
    waits = {w.app: w.healthy_since for w in s.waits}
    promoted = set(s.promoted)
    paused = s.paused
    newly_promoted: list[AppId] = []
    paused_now = False
    waiting = False
    for app_id, count in sorted(holds.items()):
        position, target = restarts[app_id]
        if position != step.index:
            continue
        canary = target.upgrade_strategy.canary
        assert canary is not None  # holds only names apps with a canary
        if _new_available(target, instances.get(app_id, ())) < count:
            if app_id in waits:
                del waits[app_id]
                last_progress = now  # the wait was meant; the deadline counts from its end
            continue
        since = waits.setdefault(app_id, now)
        if now - since < canary.healthy_seconds:
            waiting = True
        elif canary.promote is CanaryPromotion.AUTO:
            promoted.add(app_id)
            del waits[app_id]
            newly_promoted.append(app_id)
            last_progress = now
        elif not paused:
            paused = paused_now = True
    new = replace(s, step_index=step.index, watermarks=marks, last_progress_at=last_progress,
                  waits=tuple(CanaryWait(a, t) for a, t in sorted(waits.items())),
                  promoted=frozenset(promoted), paused=paused)
    failure = None
    if _opted_in(plan) and s.rollback_of is None:
        limit = deadline(plan)
        if s.failed_tasks >= CRASH_LOOP_FAILURES:
            failure = (f"{s.failed_tasks} tasks of the new version failed during the deployment "
                       f"(crash loop; the limit is {CRASH_LOOP_FAILURES})")
        elif limit is not None and not paused and not waiting and now - last_progress > limit:
            failure = f"no progress for {now - last_progress:.0f} s (progressDeadlineSeconds: {limit:g})"
    # ``last_progress_at`` only moves together with a watermark, the step, a wait or a promotion, so this
    # is true exactly when something the store must keep changed (never on a tick that found nothing new).
    return Verdict(new, new != s, failure, tuple(newly_promoted), paused_now)


@dataclass(frozen=True, slots=True)
class CanaryReport:
    """A canary's progress as ``GET /v2/deployments/{id}`` shows it."""

    app: AppId
    instances: int
    healthy: int
    healthy_since: float | None
    healthy_seconds: float
    promote: CanaryPromotion
    promoted: bool


def canary_reports(plan: DeploymentPlan, supervision: Supervision, instances: InstancesByApp) -> list[CanaryReport]:
    """Every canary of the plan's restarts, held or promoted."""
    waits = {w.app: w.healthy_since for w in supervision.waits}
    out = []
    for app_id, (_, target) in sorted(_restarts(plan).items()):
        count = canary_count(target)
        canary = target.upgrade_strategy.canary
        if count is None or canary is None:
            continue
        out.append(CanaryReport(app_id, count, min(count, _new_available(target, instances.get(app_id, ()))),
                                waits.get(app_id), canary.healthy_seconds, canary.promote,
                                app_id in supervision.promoted))
    return out


def state_of(supervision: Supervision) -> DeploymentState:
    """The state of a running deployment."""
    if supervision.paused:
        return DeploymentState.PAUSED
    if supervision.rollback_of is not None:
        return DeploymentState.ROLLING_BACK
    return DeploymentState.RUNNING


__all__ = ["CRASH_LOOP_FAILURES", "CanaryReport", "CanaryWait", "DeploymentState", "Supervision", "Verdict",
           "Watermark", "canary_count", "canary_holds", "canary_reports", "continued", "count_failure", "deadline",
           "resumed", "started", "state_of", "supervise", "wants_rollback"]
