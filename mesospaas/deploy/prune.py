"""A deployment plan cut down to what it changes, for persistence.

Owns: ``pruned``. A plan holds the whole original and target roots; persisted as is, every deployment would
cost the size of the whole tree (and could outgrow a ZooKeeper node, as Marathon's did). The pruned plan keeps,
in both roots, only the apps the plan acts on or changes, the groups whose own fields change, and the groups
above those (whose dependencies the apps inherit). Everything that reads a plan -- progress, the reconciler's
inputs, ``revert`` -- looks only at those, so the pruned plan behaves like the whole one.

``pruned`` costs what the plan changes, not the size of the roots: it walks only the paths down to the groups
and apps it keeps (``Group.restricted``), never taking the whole tree apart.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from mesospaas.model.deployment import DeploymentPlan
from mesospaas.model.group import ROOT, Group, GroupId, parent_of
from mesospaas.model.group_parts import changed_parts
from mesospaas.model.ids import AppId


def _restrict(root: Group, apps: Collection[AppId], groups: Collection[GroupId]) -> Group:
    """``root`` holding only ``apps``, the ``groups`` and the groups above them: walks only those paths."""
    wanted: set[GroupId] = {ROOT}
    below: dict[GroupId, list[GroupId]] = {}
    for path in [*groups, *(parent_of(a) for a in apps)]:
        while path not in wanted:
            wanted.add(path)
            below.setdefault(parent_of(path), []).append(path)
            path = parent_of(path)
    kept: dict[GroupId, list[AppId]] = {}
    for app in apps:
        kept.setdefault(parent_of(app), []).append(app)

    def cut(group: Group) -> Group:
        children = {path: cut(child) for path in below.get(group.id, ())
                    if (child := group.groups.get(path)) is not None}
        return group.restricted(kept.get(group.id, ()), children)

    return cut(root)


def _changed_app_dependencies(original: Group, target: Group, path: GroupId) -> set[AppId]:
    """The apps of the group at ``path`` whose declared dependencies differ between the two roots."""
    old, new = original.group(path), target.group(path)
    old_deps = old.app_dependencies if old is not None else {}
    new_deps = new.app_dependencies if new is not None else {}
    if old_deps is new_deps:
        return set()
    keys = new.changed_keys(old) if new is not None and old is not None else None
    candidates = keys[0] if keys is not None else old_deps.keys() | new_deps.keys()
    return {a for a in candidates if old_deps.get(a) != new_deps.get(a)}


def pruned(deployment: DeploymentPlan) -> DeploymentPlan:
    """``deployment`` with both roots restricted to the apps and groups it acts on or changes.

    Work is proportional to those apps and groups (times their depth), not to the roots: everything is
    found by its path, and ``changed_parts`` skips what the edit did not touch."""
    parts = changed_parts(deployment.original, deployment.target)
    apps = set(deployment.affected_apps) | set(parts.put_apps) | set(parts.deleted_apps)
    groups = frozenset(parts.put_nodes.keys() | parts.deleted_nodes)
    for group in groups:
        apps |= _changed_app_dependencies(deployment.original, deployment.target, group)
    return replace(deployment, original=_restrict(deployment.original, apps, groups),
                   target=_restrict(deployment.target, apps, groups))
