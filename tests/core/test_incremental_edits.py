"""A change costs what it changes (issue 11): the edit helpers derive only the groups on the changed path
(validating only the changed entries), and ``changed_parts``, ``assign_versions``, the planner and ``pruned``
look only at the keys a derived group changed. Each must give exactly what the whole-tree versions gave:
those are kept here, as they were, as references (``reference_*``), and compared over random trees and
random sequences of edits; a tree rebuilt through the public (fully validating) constructor, which carries
no memory of its edits, is the other reference."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesospaas.deploy import DeploymentPlan, assign_versions, plan, pruned
from mesospaas.deploy.changes import ChangeKind, classify, marathon_timestamp, with_version
from mesospaas.errors import InvalidSpec
from mesospaas.model.app import AppSpec
from mesospaas.model.deployment import DeploymentId, DeploymentIdSource
from mesospaas.model.group import ROOT, Group, GroupId, _edited, ancestors, group_id, parent_of, resolve_path
from mesospaas.model.group_parts import GroupNode, PartChanges, assemble, changed_parts, split
from mesospaas.model.ids import AppId
from tests.core.builders import an_app

NOW = 1_700_000_000.0
GROUP_POOL = ["/", "/a", "/a/x", "/a/x/deep", "/b", "/b/y", "/c"]


# -- references: the whole-tree versions, as they were -------------------------------------------------------


def reference_update(root: Group, path: str, change: Callable[[Group], Group], create: bool = True) -> Group:
    target = group_id(path)
    if target == root.id:
        return change(root)
    child_id = next(a for a in ancestors(target) if parent_of(a) == root.id and a != root.id)
    child = root.groups.get(child_id)
    if child is None:
        if not create:
            return root
        child = Group(child_id)
    groups = dict(root.groups)
    groups[child_id] = reference_update(child, target, change, create)
    return replace(root, groups=groups)


def reference_update_app(root: Group, app: AppSpec, dependencies: list[str] | None = None) -> Group:
    def put(group: Group) -> Group:
        apps = dict(group.apps)
        apps[app.id] = app
        deps = dict(group.app_dependencies)
        if dependencies is not None:
            deps[app.id] = frozenset(resolve_path(app.id, p) for p in dependencies)
        return replace(group, apps=apps, app_dependencies=deps)

    return reference_update(root, parent_of(app.id), put)


def reference_remove_app(root: Group, path: str) -> Group:
    def drop(group: Group) -> Group:
        if path not in group.apps:
            return group
        return replace(group, apps={k: v for k, v in group.apps.items() if k != path},
                       app_dependencies={k: v for k, v in group.app_dependencies.items() if k != path})

    return reference_update(root, parent_of(path), drop, create=False)


def reference_put_group(root: Group, group: Group) -> Group:
    if group.id == root.id:
        return group
    return reference_update(root, parent_of(group.id), lambda p: replace(p, groups={**p.groups, group.id: group}))


def reference_remove_group(root: Group, path: str) -> Group:
    target = group_id(path)
    if target == root.id:
        return Group(root.id, version=root.version)
    return reference_update(root, parent_of(target),
                            lambda p: replace(p, groups={k: v for k, v in p.groups.items() if k != target}),
                            create=False)


def reference_with_dependencies(root: Group, path: str, dependencies: list[str]) -> Group:
    target = group_id(path)
    paths = frozenset(resolve_path(target, p) for p in dependencies)
    return reference_update(root, target, lambda g: replace(g, dependencies=paths))


def reference_assign_versions(original: Group, target: Group, now: float, restart: Collection[AppId] = ()) -> Group:
    restarting = frozenset(restart)
    nothing: Mapping[AppId, AppSpec] = {}
    no_deps: Mapping[AppId, frozenset[str]] = {}

    def stamp(old_group: Group | None, group: Group) -> Group:
        if old_group is group and not restarting:
            return group
        before = old_group.apps if old_group is not None else nothing
        before_deps = old_group.app_dependencies if old_group is not None else no_deps
        apps = {}
        for key, app in group.apps.items():
            previous = before.get(key)
            if previous is app and key not in restarting and \
                    before_deps.get(key, frozenset()) == group.app_dependencies.get(key, frozenset()):
                apps[key] = app
                continue
            if previous is None:
                kind = ChangeKind.RESTART
            else:
                kind = classify(previous, app, old_dependencies=before_deps.get(key, frozenset()),
                                new_dependencies=group.app_dependencies.get(key, frozenset()))
                if key in restarting:
                    kind = ChangeKind.RESTART
            apps[key] = with_version(app, previous, kind, now)
        children = {key: stamp(old_group.groups.get(key) if old_group is not None else None, child)
                    for key, child in group.groups.items()}
        candidate = replace(group, apps=apps, groups=children)
        if old_group is not None and replace(candidate, version=old_group.version) == old_group:
            return old_group
        return replace(candidate, version=marathon_timestamp(now))

    return stamp(original.group(target.id), target)


def reference_changed_parts(original: Group, target: Group) -> PartChanges:
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
            deleted_nodes.update(g.id for g in before.all_groups())
            deleted_apps.update(before.all_apps())
            continue
        node = GroupNode.of(after)
        if before is None or not GroupNode.of(before).same_as(node):
            put_nodes[after.id] = node
        old_apps = before.apps if before is not None else {}
        for app_id, app in after.apps.items():
            old = old_apps.get(app_id)
            if old is not app and old != app:
                put_apps[app_id] = app
        deleted_apps.update(k for k in old_apps if k not in after.apps)
        old_groups = before.groups if before is not None else {}
        stack.extend((old_groups.get(sub_id), sub) for sub_id, sub in after.groups.items())
        stack.extend((sub, None) for sub_id, sub in old_groups.items() if sub_id not in after.groups)
    return PartChanges(MappingProxyType(put_nodes), frozenset(deleted_nodes), MappingProxyType(put_apps),
                       frozenset(deleted_apps))


def reference_pruned(deployment: DeploymentPlan) -> DeploymentPlan:
    def restrict(root: Group, apps: frozenset[AppId], groups: frozenset[GroupId]) -> Group:
        nodes, all_apps = split(root)
        kept_apps = [all_apps[a] for a in sorted(apps) if a in all_apps]
        wanted: set[GroupId] = {ROOT}
        for path in [*groups, *(parent_of(a) for a in apps)]:
            while path not in wanted:
                wanted.add(path)
                path = parent_of(path)
        return assemble({g: n for g, n in nodes.items() if g in wanted}, kept_apps)

    parts = reference_changed_parts(deployment.original, deployment.target)
    apps = set(deployment.affected_apps) | set(parts.put_apps) | set(parts.deleted_apps)
    before, after = split(deployment.original)[0], split(deployment.target)[0]
    for group in parts.put_nodes.keys() | parts.deleted_nodes:
        old, new = before.get(group), after.get(group)
        old_deps = dict(old.app_dependencies) if old else {}
        new_deps = dict(new.app_dependencies) if new else {}
        apps.update(a for a in old_deps.keys() | new_deps.keys() if old_deps.get(a) != new_deps.get(a))
    groups = frozenset(parts.put_nodes.keys() | parts.deleted_nodes)
    kept = frozenset(apps)
    return replace(deployment, original=restrict(deployment.original, kept, groups),
                   target=restrict(deployment.target, kept, groups))


def rebuilt(group: Group) -> Group:
    """The same tree made by the public constructor (every invariant checked, no memory of edits)."""
    return Group(group.id, apps=dict(group.apps), groups={k: rebuilt(c) for k, c in group.groups.items()},
                 dependencies=group.dependencies, version=group.version,
                 app_dependencies=dict(group.app_dependencies), enforce_role=group.enforce_role)


def shape(group: Group) -> Any:
    """The iteration order of every mapping in the tree."""
    return (group.id, list(group.apps), list(group.app_dependencies), [shape(c) for c in group.groups.values()])


def same_tree(made: Group, expected: Group) -> None:
    assert made == expected
    assert made == rebuilt(made) and shape(made) == shape(rebuilt(made)) == shape(expected)


# -- random trees and edits ----------------------------------------------------------------------------------


def ids(*paths: str) -> frozenset[AppId]:
    return frozenset(AppId(p) for p in paths)


def counting_ids() -> DeploymentIdSource:
    ids = itertools.count()
    return lambda: DeploymentId(f"d{next(ids)}")


def app(path: str, instances: int = 1, cmd: str = "serve") -> AppSpec:
    return replace(an_app(path).instances(instances).build(), cmd=cmd)


def random_tree(rng: random.Random) -> Group:
    apps = {f"{rng.choice(GROUP_POOL).rstrip('/')}/app{rng.randint(0, 60)}" for _ in range(rng.randint(0, 40))}
    paths = sorted(apps)
    # mostly acyclic: an app depends only on apps before it, a group (rarely) on a leaf group
    deps = {AppId(p): rng.sample(paths[:i], min(i, rng.randint(1, 2))) for i, p in enumerate(paths)
            if i and rng.random() < 0.3}
    groups = {g: [rng.choice(["/c", "/a/x/deep"])] for g in ["/a", "/b"] if rng.random() < 0.1}
    root = Group.of([app(p, rng.randint(0, 3)) for p in paths], app_dependencies=deps, group_dependencies=groups)
    return reference_assign_versions(Group.of(), root, NOW - 1000)


Edit = tuple[Callable[[Group], Group], Callable[[Group], Group]]
"""The same edit through the helpers and through the references."""


def random_edit(rng: random.Random, root: Group) -> Edit:
    apps = sorted(root.all_apps())
    groups = sorted(g.id for g in root.all_groups())
    kind = rng.choice(["scale", "config", "new", "new", "remove", "deps", "group deps", "put group",
                       "remove group", "scale by", "same", "clash"])
    some_app = rng.choice(apps) if apps else None
    current = root.app(some_app) if some_app is not None else None
    if kind in ("scale", "config", "deps", "same") and current is not None:
        changed = {"scale": replace(current, instances=current.instances + 1),
                   "config": replace(current, cmd=f"serve --v{rng.randint(0, 9)}"),
                   "deps": current, "same": current}[kind]
        deps = rng.sample(apps, rng.randint(0, min(2, len(apps)))) + (["../elsewhere"] if rng.random() < 0.3 else []) \
            if kind == "deps" else None
        return (lambda g: g.update_app(changed, dependencies=deps),
                lambda g: reference_update_app(g, changed, deps))
    if kind == "remove" and some_app is not None:
        victim = some_app if rng.random() < 0.8 else f"{some_app}-missing"
        return lambda g: g.remove_app(victim), lambda g: reference_remove_app(g, victim)
    if kind == "group deps":
        pool: list[str] = [*groups, *apps]
        where, deps = rng.choice(GROUP_POOL[1:] + ["/new/grp"]), rng.sample(pool, min(2, len(groups)))
        return (lambda g: g.with_dependencies(where, deps), lambda g: reference_with_dependencies(g, where, deps))
    if kind == "put group":
        where = rng.choice(GROUP_POOL[1:] + ["/d/e"])
        fresh = Group(GroupId(where), apps={AppId(f"{where}/put{i}"): app(f"{where}/put{i}") for i in range(3)})
        return lambda g: g.put_group(fresh), lambda g: reference_put_group(g, fresh)
    if kind == "remove group":
        where = rng.choice(groups + ["/nothing/here"])
        return lambda g: g.remove_group(where), lambda g: reference_remove_group(g, where)
    if kind == "scale by":
        where, factor = rng.choice(groups), rng.choice([0.5, 2.0])
        return lambda g: g.scale_by(factor, where), lambda g: g.scale_by(factor, where)
    if kind == "clash" and len(groups) > 1:  # an app where a group is: rejected by both
        clash = app(rng.choice(groups[1:]))
        return lambda g: g.update_app(clash), lambda g: reference_update_app(g, clash)
    new = app(f"{rng.choice(GROUP_POOL + ['/n/m']).rstrip('/')}/app{rng.randint(0, 99)}", rng.randint(0, 3))
    deps = [rng.choice(apps)] if apps and rng.random() < 0.5 else None
    return lambda g: g.update_app(new, dependencies=deps), lambda g: reference_update_app(g, new, deps)


def edited_pair(rng: random.Random, root: Group, edits: int) -> tuple[Group, Group]:
    """``root`` after ``edits`` random edits, through the helpers and through the references (an edit both
    reject with ``InvalidSpec`` is skipped)."""
    fast, slow = root, root
    for _ in range(edits):
        helper, reference = random_edit(rng, fast)
        try:
            expected = reference(slow)
        except InvalidSpec:
            with pytest.raises(InvalidSpec):
                helper(fast)
            continue
        fast, slow = helper(fast), expected
    return fast, slow


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 12))
def test_derived_groups_equal_the_fully_validated_construction_in_content_and_order(seed: int, edits: int) -> None:
    rng = random.Random(seed)
    fast, slow = edited_pair(rng, random_tree(rng), edits)
    same_tree(fast, slow)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 12))
def test_changed_keys_cover_every_difference(seed: int, edits: int) -> None:
    rng = random.Random(seed)
    original = random_tree(rng)
    edited, _ = edited_pair(rng, original, edits)
    for group in edited.all_groups():
        before = original.group(group.id)
        if before is None:
            continue
        keys = group.changed_keys(before)
        if keys is None:
            continue
        apps, groups = keys
        assert all(before.apps.get(k) is group.apps.get(k) for k in before.apps.keys() | group.apps.keys()
                   if k not in apps)
        assert all(before.app_dependencies.get(k) is group.app_dependencies.get(k)
                   for k in before.app_dependencies.keys() | group.app_dependencies.keys() if k not in apps)
        assert all(before.groups.get(k) is group.groups.get(k) for k in before.groups.keys() | group.groups.keys()
                   if k not in groups)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 12), st.booleans())
def test_versions_parts_plans_and_pruned_plans_are_those_of_the_whole_tree_versions(
        seed: int, edits: int, restart_some: bool) -> None:
    rng = random.Random(seed)
    original = random_tree(rng)
    edited, _ = edited_pair(rng, original, edits)
    apps = sorted(edited.all_apps())
    restart = [AppId(a) for a in rng.sample(apps, min(len(apps), 2))] if restart_some else []
    target = assign_versions(original, edited, NOW, restart=restart)
    same_tree(target, reference_assign_versions(original, edited, NOW, restart))
    assert assign_versions(original, rebuilt(edited), NOW, restart=restart) == target  # no memory: a full scan
    if not restart:
        assert assign_versions(original, original, NOW) is original
    assert changed_parts(original, target) == reference_changed_parts(original, target)
    assert changed_parts(original, edited) == reference_changed_parts(original, edited)
    if target.dependency_cycle() is not None:
        return
    for acyclic in (original.dependency_cycle() is None, False):
        made = plan(original, target, NOW, counting_ids(), original_acyclic=acyclic)
        scanned = plan(original, rebuilt(target), NOW, counting_ids())
        assert isinstance(made, DeploymentPlan) and isinstance(scanned, DeploymentPlan)
        assert made.steps == scanned.steps
        small = pruned(made)
        expected = reference_pruned(made)
        assert small == expected and shape(small.original) == shape(expected.original)
        assert shape(small.target) == shape(expected.target)
        assert pruned(small) == small


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text("abc/", max_size=4), st.integers(0, 9), max_size=12),
       st.dictionaries(st.text("abc/", max_size=4), st.none() | st.integers(10, 19), max_size=6))
def test_an_edited_mapping_stays_sorted_like_a_fresh_one(start: dict[str, int], changes: dict[str, int | None]) -> None:
    frozen: Mapping[str, int] = MappingProxyType({k: start[k] for k in sorted(start)})
    made = _edited(frozen, changes)
    expected = {k: v for k, v in {**start, **changes}.items() if v is not None}
    assert list(made.items()) == sorted(expected.items())
    assert list(frozen.items()) == sorted(start.items())  # the original view is left as it was


def test_edits_on_a_large_group_share_every_untouched_entry() -> None:
    root = Group.of([app(f"/big/app{n:04d}") for n in range(2000)] + [app("/other/one")])
    edited = root.update_app(app("/big/app0500", 3)).update_app(app("/big/zzz")).update_app(app("/big/aaa"))
    big, before = edited.group("/big"), root.group("/big")
    assert big is not None and before is not None
    assert big.changed_keys(before) == (ids("/big/app0500", "/big/zzz", "/big/aaa"), frozenset())
    assert edited.changed_keys(root) == (frozenset(), frozenset({GroupId("/big")}))
    assert edited.groups[GroupId("/other")] is root.groups[GroupId("/other")]
    assert list(big.apps)[:2] == ["/big/aaa", "/big/app0000"] and list(big.apps)[-1] == "/big/zzz"
    same_tree(edited, rebuilt(edited))
    parts = changed_parts(root, edited)
    assert set(parts.put_apps) == {"/big/app0500", "/big/zzz", "/big/aaa"} and set(parts.put_nodes) == set()
    assert rebuilt(big).changed_keys(before) is None  # the public constructor remembers nothing


def test_the_fast_path_rejects_what_the_constructor_rejects() -> None:
    root = Group.of([app("/a/b"), app("/c")])
    with pytest.raises(InvalidSpec, match="Groups and Applications may not have the same identifier."):
        root.update_app(app("/a"))
    with pytest.raises(InvalidSpec, match="Groups and Applications may not have the same identifier."):
        root.put_group(Group(GroupId("/c")))
    with pytest.raises(InvalidSpec, match="direct child"):
        root.put_group(Group(GroupId("/a"), groups={GroupId("/a/x/y"): Group(GroupId("/a/x/y"))}))
    assert root.update_app(root.app("/c")) is root  # type: ignore[arg-type]  # nothing changed: the same tree
    assert root.remove_app("/nothing") is root and root.remove_group("/nothing") is root


def test_a_batch_of_edits_stays_comparable_with_the_root_it_started_from() -> None:
    # a leader plans many changes, each against the root the one before left, then commits them together:
    # the commit compares the last root with the committed one, the next change with the one before it
    committed = Group.of([app(f"/big/app{n:04d}") for n in range(500)])
    roots = [committed]
    for n in range(60):
        edited = roots[-1].update_app(app(f"/big/new{n:02d}")).update_app(app(f"/big/app{n:04d}", 2))
        roots.append(assign_versions(roots[-1], edited, NOW + n))
    last, before = roots[-1].group("/big"), committed.group("/big")
    assert last is not None and before is not None
    changed = ids(*(f"/big/new{n:02d}" for n in range(60)), *(f"/big/app{n:04d}" for n in range(60)))
    assert last.changed_keys(before) == (changed, frozenset())
    previous = roots[-2].group("/big")
    assert previous is not None
    assert last.changed_keys(previous) == (ids("/big/new59", "/big/app0059"), frozenset())
    assert changed_parts(committed, roots[-1]) == reference_changed_parts(committed, roots[-1])
    assert set(changed_parts(committed, roots[-1]).put_apps) == changed
