"""Deployment progress: level-triggered, from the plan, the persisted step index and the instances.

Owns: when an action and a step are done (``action_status``, ``step_status``), moving the step index on
(``advance``), what the reconciler must be given for every affected app at a step (``reconcile_inputs``),
and ``progress``, which does all three for the shell's loop.

Nothing is counted between calls. The only state besides the plan is the step index, a monotonic
watermark the shell persists when it moves: a new leader loads plan and index and calls ``progress`` with
the instances it finds; steps already done are skipped again from the instances alone, so a stale index is
harmless. The index never moves back, so an app that already rolled is never handed back to its old spec
when an instance of an earlier step fails later (the reconciler heals that one).

Done (reference §5.1; "healthy" means ``considered_available``: healthy, and ready when the app has a
readiness check):

- StartApplication: at once (it only creates the app with 0 instances).
- StopApplication: no instance of the app has a reachable live task (unreachable ones are abandoned, as
  Marathon expunges them on kill).
- ScaleApplication: exactly ``scale_to`` instances with goal RUNNING are running (and healthy when the app
  has health checks), and no other instance still has a reachable live task (kills have completed).
- RestartApplication: the same, counting only instances of the target version: every old one is gone.

Reconciler inputs per affected app and step index ``k``:

- a stopped app: ``None`` (tear everything down);
- an app whose deciding action is in a step before ``k``: the target spec, no ``DeploymentStep``;
- in step ``k``: the target spec, plus ``DeploymentStep.restart(target)`` for a RestartApplication (held
  at ``canaries[app]`` new instances while the app's canary phase lasts: ``deploy.supervision``);
- in a later step: the original spec (nothing changes yet), or for a new app the target with 0 instances.

So dependents wait for their dependencies: an app in a later step keeps running its old version until its
step comes. The shell must keep the original spec of such an app resolvable for placement (a relaunch of
an old instance uses it: ``Snapshot.app_versions``). Unaffected apps are reconciled against the root as
usual. Fails: never raises for a consistent plan and index (0 <= index <= number of steps).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

from mesospaas.deploy.plan import apps_by_action
from mesospaas.model.app import AppSpec
from mesospaas.model.condition import PLACED
from mesospaas.model.deployment import ActionKind, DeploymentAction, DeploymentPlan, DeploymentStep
from mesospaas.model.ids import AppId
from mesospaas.model.instance import Goal, Instance
from mesospaas.reconcile.reconcile_app import considered_available

InstancesByApp = Mapping[AppId, Sequence[Instance]]


@dataclass(frozen=True, slots=True)
class ActionStatus:
    action: DeploymentAction
    done: bool
    counted: int = 0
    """Instances that count towards ``scale_to``: goal RUNNING, running (healthy), right version."""
    other_live: int = 0
    """Other instances that still have a reachable live task: old versions, ones being killed, not healthy yet."""


@dataclass(frozen=True, slots=True)
class StepStatus:
    index: int
    """0-based; the API's ``currentStep`` is ``index + 1``."""
    actions: tuple[ActionStatus, ...]

    @property
    def done(self) -> bool:
        return all(a.done for a in self.actions)


@dataclass(frozen=True, slots=True)
class ReconcileInput:
    """What ``reconcile_app`` gets for one affected app: ``reconcile_app(app, instances, now, deployment=…)``."""

    app: AppSpec | None
    deployment: DeploymentStep | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    step_index: int
    """The index to persist (it only grows); equals the number of steps once finished."""
    finished: bool
    completed_steps: tuple[int, ...]
    """Steps found done by this call, in order (one ``deployment_step_success`` event each)."""
    current: StepStatus | None
    """The step now running (``currentActions``); ``None`` once finished."""
    inputs: Mapping[AppId, ReconcileInput]


def action_status(
    deployment: DeploymentPlan, action: DeploymentAction, instances: Sequence[Instance]
) -> ActionStatus:
    """Whether ``action`` has reached its goal given the app's current ``instances``."""
    if action.action is ActionKind.START:
        return ActionStatus(action, True)
    reachable = [i for i in instances if i.condition in PLACED]
    if action.action is ActionKind.STOP:
        return ActionStatus(action, not reachable, 0, len(reachable))
    target = deployment.target.app(action.app)
    if target is None:  # cannot happen for a plan made by ``plan``; never done rather than wrong
        return ActionStatus(action, False, 0, len(reachable))
    counted = {
        i.id
        for i in instances
        if i.goal is Goal.RUNNING
        and considered_available(i, target)
        and (action.action is not ActionKind.RESTART or i.app_version == target.version)
    }
    other_live = sum(1 for i in reachable if i.id not in counted)
    return ActionStatus(action, len(counted) == action.scale_to and other_live == 0, len(counted), other_live)


def step_status(deployment: DeploymentPlan, index: int, instances: InstancesByApp) -> StepStatus:
    step = deployment.steps[index]
    return StepStatus(index, tuple(action_status(deployment, a, instances.get(a.app, ())) for a in step.actions))


def is_finished(deployment: DeploymentPlan, index: int) -> bool:
    return index >= len(deployment.steps)


def advance(deployment: DeploymentPlan, index: int, instances: InstancesByApp) -> int:
    """The first step index at or after ``index`` whose step is not done (the step count when all are)."""
    while not is_finished(deployment, index) and step_status(deployment, index, instances).done:
        index += 1
    return index


def reconcile_inputs(
    deployment: DeploymentPlan, index: int, canaries: Mapping[AppId, int] = MappingProxyType({})
) -> Mapping[AppId, ReconcileInput]:
    """For every affected app, the spec and rolling step the reconciler needs while step ``index`` runs;
    ``canaries``: apps whose restart is held in its canary phase, with the number of canaries."""
    inputs: dict[AppId, ReconcileInput] = {}
    for app, (position, action) in sorted(apps_by_action(deployment).items()):
        target = deployment.target.app(app)
        if action.action is ActionKind.STOP or target is None:
            inputs[app] = ReconcileInput(None)
        elif position < index:
            inputs[app] = ReconcileInput(target)
        elif position == index:
            rolling = DeploymentStep.restart(target, canaries.get(app)) if action.action is ActionKind.RESTART \
                else None
            inputs[app] = ReconcileInput(target, rolling)
        else:
            original = deployment.original.app(app)
            inputs[app] = ReconcileInput(original if original is not None else replace(target, instances=0))
    return MappingProxyType(inputs)


def progress(
    deployment: DeploymentPlan,
    step_index: int,
    instances: InstancesByApp,
    canaries: Mapping[AppId, int] = MappingProxyType({}),
) -> Progress:
    """Advance from the persisted ``step_index`` and say what to reconcile now; pure, so safe to repeat.

    ``canaries``: restarts held in their canary phase (``deploy.supervision.canary_holds``); such a step is
    not done while it holds, since no old instance is stopped."""
    index = advance(deployment, step_index, instances)
    finished = is_finished(deployment, index)
    return Progress(
        step_index=index,
        finished=finished,
        completed_steps=tuple(range(step_index, index)),
        current=None if finished else step_status(deployment, index, instances),
        inputs=reconcile_inputs(deployment, index, canaries),
    )
