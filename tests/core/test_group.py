"""Groups: the app tree, its pure edit helpers, and Marathon's dependency graph (incl. cycles)."""

from __future__ import annotations

import pytest

from mesospaas.errors import InvalidSpec
from mesospaas.model.app import AppSpec
from mesospaas.model.group import (
    CYCLE_MESSAGE,
    ROOT,
    DependencyCycle,
    Group,
    GroupId,
    group_id,
    parent_of,
    resolve_path,
)
from mesospaas.model.ids import AppId
from tests.core.builders import an_app


def app(path: str, instances: int = 1) -> AppSpec:
    return an_app(path).instances(instances).build()


def ids(*paths: str) -> frozenset[AppId]:
    return frozenset(AppId(p) for p in paths)


SHOP = Group.of(
    [app("/shop/web", 3), app("/shop/db", 2), app("/shop/cache/redis"), app("/tools/cron")],
    app_dependencies={AppId("/shop/web"): ["/shop/db"]},
)


# -- paths --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "path", "resolved"),
    [
        ("/prod/frontend", "../database", "/prod/database"),
        ("/prod", "db", "/prod/db"),
        ("/prod", "/other/app", "/other/app"),
        ("/", "./a/./b/", "/a/b"),
        ("/a", "../../..", "/"),
    ],
)
def test_paths_resolve_like_marathon_canonical_paths(base: str, path: str, resolved: str) -> None:
    assert resolve_path(base, path) == resolved


def test_group_ids_allow_the_root_and_know_their_parent() -> None:
    assert group_id("/") == ROOT and group_id("a/b/") == "/a/b"
    assert parent_of("/a/b") == "/a" and parent_of("/a") == ROOT and parent_of("/") == ROOT


# -- shape and invariants -----------------------------------------------------------------------------------


def test_apps_are_nested_into_their_groups() -> None:
    assert list(SHOP.groups) == ["/shop", "/tools"]
    shop = SHOP.group("/shop")
    assert shop is not None and list(shop.apps) == ["/shop/db", "/shop/web"]
    assert list(shop.groups) == ["/shop/cache"]
    assert SHOP.group("/shop/cache/redis") is None  # an app, not a group
    assert SHOP.group("/") is SHOP


def test_all_apps_flattens_the_tree() -> None:
    assert set(SHOP.all_apps()) == ids("/shop/web", "/shop/db", "/shop/cache/redis", "/tools/cron")
    shop = SHOP.group("/shop")
    assert shop is not None and set(shop.all_apps()) == ids("/shop/web", "/shop/db", "/shop/cache/redis")


def test_apps_are_found_by_absolute_or_relative_path() -> None:
    assert SHOP.app("/shop/web") == app("/shop/web", 3)
    assert SHOP.app("shop/cache/redis") is not None
    assert SHOP.app("/shop/missing") is None and SHOP.app("/nowhere/x") is None
    assert SHOP.app_dependency_paths("/shop/web") == {"/shop/db"}
    assert SHOP.app_dependency_paths("/shop/db") == frozenset()


def test_a_tree_does_not_depend_on_the_order_it_was_built_in() -> None:
    apps = [app("/a/x"), app("/b/y"), app("/a/z")]
    assert Group.of(apps) == Group.of(list(reversed(apps)))


def test_building_at_once_equals_building_app_by_app() -> None:
    incremental = Group(ROOT)
    for spec in SHOP.all_apps().values():
        incremental = incremental.update_app(spec, dependencies=SHOP.app_dependency_paths(spec.id))
    assert incremental == SHOP


def test_an_app_must_be_a_direct_child_of_its_group() -> None:
    with pytest.raises(InvalidSpec, match="direct child"):
        Group(ROOT, apps={AppId("/a/b"): app("/a/b")})


def test_an_app_and_a_group_may_not_share_an_id() -> None:
    with pytest.raises(InvalidSpec, match="Groups and Applications may not have the same identifier."):
        Group.of([app("/a/b")]).update_app(app("/a"))


def test_dependencies_held_by_a_group_are_absolute() -> None:
    with pytest.raises(InvalidSpec, match="absolute"):
        Group(GroupId("/a"), dependencies=frozenset({"../b"}))


# -- edits --------------------------------------------------------------------------------------------------


def test_update_app_replaces_the_app_and_creates_missing_groups() -> None:
    bigger = SHOP.update_app(app("/shop/web", 5)).update_app(app("/new/deep/svc"))
    assert bigger.app("/shop/web") == app("/shop/web", 5)
    assert bigger.group("/new/deep") is not None and bigger.app("/new/deep/svc") is not None
    assert SHOP.app("/shop/web") == app("/shop/web", 3)  # the original is untouched


def test_update_app_keeps_declared_dependencies_unless_given() -> None:
    kept = SHOP.update_app(app("/shop/web", 4))
    assert kept.app_dependency_paths("/shop/web") == {"/shop/db"}
    replaced = SHOP.update_app(app("/shop/web"), dependencies=["../cache", "/tools/cron"])
    assert replaced.app_dependency_paths("/shop/web") == {"/shop/cache", "/tools/cron"}
    cleared = SHOP.update_app(app("/shop/web"), dependencies=[])
    assert cleared.app_dependency_paths("/shop/web") == frozenset()


def test_remove_app_drops_it_with_its_dependencies_and_keeps_the_group() -> None:
    smaller = SHOP.remove_app("/shop/web")
    assert smaller.app("/shop/web") is None and smaller.group("/shop") is not None
    assert smaller.all_app_dependencies() == {}
    assert SHOP.remove_app("/shop/missing") == SHOP and SHOP.remove_app("/nowhere/x") == SHOP


def test_put_group_replaces_a_whole_subtree() -> None:
    replacement = Group.of([app("/shop/api")]).group("/shop")
    assert replacement is not None
    swapped = SHOP.put_group(replacement)
    assert set(swapped.all_apps()) == ids("/shop/api", "/tools/cron")
    nested = Group.of().put_group(Group(GroupId("/x/y/z")))
    assert nested.group("/x/y/z") is not None


def test_remove_group_removes_every_app_below_it() -> None:
    assert set(SHOP.remove_group("/shop").all_apps()) == ids("/tools/cron")
    assert SHOP.remove_group("/missing") == SHOP
    emptied = SHOP.remove_group("/")
    assert emptied.all_apps() == {} and emptied.groups == {}


def test_scale_by_multiplies_instances_in_a_subtree_rounding_up() -> None:
    scaled = SHOP.scale_by(1.5, "/shop")
    counts = {key: a.instances for key, a in scaled.all_apps().items()}
    assert counts == {"/shop/web": 5, "/shop/db": 3, "/shop/cache/redis": 2, "/tools/cron": 1}  # ceil(4.5) = 5
    tenfold = Group.of([app("/a", 10)]).scale_by(0.7)
    assert tenfold.app("/a") == app("/a", 7)  # float noise (7.000000000000001) does not round up


def test_with_dependencies_sets_a_groups_dependencies() -> None:
    tree = SHOP.with_dependencies("/tools", ["../shop"])
    tools = tree.group("/tools")
    assert tools is not None and tools.dependencies == {"/shop"}


# -- the dependency graph -----------------------------------------------------------------------------------


def test_an_app_depends_on_the_apps_it_names() -> None:
    graph = SHOP.dependency_graph()
    assert graph[AppId("/shop/web")] == ids("/shop/db")
    assert graph[AppId("/shop/db")] == frozenset()


def test_a_dependency_on_a_group_means_every_app_in_its_subtree() -> None:
    tree = SHOP.update_app(app("/tools/cron"), dependencies=["/shop"])
    assert tree.dependency_graph()[AppId("/tools/cron")] == ids("/shop/web", "/shop/db", "/shop/cache/redis")


def test_group_dependencies_are_inherited_by_everything_inside() -> None:
    tree = Group.of(
        [app("/front/web"), app("/front/admin/ui"), app("/back/db"), app("/back/queue")],
        group_dependencies={"/front": ["/back"]},
    )
    graph = tree.dependency_graph()
    assert graph[AppId("/front/web")] == ids("/back/db", "/back/queue")
    assert graph[AppId("/front/admin/ui")] == ids("/back/db", "/back/queue")
    assert graph[AppId("/back/db")] == frozenset()
    assert tree.transitive_dependencies("/front/admin/ui") == ids("/back/db", "/back/queue")


def test_dependencies_on_missing_paths_are_ignored() -> None:
    tree = Group.of([app("/a")], app_dependencies={AppId("/a"): ["/ghost"]})
    assert tree.dependency_graph() == {AppId("/a"): frozenset()}
    assert tree.dependency_cycle() is None


def test_transitive_dependencies_follow_chains() -> None:
    tree = Group.of(
        [app("/a"), app("/b"), app("/c"), app("/d")],
        app_dependencies={AppId("/a"): ["/b"], AppId("/b"): ["/c"]},
    )
    assert tree.transitive_dependencies("/a") == ids("/b", "/c")
    assert tree.transitive_dependencies("/d") == frozenset()


def test_depths_count_the_longest_dependency_path() -> None:
    diamond = Group.of(
        [app("/top"), app("/left"), app("/right"), app("/bottom"), app("/alone")],
        app_dependencies={
            AppId("/top"): ["/left", "/right"],
            AppId("/left"): ["/bottom"],
            AppId("/right"): ["/left"],
        },
    )
    assert diamond.dependency_depths() == {
        AppId("/alone"): 1,
        AppId("/bottom"): 1,
        AppId("/left"): 2,
        AppId("/right"): 3,
        AppId("/top"): 4,
    }


@pytest.mark.parametrize(
    ("tree", "cycle"),
    [
        (
            Group.of([app("/a"), app("/b")], app_dependencies={AppId("/a"): ["/b"], AppId("/b"): ["/a"]}),
            ("/a", "/b"),
        ),
        (
            Group.of(
                [app("/x/one"), app("/y/two")],
                group_dependencies={"/x": ["/y"], "/y": ["/x"]},
            ),
            ("/x/one", "/y/two"),
        ),
        (Group.of([app("/g/a")], group_dependencies={"/g": ["/g"]}), ("/g/a",)),
        (Group.of([app("/g/a")], app_dependencies={AppId("/g/a"): ["/g"]}), ("/g/a",)),
    ],
    ids=["app-app", "group-group", "group-on-itself", "app-on-its-own-group"],
)
def test_cycles_are_an_error_value_with_marathons_message(tree: Group, cycle: tuple[str, ...]) -> None:
    found = tree.dependency_cycle()
    assert found == DependencyCycle(tuple(AppId(a) for a in cycle))
    assert found is not None and found.message == CYCLE_MESSAGE == "Dependency graph has cyclic dependencies."
    assert isinstance(tree.dependency_depths(), DependencyCycle)


def test_long_chains_need_no_recursion() -> None:
    apps = [app(f"/a{i}") for i in range(3000)]
    deps = {AppId(f"/a{i}"): frozenset({f"/a{i + 1}"}) for i in range(2999)}
    tree = Group(ROOT, apps={a.id: a for a in apps}, app_dependencies=deps)
    depths = tree.dependency_depths()
    assert not isinstance(depths, DependencyCycle) and depths[AppId("/a0")] == 3000
