"""Deployment planning: the ordered steps that move the root group from ``original`` to ``target``.

Owns: ``plan`` (also the dry run: it has no effects), ``conflicts`` and the rollback of a deployment
(``reverted_root`` and ``revert``). Marathon's algorithm (reference §5.1):

1. one step stopping every app of ``original`` missing from ``target`` (StopApplication);
2. one step creating every app new in ``target`` with 0 instances (StartApplication, done at once);
3. then the target's apps grouped by the length of the longest dependency path starting at each
   (``Group.dependency_depths``: own and inherited group dependencies), shortest first, one step per
   length, so an app's dependencies are deployed in earlier steps. Each app becomes:

   - new -> ScaleApplication(instances);
   - config change or restart request (a different config version) -> RestartApplication, except that a
     change to 0 instances is a ScaleApplication(0) (nothing to roll);
   - scale-only change -> ScaleApplication(instances);
   - otherwise nothing.

Steps without actions are dropped; actions within a step are sorted by app id, so the same input always
gives the same plan (only the id comes from the injected source).

Conflicts (§5.4): two deployments conflict when they name a common app. Rollback (``DELETE
/v2/deployments/{id}``): the reverse of the deployment's own changes applied to the *current* root, so
concurrent changes elsewhere are kept, planned as a new deployment with a new id.

Fails: a dependency cycle in the target is returned as ``DependencyCycle`` (Marathon's 422); never raises
for consistent input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mesospaas.deploy.changes import ChangeKind, assign_versions, classify, marathon_timestamp
from mesospaas.model.app import AppSpec
from mesospaas.model.deployment import (
    ActionKind,
    DeploymentAction,
    DeploymentId,
    DeploymentIdSource,
    DeploymentPlan,
    PlanStep,
)
from mesospaas.model.group import DependencyCycle, Group, GroupId
from mesospaas.model.group_parts import PartChanges, changed_parts
from mesospaas.model.ids import AppId, AppVersion


def plan(original: Group, target: Group, now: float, new_id: DeploymentIdSource, *,
         original_acyclic: bool = False) -> DeploymentPlan | DependencyCycle:
    """The deployment from root ``original`` to root ``target`` (versioned with ``assign_versions``).

    Looks at what differs (``changed_parts``: untouched subtrees are shared and skipped by identity). With
    ``original_acyclic`` (the caller knows ``original`` has no dependency cycle, e.g. because it was
    planned before) only the dependencies the changed apps reach are walked, so a change to one app among
    thousands costs little: any new cycle runs through a changed edge. Without it the whole target is
    checked, so a cycle among unchanged apps still rejects the plan."""
    parts = changed_parts(original, target)
    moved = _apps_with_new_edges(original, target, parts)
    depths = target.depths_of(moved) if original_acyclic else None
    if depths is None:  # the full walk: it names a cycle as it always has
        full = target.dependency_depths()
        if isinstance(full, DependencyCycle):
            return full
        depths = full
    starting = sorted(a for a in parts.put_apps if original.app(a) is None)
    steps: list[list[DeploymentAction]] = [
        [DeploymentAction(ActionKind.STOP, key) for key in sorted(parts.deleted_apps)],
        [DeploymentAction(ActionKind.START, key, 0) for key in starting],
    ]
    layers: dict[int, list[AppId]] = {}
    for key in moved:
        layers.setdefault(depths[key], []).append(key)
    for depth in sorted(layers):
        layer = []
        for key in sorted(layers[depth]):
            new = target.app(key)
            assert new is not None
            action = _action(original.app(key), new, original.app_dependency_paths(key),
                             target.app_dependency_paths(key))
            if action is not None:
                layer.append(action)
        steps.append(layer)
    return DeploymentPlan(
        id=new_id(),
        original=original,
        target=target,
        steps=tuple(PlanStep(tuple(actions)) for actions in steps if actions),
        version=marathon_timestamp(now),
    )


def _apps_with_new_edges(original: Group, target: Group, parts: PartChanges) -> set[AppId]:
    """The apps of ``target`` that may need an action or whose dependency edges changed: new and changed
    apps, apps whose declared dependencies changed, and every app under a group whose dependencies changed.
    Any new dependency cycle runs through one of them (or through a new app, which is one of them)."""
    moved: set[AppId] = set(parts.put_apps)
    for group_id in parts.put_nodes:
        after = target.group(group_id)
        before = original.group(group_id)
        if after is None:
            continue
        if before is None or before.dependencies != after.dependencies:
            moved.update(after.all_apps())
            continue
        if before.app_dependencies is after.app_dependencies:
            continue
        keys = after.changed_keys(before)  # derived by the edits: only those keys may differ
        for key in keys[0] if keys is not None else after.apps:
            if key in after.apps and \
                    before.app_dependencies.get(key, frozenset()) != after.app_dependencies.get(key, frozenset()):
                moved.add(key)
    return moved


def _action(
    old: AppSpec | None, new: AppSpec, old_deps: frozenset[str], new_deps: frozenset[str]
) -> DeploymentAction | None:
    if old is None:
        return DeploymentAction(ActionKind.SCALE, new.id, new.instances)
    if old is new and old_deps == new_deps:  # untouched by the edit: the very same object
        return None
    kind = classify(old, new, old_dependencies=old_deps, new_dependencies=new_deps)
    if kind is ChangeKind.RESTART or old.effective_config_version != new.effective_config_version:
        if new.instances == 0:
            return DeploymentAction(ActionKind.SCALE, new.id, 0)
        return DeploymentAction(ActionKind.RESTART, new.id, new.instances)
    if kind is ChangeKind.SCALE:
        return DeploymentAction(ActionKind.SCALE, new.id, new.instances)
    return None


def versions_in_flight(running: Iterable[DeploymentPlan]) -> dict[tuple[AppId, AppVersion], AppSpec]:
    """The app specs running deployments move between, by (app, version): those of the apps they act on, in
    their original and target roots. An app a deployment leaves alone keeps its version, or is acted on (with
    both versions) by the deployment that changed it, so nothing else is needed. Work is proportional to the
    affected apps, not to the roots."""
    versions: dict[tuple[AppId, AppVersion], AppSpec] = {}
    for deployment in running:
        for app_id in deployment.affected_apps:
            for root in (deployment.original, deployment.target):
                app = root.app(app_id)
                if app is not None:
                    versions[(app.id, app.version)] = app
    return versions


def conflicts(candidate: DeploymentPlan, running: Iterable[DeploymentPlan]) -> list[DeploymentId]:
    """Ids of the ``running`` deployments that name an app ``candidate`` names (409 unless ``force``)."""
    mine = candidate.affected_apps
    return [other.id for other in running if other.id != candidate.id and mine & other.affected_apps]


def reverted_root(deployment: DeploymentPlan, current: Group) -> Group:
    """``current`` with the changes of ``deployment`` undone (Marathon's DeploymentPlanReverter).

    Apps the deployment changed or removed get their original definition and dependencies back; apps it
    added are removed. Groups: dependencies it removed come back, those it added go, and groups it added
    are removed when nothing else was put into them meanwhile. Versions are left for ``assign_versions``.
    """
    original, target = deployment.original, deployment.target
    before, after = original.all_apps(), target.all_apps()
    before_deps, after_deps = original.all_app_dependencies(), target.all_app_dependencies()
    result = current
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        old_deps, new_deps = before_deps.get(key, frozenset()), after_deps.get(key, frozenset())
        if old == new and old_deps == new_deps:
            continue
        if old is not None:
            result = result.update_app(old, dependencies=old_deps)
        else:
            result = result.remove_app(key)
    old_groups = {g.id: g for g in original.all_groups()}
    new_groups = {g.id: g for g in target.all_groups()}
    # Innermost first, so an added group's added children are gone before it is checked for emptiness.
    for path in sorted(old_groups.keys() | new_groups.keys(), key=lambda p: (-len(p.strip("/").split("/")), p)):
        result = _revert_group(result, path, old_groups.get(path), new_groups.get(path))
    return result


def _revert_group(result: Group, path: GroupId, old: Group | None, new: Group | None) -> Group:
    present = result.group(path)
    now_deps = present.dependencies if present is not None else frozenset()
    if old is not None and new is None:  # removed: bring it back with its dependencies
        if present is None or not old.dependencies <= now_deps:
            return result.with_dependencies(path, now_deps | old.dependencies)
    elif old is not None and new is not None:  # kept: undo its dependency changes only
        removed, added = old.dependencies - new.dependencies, new.dependencies - old.dependencies
        if removed or added:
            return result.with_dependencies(path, (now_deps | removed) - added)
    elif new is not None and present is not None:  # added: remove it unless something else lives there now
        if not present.apps and not present.groups and present.dependencies == new.dependencies:
            return result.remove_group(path)
        if new.dependencies:
            return result.with_dependencies(path, present.dependencies - new.dependencies)
    return result


def revert(
    deployment: DeploymentPlan,
    current: Group,
    now: float,
    new_id: DeploymentIdSource,
) -> DeploymentPlan | DependencyCycle:
    """The rollback deployment for ``DELETE /v2/deployments/{id}``: from ``current`` to the reverted root."""
    target = assign_versions(current, reverted_root(deployment, current), now)
    return plan(current, target, now, new_id)


def apps_by_action(deployment: DeploymentPlan) -> Mapping[AppId, tuple[int, DeploymentAction]]:
    """For every affected app its last action and that action's step index (an app's deciding action)."""
    found: dict[AppId, tuple[int, DeploymentAction]] = {}
    for index, step in enumerate(deployment.steps):
        for action in step.actions:
            found[action.app] = (index, action)
    return found

