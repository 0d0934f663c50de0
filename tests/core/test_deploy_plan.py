"""Deployment plans (reference §5.1, §5.4, §5.7): step order by dependencies, actions per change, conflicts,
rollback."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from mesospaas.deploy import (
    CYCLE_MESSAGE,
    DependencyCycle,
    DeploymentPlan,
    Group,
    assign_versions,
    conflicts,
    marathon_timestamp,
    plan,
    random_deployment_ids,
    revert,
    reverted_root,
)
from mesospaas.model.app import AppSpec
from mesospaas.model.deployment import DeploymentId
from mesospaas.model.ids import AppId
from tests.core.builders import an_app

NOW = 1_700_000_000.0
LATER = NOW + 60


def app(path: str, instances: int = 1, cmd: str = "serve") -> AppSpec:
    return replace(an_app(path).instances(instances).build(), cmd=cmd)


def tree(
    *apps: AppSpec, deps: dict[str, list[str]] | None = None, groups: dict[str, list[str]] | None = None
) -> Group:
    return Group.of(
        apps,
        app_dependencies={AppId(k): v for k, v in (deps or {}).items()},
        group_dependencies=groups,
    )


def deploy(
    original: Group, edited: Group, *, now: float = NOW, seed: int = 1, restart: tuple[str, ...] = ()
) -> DeploymentPlan:
    """What the API does for a change: version the edited root, then plan."""
    target = assign_versions(original, edited, now, restart=[AppId(a) for a in restart])
    result = plan(original, target, now, random_deployment_ids(random.Random(seed)))
    assert isinstance(result, DeploymentPlan), result
    return result


def steps(deployment: DeploymentPlan) -> list[list[str]]:
    return [[f"{a.name} {a.app}" for a in step.actions] for step in deployment.steps]


EMPTY = Group.of()
DB_AND_APP = tree(app("/db", 2), app("/app", 3), deps={"/app": ["/db"]})


# -- ordering ------------------------------------------------------------------------------------------------


def test_new_apps_start_at_zero_then_scale_in_dependency_order() -> None:
    deployment = deploy(EMPTY, DB_AND_APP)
    assert steps(deployment) == [
        ["StartApplication /app", "StartApplication /db"],
        ["ScaleApplication /db"],
        ["ScaleApplication /app"],
    ]
    assert [a.scale_to for s in deployment.steps for a in s.actions] == [0, 0, 2, 3]


def test_an_upgrade_replaces_dependencies_fully_before_their_dependents() -> None:
    original = assign_versions(EMPTY, DB_AND_APP, NOW - 100)
    edited = original.update_app(app("/db", 2, "db2")).update_app(app("/app", 3, "app2"))
    assert steps(deploy(original, edited)) == [["RestartApplication /db"], ["RestartApplication /app"]]


def test_nested_groups_order_by_the_longest_path_through_inherited_dependencies() -> None:
    target = tree(
        app("/prod/backend/db"),
        app("/prod/backend/api"),
        app("/prod/frontend/web"),
        app("/prod/frontend/admin/ui"),
        app("/ops/metrics"),
        deps={"/prod/backend/api": ["../db"]},
        groups={"/prod/frontend": ["/prod/backend"]},
    )
    assert steps(deploy(EMPTY, target))[1:] == [
        ["ScaleApplication /ops/metrics", "ScaleApplication /prod/backend/db"],
        ["ScaleApplication /prod/backend/api"],
        ["ScaleApplication /prod/frontend/admin/ui", "ScaleApplication /prod/frontend/web"],
    ]


def test_unchanged_dependencies_are_not_deployed_again() -> None:
    original = assign_versions(EMPTY, DB_AND_APP, NOW - 100)
    assert steps(deploy(original, original.update_app(app("/app", 5)))) == [["ScaleApplication /app"]]


def test_all_stops_share_the_first_step_whatever_their_dependencies() -> None:
    original = assign_versions(EMPTY, DB_AND_APP.update_app(app("/other")), NOW - 100)
    edited = original.remove_app("/db").remove_app("/app").update_app(app("/new"))
    assert steps(deploy(original, edited)) == [
        ["StopApplication /app", "StopApplication /db"],
        ["StartApplication /new"],
        ["ScaleApplication /new"],
    ]


def test_removing_a_group_stops_every_app_in_it_in_one_deployment() -> None:
    original = assign_versions(EMPTY, tree(app("/g/a"), app("/g/sub/b"), app("/keep")), NOW - 100)
    stops = [["StopApplication /g/a", "StopApplication /g/sub/b"]]
    assert steps(deploy(original, original.remove_group("/g"))) == stops


# -- the action each change becomes --------------------------------------------------------------------------

ONE = tree(app("/web", 3))
STORED = assign_versions(EMPTY, ONE, NOW - 100)


@pytest.mark.parametrize(
    ("edited", "restart", "expected"),
    [
        (STORED.update_app(app("/web", 5)), (), [["ScaleApplication /web"]]),
        (STORED.update_app(app("/web", 1)), (), [["ScaleApplication /web"]]),
        (STORED.update_app(app("/web", 3, "other")), (), [["RestartApplication /web"]]),
        (STORED.update_app(app("/web", 5, "other")), (), [["RestartApplication /web"]]),
        (STORED.update_app(app("/web", 0, "other")), (), [["ScaleApplication /web"]]),
        (STORED.update_app(replace(app("/web", 3), labels={"HAPROXY_GROUP": "x"})), (), [["RestartApplication /web"]]),
        (STORED.update_app(app("/web", 3), dependencies=["/ghost"]), (), [["RestartApplication /web"]]),
        (STORED, ("/web",), [["RestartApplication /web"]]),
        (STORED, (), []),
        (STORED.scale_by(2), (), [["ScaleApplication /web"]]),
    ],
    ids=[
        "scale-up",
        "scale-down",
        "config",
        "config-and-scale",
        "config-to-zero",
        "labels",
        "dependencies",
        "restart-request",
        "nothing",
        "scale-by",
    ],
)
def test_each_change_becomes_marathons_action(
    edited: Group, restart: tuple[str, ...], expected: list[list[str]]
) -> None:
    deployment = deploy(STORED, edited, restart=restart)
    assert steps(deployment) == expected
    assert deployment.is_empty == (expected == [])


def test_scale_and_restart_actions_name_the_target_instance_count() -> None:
    deployment = deploy(STORED, STORED.update_app(app("/web", 5, "other")))
    assert deployment.steps[0].actions[0].scale_to == 5


# -- the plan value ------------------------------------------------------------------------------------------


def test_a_plan_carries_both_roots_an_injected_id_and_the_version() -> None:
    target = assign_versions(EMPTY, DB_AND_APP, NOW)
    first = plan(EMPTY, target, NOW, random_deployment_ids(random.Random(5)))
    again = plan(EMPTY, target, NOW, random_deployment_ids(random.Random(5)))
    assert isinstance(first, DeploymentPlan)
    assert first == again  # a dry run is just calling plan: same input, same plan
    assert first.original is EMPTY and first.target is target
    assert first.version == marathon_timestamp(NOW) == target.version
    assert len(first.id) == 36 and first.id[14] == "4"
    assert first.affected_apps == {"/db", "/app"}


def test_a_cycle_is_returned_as_an_error_and_uses_no_id() -> None:
    cyclic = tree(app("/a"), app("/b"), deps={"/a": ["/b"], "/b": ["/a"]})

    def no_id() -> DeploymentId:
        raise AssertionError("no id for a rejected plan")

    result = plan(EMPTY, cyclic, NOW, no_id)
    assert isinstance(result, DependencyCycle) and result.message == CYCLE_MESSAGE


def test_a_cycle_among_unchanged_apps_still_rejects_the_plan() -> None:
    cyclic = tree(app("/a"), app("/b"), app("/c"), deps={"/a": ["/b"], "/b": ["/a"]})
    result = plan(cyclic, cyclic.update_app(app("/c", 2)), NOW, random_deployment_ids(random.Random(1)))
    assert isinstance(result, DependencyCycle)


# -- conflicts -----------------------------------------------------------------------------------------------


def test_deployments_conflict_when_they_touch_a_common_app() -> None:
    base = assign_versions(EMPTY, tree(app("/a"), app("/b"), app("/c")), NOW - 100)
    on_a = deploy(base, base.update_app(app("/a", 2)), seed=1)
    on_b = deploy(base, base.update_app(app("/b", 2)), seed=2)
    on_a_and_c = deploy(base, base.update_app(app("/a", 3)).update_app(app("/c", 3)), seed=3)
    assert conflicts(on_a_and_c, [on_a, on_b]) == [on_a.id]
    assert conflicts(on_b, [on_a, on_a_and_c]) == []
    assert conflicts(on_a, [on_a]) == []  # a deployment does not conflict with itself


# -- rollback ------------------------------------------------------------------------------------------------


def test_reverting_a_scale_scales_back() -> None:
    base = assign_versions(EMPTY, ONE, NOW - 100)
    scaled = deploy(base, base.update_app(app("/web", 5)))
    rollback = revert(scaled, scaled.target, LATER, random_deployment_ids(random.Random(9)))
    assert isinstance(rollback, DeploymentPlan)
    assert steps(rollback) == [["ScaleApplication /web"]] and rollback.steps[0].actions[0].scale_to == 3
    assert rollback.id != scaled.id and rollback.version == marathon_timestamp(LATER)


def test_reverting_a_config_change_restarts_to_the_original_definition() -> None:
    base = assign_versions(EMPTY, ONE, NOW - 100)
    changed = deploy(base, base.update_app(app("/web", 3, "broken")))
    rollback = revert(changed, changed.target, LATER, random_deployment_ids(random.Random(9)))
    assert isinstance(rollback, DeploymentPlan) and steps(rollback) == [["RestartApplication /web"]]
    restored = rollback.target.app("/web")
    assert restored is not None and restored.cmd == "serve" and restored.version == marathon_timestamp(LATER)


def test_reverting_undoes_additions_and_removals() -> None:
    base = assign_versions(EMPTY, tree(app("/old"), app("/stay")), NOW - 100)
    swap = deploy(base, base.remove_app("/old").update_app(app("/new/svc")))
    reverted = reverted_root(swap, swap.target)
    assert set(reverted.all_apps()) == {"/old", "/stay"}
    assert reverted.group("/new") is None  # the group the deployment created is gone again
    rollback = revert(swap, swap.target, LATER, random_deployment_ids(random.Random(9)))
    assert isinstance(rollback, DeploymentPlan)
    assert steps(rollback) == [["StopApplication /new/svc"], ["StartApplication /old"], ["ScaleApplication /old"]]


def test_reverting_keeps_concurrent_changes_to_other_apps() -> None:
    base = assign_versions(EMPTY, tree(app("/a"), app("/b")), NOW - 100)
    first = deploy(base, base.update_app(app("/a", 4)).update_app(app("/g/new")))
    # Meanwhile another deployment changed /b and put a second app into the group the first one created.
    meanwhile = first.target.update_app(app("/b", 9)).update_app(app("/g/other"))
    current = assign_versions(first.target, meanwhile, NOW + 10)
    reverted = reverted_root(first, current)
    assert {k: a.instances for k, a in reverted.all_apps().items()} == {"/a": 1, "/b": 9, "/g/other": 1}
    assert reverted.group("/g") is not None


def test_reverting_restores_group_dependencies() -> None:
    base = assign_versions(EMPTY, tree(app("/x/a"), app("/y/b"), groups={"/x": ["/y"]}), NOW - 100)
    rewired = deploy(base, base.with_dependencies("/x", []).with_dependencies("/y", ["/x"]))
    reverted = reverted_root(rewired, rewired.target)
    x, y = reverted.group("/x"), reverted.group("/y")
    assert x is not None and x.dependencies == {"/y"}
    assert y is not None and y.dependencies == frozenset()


def test_reverting_restores_a_removed_group_with_its_dependencies() -> None:
    base = assign_versions(EMPTY, tree(app("/x/a"), app("/y/b"), groups={"/x": ["/y"]}), NOW - 100)
    removal = deploy(base, base.remove_group("/x"))
    reverted = reverted_root(removal, removal.target)
    x = reverted.group("/x")
    assert x is not None and x.dependencies == {"/y"} and set(x.apps) == {"/x/a"}
