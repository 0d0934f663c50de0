"""The root group taken apart into entities a store can keep one per record, and put back together.

Owns: ``GroupNode`` (a group without its apps and sub-groups: id, dependencies, version, the dependencies of
its direct apps), ``split`` (root -> nodes and apps), ``assemble`` (nodes and apps -> root) and ``changed_parts``
(what differs between two roots, entity by entity), so a change to one app persists one app and the groups
above it, never the whole tree.

Invariant: ``assemble(*split(root)) == root``. ``assemble`` is forgiving about what a store may hold after a
partial history: a missing group node becomes an empty group at the epoch version, dependencies of apps that
are not there are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from mesospaas.model.app import EPOCH_VERSION, AppSpec
from mesospaas.model.group import Group, GroupId, build_tree
from mesospaas.model.ids import AppId, AppVersion


@dataclass(frozen=True, slots=True)
class GroupNode:
    id: GroupId
    dependencies: frozenset[str] = frozenset()
    version: AppVersion = EPOCH_VERSION
    app_dependencies: Mapping[AppId, frozenset[str]] = field(default_factory=dict)
    enforce_role: bool = False

    @staticmethod
    def of(group: Group) -> GroupNode:
        return GroupNode(group.id, group.dependencies, group.version, dict(group.app_dependencies),
                         group.enforce_role)

    def same_as(self, other: GroupNode) -> bool:
        return (self.id == other.id and self.dependencies == other.dependencies and self.version == other.version
                and dict(self.app_dependencies) == dict(other.app_dependencies)
                and self.enforce_role == other.enforce_role)


def split(root: Group) -> tuple[dict[GroupId, GroupNode], dict[AppId, AppSpec]]:
    """Every group of ``root`` as a node, and every app, by id."""
    nodes: dict[GroupId, GroupNode] = {}
    apps: dict[AppId, AppSpec] = {}
    for group in root.all_groups():
        nodes[group.id] = GroupNode.of(group)
        apps.update(group.apps)
    return nodes, apps


def assemble(nodes: Mapping[GroupId, GroupNode], apps: Iterable[AppSpec]) -> Group:
    """The root group made of ``nodes`` and ``apps`` (enclosing groups created where a node is missing)."""
    def make(path: GroupId, members: dict[AppId, AppSpec], children: dict[GroupId, Group]) -> Group:
        node = nodes.get(path) or GroupNode(path)
        return Group(path, apps=members, groups=children, dependencies=node.dependencies, version=node.version,
                     app_dependencies={k: v for k, v in node.app_dependencies.items() if k in members},
                     enforce_role=node.enforce_role)

    return build_tree(apps, nodes, make)


@dataclass(frozen=True, slots=True)
class PartChanges:
    """What a store must write to move from one root to another."""

    put_nodes: Mapping[GroupId, GroupNode]
    deleted_nodes: frozenset[GroupId]
    put_apps: Mapping[AppId, AppSpec]
    deleted_apps: frozenset[AppId]

    @property
    def is_empty(self) -> bool:
        return not (self.put_nodes or self.deleted_nodes or self.put_apps or self.deleted_apps)


def _groups_by_id(root: Group) -> dict[GroupId, Group]:
    return {g.id: g for g in root.all_groups()}


def same_node(before: Group, after: Group) -> bool:
    """Whether the two groups' own fields (what ``GroupNode`` holds) are equal."""
    return (before.id == after.id and before.version == after.version
            and before.dependencies == after.dependencies and before.enforce_role == after.enforce_role
            and (before.app_dependencies is after.app_dependencies
                 or before.app_dependencies == after.app_dependencies))


def changed_parts(original: Group, target: Group) -> PartChanges:
    """The nodes and apps of ``target`` that differ from ``original``, and what ``target`` no longer has.

    Untouched subtrees are shared between the two trees (edits copy only the path they change), so they are
    skipped by identity without looking inside; within a group derived from its original by the edit helpers
    only the keys it changed are looked at (``Group.changed_keys``), so a one-app change costs the depth of
    the app, not the size of its group."""
    put_nodes: dict[GroupId, GroupNode] = {}
    put_apps: dict[AppId, AppSpec] = {}
    deleted_nodes: set[GroupId] = set()
    deleted_apps: set[AppId] = set()
    stack: list[tuple[Group | None, Group | None]] = [(original, target)]
    while stack:
        before, after = stack.pop()
        if before is after:
            continue
        if after is None:
            assert before is not None
            deleted_nodes.update(_groups_by_id(before))
            deleted_apps.update(before.all_apps())
            continue
        if before is None or not same_node(before, after):
            put_nodes[after.id] = GroupNode.of(after)
        keys = after.changed_keys(before) if before is not None else None
        if before is None or keys is None:
            old_apps = before.apps if before is not None else {}
            for app_id, app in after.apps.items():
                old = old_apps.get(app_id)
                if old is not app and old != app:
                    put_apps[app_id] = app
            deleted_apps.update(k for k in old_apps if k not in after.apps)
            old_groups = before.groups if before is not None else {}
            for sub_id, sub in after.groups.items():
                stack.append((old_groups.get(sub_id), sub))
            for sub_id, sub in old_groups.items():
                if sub_id not in after.groups:
                    stack.append((sub, None))
            continue
        app_keys, group_keys = keys
        for app_id in sorted(app_keys):
            old, new = before.apps.get(app_id), after.apps.get(app_id)
            if new is None:
                if old is not None:
                    deleted_apps.add(app_id)
            elif old is not new and old != new:
                put_apps[app_id] = new
        ordered = sorted(group_keys)
        stack.extend((before.groups.get(k), after.groups[k]) for k in ordered if k in after.groups)
        stack.extend((before.groups[k], None) for k in ordered if k not in after.groups and k in before.groups)
    return PartChanges(MappingProxyType(put_nodes), frozenset(deleted_nodes), MappingProxyType(put_apps),
                       frozenset(deleted_apps))
