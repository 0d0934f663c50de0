"""Group bodies: nesting, relative ids, dependencies, nested error paths, scaleBy/rollback, responses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from api.errors import InvalidDefinition
from api.schemas import GroupDefinition, dump_app, dump_group, load_group
from tests.api.helpers import CLIENT_GROUP_KEYS, client_incompatibilities


def rejected_group(body: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidDefinition) as caught:
        load_group(body, **kwargs)
    return caught.value.status, caught.value.body()


SHOP = {
    "id": "shop",
    "dependencies": ["../infra"],
    "apps": [
        {"id": "web", "cmd": "serve", "dependencies": ["api"]},
        {"id": "/shop/api", "cmd": "serve"},
    ],
    "groups": [
        {"id": "back", "dependencies": ["../api"], "apps": [{"id": "worker", "cmd": "work"}],
         "groups": [{"id": "/shop/back/batch", "apps": [{"id": "./nightly", "cmd": "run"}]}]},
    ],
}


def test_ids_resolve_relative_to_the_enclosing_group() -> None:
    group = load_group(SHOP)
    assert group.id == "/shop"
    assert [app.id for app in group.apps or ()] == ["/shop/web", "/shop/api"]
    (back,) = group.groups or ()
    assert back.id == "/shop/back"
    assert [app.id for app in back.apps or ()] == ["/shop/back/worker"]
    assert [app.id for app in group.all_apps()] == ["/shop/web", "/shop/api", "/shop/back/worker",
                                                    "/shop/back/batch/nightly"]


def test_dependencies_resolve_relative_to_their_group() -> None:
    group = load_group(SHOP)
    assert group.dependencies == ("/infra",)
    assert (group.apps or ())[0].definition["dependencies"] == ["/shop/api"]
    assert (group.groups or ())[0].dependencies == ("/shop/api",)


def test_the_url_group_is_the_base_of_the_body_id() -> None:
    assert load_group({"id": "web"}, group_id="/prod").id == "/prod/web"
    assert load_group({}, group_id="/prod").id == "/prod"
    assert load_group({"apps": [{"id": "a", "cmd": "x y"}]}).id == "/"


def test_absent_lists_stay_absent_so_put_can_keep_them() -> None:
    group = load_group({"id": "/shop"})
    assert (group.apps, group.groups, group.dependencies) == (None, None, None)
    assert load_group({"id": "/shop", "apps": []}).apps == ()


def test_app_errors_carry_their_position_in_the_tree() -> None:
    body = {"id": "/shop", "apps": [{"id": "ok", "cmd": "x y"}, {"id": "bad", "cmd": "x y", "cpus": -1}],
            "groups": [{"id": "back", "apps": [{"id": "w", "cmd": "x y", "constraints": [["a", "NEAR"]]}]}]}
    status, error = rejected_group(body)
    assert status == 422
    assert error["details"] == [
        {"path": "/apps(1)/cpus", "errors": ["got -1.0, expected 0.001 or more"]},
        {"path": "/groups(0)/apps(0)/constraints(0)",
         "errors": ["operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS"]},
    ]


def test_shape_errors_inside_apps_are_422_invalid_json_with_nested_paths() -> None:
    status, error = rejected_group({"id": "/g", "groups": [{"id": "h", "apps": [{"id": "a", "instances": "2"}]}]})
    assert status == 422 and error["message"] == "Invalid JSON"
    assert error["details"] == [{"path": "/groups(0)/apps(0)/instances", "errors": ["error.expected.jsnumber"]}]


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ({"id": "/shop", "apps": [{"id": "/other/web", "cmd": "x y"}]}, "/apps(0)/id",
         "identifier /other/web is not child of /shop. Hint: use relative paths."),
        ({"id": "/shop", "apps": [{"id": "deep/web", "cmd": "x y"}]}, "/apps(0)/id",
         "identifier /shop/deep/web is not child of /shop. Hint: use relative paths."),
        ({"id": "/shop", "groups": [{"id": "/elsewhere"}]}, "/groups(0)/id",
         "identifier /elsewhere is not child of /shop. Hint: use relative paths."),
        ({"id": "/shop", "apps": [{"cmd": "x y"}]}, "/apps(0)/id", "error.path.missing"),
        ({"id": "/shop", "apps": [{"id": "x", "cmd": "x y"}], "groups": [{"id": "x"}]}, "/",
         "Groups and Applications may not have the same identifier."),
        ({"id": "/shop", "apps": [{"id": "a", "cmd": "x y", "dependencies": ["b"]},
                                  {"id": "b", "cmd": "x y", "dependencies": ["a"]}]}, "/",
         "Dependency graph has cyclic dependencies."),
        ({"id": "/shop", "dependencies": ["/shop/back"], "groups": [
            {"id": "back", "apps": [{"id": "w", "cmd": "x y", "dependencies": ["/shop/front"]}]},
            {"id": "front", "apps": [{"id": "f", "cmd": "x y", "dependencies": ["/shop/back/w"]}]}]}, "/",
         "Dependency graph has cyclic dependencies."),
        ({"id": "/Shop"}, "/id",
         r"must fully match regular expression '^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*"
         r"([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$'"),
        ({"id": "/shop", "dependencies": ["/Db"]}, "/dependencies(0)",
         r"must fully match regular expression '^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*"
         r"([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$'"),
        ({"id": "/shop", "scaleBy": 2}, "/scaleBy", "not allowed in conjunction with other properties."),
        ({"version": "2015-01-01T00:00:00Z", "apps": []}, "/version",
         "not allowed in conjunction with other properties."),
        ({"id": "/shop", "groups": [{"id": "a", "enforceRole": True}]}, "/groups(0)/enforceRole",
         "enforceRole can only be set for top-level groups"),
        ({"id": "/shop", "pods": [{"id": "p"}]}, "/pods", "pods are not supported"),
        ({"id": "/shop", "scaleBy": -1}, "/scaleBy", "got -1.0, expected 0.0 or more"),
    ],
)
def test_invalid_groups(body: dict[str, Any], path: str, message: str) -> None:
    _, error = rejected_group(body)
    assert message in next(d["errors"] for d in error["details"] if d["path"] == path), error


def test_scale_and_rollback_requests() -> None:
    assert load_group({"scaleBy": 1.5}, group_id="/shop") == GroupDefinition(id="/shop", scale_by=1.5)
    assert load_group({"version": "2015-01-01T00:00:00.000Z"}, group_id="/shop") == GroupDefinition(
        id="/shop", version="2015-01-01T00:00:00.000Z")


def test_enforce_role_gives_apps_the_group_role() -> None:
    group = load_group({"id": "/dev", "enforceRole": True, "apps": [{"id": "a", "cmd": "x y"}],
                        "groups": [{"id": "sub", "apps": [{"id": "b", "cmd": "x y"}]}]})
    assert [app.spec.role for app in group.all_apps()] == ["dev", "dev"]
    assert group.enforce_role is True
    assert load_group({"id": "/dev", "apps": [{"id": "a", "cmd": "x y"}]}, default_role="ops").apps[0].spec.role == "ops"  # type: ignore[index]


def test_dump_has_only_keys_the_released_client_accepts() -> None:
    dumped = dump_group(load_group({**SHOP, "enforceRole": True}), version_of=lambda _: "2015-01-01T00:00:00.000Z")

    def walk(group: dict[str, Any]) -> None:
        assert set(group) <= CLIENT_GROUP_KEYS
        for app in group["apps"]:
            assert client_incompatibilities(app) == []
        for child in group["groups"]:
            walk(child)

    walk(dumped)
    assert dumped["pods"] == [] and dumped["version"] == "2015-01-01T00:00:00.000Z"


def test_dump_then_load_gives_the_same_tree() -> None:
    group = load_group({**SHOP, "enforceRole": True})
    dumped = json.loads(json.dumps(dump_group(group, include_enforce_role=True)))
    assert dumped["enforceRole"] is True and dumped["groups"][0]["enforceRole"] is False
    reloaded = load_group(dumped)
    assert [a.definition for a in reloaded.all_apps()] == [a.definition for a in group.all_apps()]
    assert [(g.id, g.dependencies or ()) for g in reloaded.all_groups()] == [
        (g.id, g.dependencies or ()) for g in group.all_groups()
    ]


def test_dump_uses_the_callers_app_rendering() -> None:
    group = load_group(SHOP)
    dumped = dump_group(group, app_dump=lambda app: dump_app(app, version="v1", counts={}), embed_groups=False)
    assert dumped["groups"] == []
    assert all(app["version"] == "v1" and app["tasksRunning"] == 0 for app in dumped["apps"])
