"""A deployment plan cut down to what it changes, for persistence.

Owns: ``pruned``. A plan holds the whole original and target roots; persisted as is, every deployment would
cost the size of the whole tree (and could outgrow a ZooKeeper node, as Marathon's did). The pruned plan keeps,
in both roots, only the apps the plan acts on or changes, the groups whose own fields change, and the groups
above those (whose dependencies the apps inherit). Everything that reads a plan -- progress, the reconciler's
inputs, ``revert`` -- looks only at those, so the pruned plan behaves like the whole one.
"""

from __future__ import annotations

from dataclasses import replace

from mesospaas.model.app import AppSpec
from mesospaas.model.deployment import DeploymentPlan
from mesospaas.model.group import ROOT, Group, GroupId, parent_of
from mesospaas.model.group_parts import assemble, changed_parts, split
from mesospaas.model.ids import AppId


def _restrict(root: Group, apps: frozenset[AppId], groups: frozenset[GroupId]) -> Group:
    nodes, all_apps = split(root)
    kept_apps: list[AppSpec] = [all_apps[a] for a in sorted(apps) if a in all_apps]
    wanted: set[GroupId] = {ROOT}
    for path in [*groups, *(parent_of(a) for a in apps)]:
        while path not in wanted:
            wanted.add(path)
            path = parent_of(path)
    return assemble({g: n for g, n in nodes.items() if g in wanted}, kept_apps)


def pruned(deployment: DeploymentPlan) -> DeploymentPlan:
    """``deployment`` with both roots restricted to the apps and groups it acts on or changes."""
    parts = changed_parts(deployment.original, deployment.target)
    apps = set(deployment.affected_apps) | set(parts.put_apps) | set(parts.deleted_apps)
    before, after = split(deployment.original)[0], split(deployment.target)[0]
    for group in parts.put_nodes.keys() | parts.deleted_nodes:
        old, new = before.get(group), after.get(group)
        old_deps = dict(old.app_dependencies) if old else {}
        new_deps = dict(new.app_dependencies) if new else {}
        apps.update(a for a in old_deps.keys() | new_deps.keys() if old_deps.get(a) != new_deps.get(a))
    groups = frozenset(parts.put_nodes.keys() | parts.deleted_nodes)
    kept = frozenset(apps)
    return replace(deployment, original=_restrict(deployment.original, kept, groups),
                   target=_restrict(deployment.target, kept, groups))
