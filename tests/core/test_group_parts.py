"""The root taken apart for per-entity persistence (``group_parts``) and plans pruned for storage (``pruned``)."""

from __future__ import annotations

import random

from mesospaas.deploy import DeploymentPlan, Group, assign_versions, pruned, random_deployment_ids, revert, \
    reverted_root
from mesospaas.deploy.progress import reconcile_inputs
from mesospaas.model.group_parts import GroupNode, assemble, changed_parts, split
from tests.core.test_deploy_plan import EMPTY, LATER, NOW, app, deploy, tree

BIG = assign_versions(EMPTY, tree(*(app(f"/team{t}/svc{s}", 2) for t in range(5) for s in range(20)),
                                  app("/edge/lb"), app("/data/db"),
                                  deps={"/team0/svc0": ["/data/db"], "/edge/lb": ["../team1"]},
                                  groups={"/team2": ["/data"]}), NOW - 100)


def apply(parts_of: tuple[dict, dict], original: Group, target: Group) -> Group:  # type: ignore[type-arg]
    nodes, apps = dict(parts_of[0]), dict(parts_of[1])
    change = changed_parts(original, target)
    for gid in change.deleted_nodes:
        nodes.pop(gid, None)
    for aid in change.deleted_apps:
        apps.pop(aid, None)
    nodes.update(change.put_nodes)
    apps.update(change.put_apps)
    return assemble(nodes, apps.values())


def test_split_and_assemble_round_trip() -> None:
    nodes, apps = split(BIG)
    assert len(apps) == 102 and set(nodes) >= {"/", "/team0", "/edge", "/data"}
    assert nodes["/team2"].dependencies == {"/data"}
    assert dict(nodes["/team0"].app_dependencies) == {"/team0/svc0": frozenset({"/data/db"})}
    assert assemble(nodes, reversed(list(apps.values()))) == BIG
    assert assemble({}, []) == Group.of()


def test_assemble_tolerates_missing_group_nodes_and_stray_dependencies() -> None:
    nodes, apps = split(BIG)
    del nodes["/team3"]
    nodes["/edge"] = GroupNode(nodes["/edge"].id, app_dependencies={"/edge/gone": frozenset({"/data"})})  # type: ignore[dict-item]
    rebuilt = assemble(nodes, apps.values())
    assert set(rebuilt.all_apps()) == set(BIG.all_apps())
    assert rebuilt.group("/team3") is not None and rebuilt.group("/edge").app_dependencies == {}  # type: ignore[union-attr]


def test_one_app_changed_writes_that_app_and_the_groups_above_it() -> None:
    target = assign_versions(BIG, BIG.update_app(app("/team3/svc7", 5)), NOW)
    change = changed_parts(BIG, target)
    assert set(change.put_apps) == {"/team3/svc7"} and not change.deleted_apps and not change.deleted_nodes
    assert set(change.put_nodes) <= {"/", "/team3"}
    assert apply(split(BIG), BIG, target) == target
    assert changed_parts(BIG, BIG).is_empty


def test_every_kind_of_edit_applies_to_the_stored_parts() -> None:
    edits = [
        BIG.remove_group("/team1"),
        BIG.remove_app("/data/db").update_app(app("/new/deep/one")),
        BIG.with_dependencies("/team4", ["/edge"]).update_app(app("/team0/svc0", 2), dependencies=[]),
        BIG.scale_by(2.0, "/team2"),
        Group.of(),
    ]
    for edited in edits:
        target = assign_versions(BIG, edited, NOW)
        assert apply(split(BIG), BIG, target) == target
        assert apply(split(target), target, BIG) == BIG


def test_a_pruned_plan_holds_only_what_it_changes_and_acts_the_same() -> None:
    one = deploy(BIG, BIG.update_app(app("/team3/svc7", 2, "v2")).remove_app("/team1/svc1"))
    small = pruned(one)
    assert set(small.original.all_apps()) == {"/team3/svc7", "/team1/svc1"}
    assert set(small.target.all_apps()) == {"/team3/svc7"}
    assert small.steps == one.steps and small.id == one.id and small.affected_apps == one.affected_apps
    for index in range(len(one.steps) + 1):
        assert reconcile_inputs(small, index) == reconcile_inputs(one, index)
    assert reverted_root(small, one.target) == reverted_root(one, one.target)


def test_pruned_plans_revert_dependency_and_group_changes_like_whole_ones() -> None:
    cases = [
        deploy(BIG, BIG.with_dependencies("/team4", ["/edge"]).with_dependencies("/team2", [])),
        deploy(BIG, BIG.update_app(app("/team0/svc0", 2), dependencies=[])),
        deploy(BIG, BIG.remove_group("/team1").update_app(app("/brand/new"))),
    ]
    for whole in cases:
        small = pruned(whole)
        assert len(small.target.all_apps()) < len(whole.target.all_apps())
        assert reverted_root(small, whole.target) == reverted_root(whole, whole.target)
        back_small = revert(small, whole.target, LATER, random_deployment_ids(random.Random(3)))
        back_whole = revert(whole, whole.target, LATER, random_deployment_ids(random.Random(3)))
        assert isinstance(back_small, DeploymentPlan) and isinstance(back_whole, DeploymentPlan)
        assert back_small.steps == back_whole.steps and back_small.target == back_whole.target
