"""The incremental plan (``original_acyclic=True``: walk only what changed and what it reaches) makes exactly
the plan the full walk makes, for random trees with app and group dependencies and random edits; a cycle an
edit introduces is found by both; ``assign_versions`` stamps as before (checked by the plan's versions)."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from mesospaas.deploy import DependencyCycle, DeploymentPlan, Group, assign_versions, plan
from mesospaas.model.app import AppSpec
from mesospaas.model.ids import AppId
from tests.core.builders import an_app

NOW = 1_700_000_000.0
GROUPS = ["/", "/a", "/a/x", "/b", "/b/y/z"]


def app(path: str, instances: int, cmd: str) -> AppSpec:
    return replace(an_app(path).instances(instances).build(), cmd=cmd)


def random_tree(rng: random.Random, count: int) -> Group:
    """An acyclic tree: app i may depend only on apps (or groups holding only apps) created before it."""
    paths = [f"{rng.choice(GROUPS).rstrip('/')}/app{i}" for i in range(count)]
    root = Group.of([app(p, rng.randint(0, 3), "serve") for p in paths])
    root = assign_versions(Group.of([]), root, NOW - 1000)
    for i, path in enumerate(paths):
        if i and rng.random() < 0.4:
            root = root.update_app(root.app(path), dependencies=rng.sample(paths[:i], rng.randint(1, min(3, i))))
    return root


def random_edit(rng: random.Random, root: Group, count: int) -> Group:
    apps = sorted(root.all_apps())
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["scale", "config", "new", "remove", "deps", "group deps", "cycle"])
        victim = rng.choice(apps)
        current = root.app(victim)
        if current is None:
            continue
        if kind == "scale":
            root = root.update_app(replace(current, instances=current.instances + 1))
        elif kind == "config":
            root = root.update_app(replace(current, cmd="serve --v2"))
        elif kind == "new":
            root = root.update_app(app(f"{rng.choice(GROUPS).rstrip('/')}/new{count}{rng.randint(0, 99)}", 1, "x"),
                                   dependencies=[rng.choice(apps)] if rng.random() < 0.5 else None)
        elif kind == "remove":
            root = root.remove_app(victim)
        elif kind == "deps":
            root = root.update_app(current, dependencies=rng.sample(apps, rng.randint(0, 2)))
        elif kind == "group deps":
            root = root.with_dependencies(rng.choice(GROUPS[1:]), [rng.choice(apps)])
        else:  # a dependency back onto something that depends on it (maybe a cycle)
            root = root.update_app(current, dependencies=[rng.choice(apps)])
    return root


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(2, 25))
def test_the_incremental_plan_is_the_full_plan(seed: int, count: int) -> None:
    rng = random.Random(seed)
    original = random_tree(rng, count)
    assert original.dependency_cycle() is None
    target = assign_versions(original, random_edit(rng, original, count), NOW)
    ids = itertools.count()
    full = plan(original, target, NOW, lambda: f"d{next(ids)}")  # type: ignore[arg-type,return-value]
    ids = itertools.count()
    fast = plan(original, target, NOW, lambda: f"d{next(ids)}", original_acyclic=True)  # type: ignore[arg-type,return-value]
    if isinstance(full, DependencyCycle):
        assert fast == full
        return
    assert isinstance(fast, DeploymentPlan)
    assert fast.steps == full.steps and fast.id == full.id and fast.target is full.target


def test_depths_of_matches_the_full_walk_and_finds_a_reachable_cycle() -> None:
    root = Group.of([app("/db", 1, "x"), app("/a/web", 1, "x"), app("/a/api", 1, "x"), app("/b/job", 1, "x")],
                    app_dependencies={AppId("/a/web"): ["/a/api"], AppId("/a/api"): ["/db"]},
                    group_dependencies={"/b": ["/a"]})
    full = root.dependency_depths()
    assert not isinstance(full, DependencyCycle)
    partial = root.depths_of([AppId("/b/job")])
    assert partial is not None
    assert partial == {k: full[k] for k in partial} and partial[AppId("/b/job")] == 4
    cyclic = root.update_app(root.app("/db"), dependencies=["/b/job"])  # type: ignore[arg-type]
    assert cyclic.depths_of([AppId("/db")]) is None
    assert isinstance(cyclic.dependency_depths(), DependencyCycle)
