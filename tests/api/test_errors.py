"""Marathon's error bodies: paths from marshmallow messages, grouping, and the fixed 400/404/409/422 bodies."""

from __future__ import annotations

import pytest
from marshmallow import Schema, ValidationError, fields

from api.errors import (
    ApiError,
    InvalidDefinition,
    UnparseableJson,
    Violation,
    app_exists,
    app_locked,
    app_not_found,
    deployment_not_found,
    details_from_messages,
    group_exists,
    group_not_found,
    join_path,
    parse_json,
    task_not_found,
)


def test_paths_use_slashes_for_fields_and_parentheses_for_indices() -> None:
    messages = {
        "cpus": ["bad"],
        "healthChecks": {0: {"portIndex": ["a", "b"]}},
        "constraints": {1: ["c"], 2: {0: ["d"]}},
        "_schema": ["whole object"],
        "container": {"docker": {"image": ["e"]}},
        "env": {"KEY": ["f"]},
    }
    assert details_from_messages(messages) == [
        {"path": "/cpus", "errors": ["bad"]},
        {"path": "/healthChecks(0)/portIndex", "errors": ["a", "b"]},
        {"path": "/constraints(1)", "errors": ["c"]},
        {"path": "/constraints(2)(0)", "errors": ["d"]},
        {"path": "/", "errors": ["whole object"]},
        {"path": "/container/docker/image", "errors": ["e"]},
        {"path": "/env/KEY", "errors": ["f"]},
    ]


def test_real_marshmallow_errors_convert() -> None:
    class Inner(Schema):
        port = fields.Integer(required=True)

    class Outer(Schema):
        items = fields.List(fields.Nested(Inner))

    with pytest.raises(ValidationError) as caught:
        Outer().load({"items": [{"port": 1}, {}]})
    assert details_from_messages(caught.value.messages) == [
        {"path": "/items(1)/port", "errors": ["Missing data for required field."]}
    ]


def test_join_path() -> None:
    assert join_path("/", "cpus") == "/cpus"
    assert join_path("/apps", 0) == "/apps(0)"
    assert join_path("/apps(0)", "id") == "/apps(0)/id"


def test_same_path_violations_group_and_duplicates_drop() -> None:
    error = InvalidDefinition([Violation("/a", "x"), Violation("/b", "y"), Violation("/a", "z"), Violation("/a", "x")])
    assert error.status == 422
    assert error.body() == {
        "message": "Object is not valid",
        "details": [{"path": "/a", "errors": ["x", "z"]}, {"path": "/b", "errors": ["y"]}],
    }


def test_shape_violations_win_and_make_it_a_422_invalid_json() -> None:
    """Marathon 1.5 and later answer JSON of the wrong type 422 (1.4 and older: 400)."""
    error = InvalidDefinition([Violation("/a", "got 1, expected 2 or more"), Violation("/b", "error.expected.jsstring")])
    assert error.status == 422
    assert error.body() == {"message": "Invalid JSON", "details": [{"path": "/b", "errors": ["error.expected.jsstring"]}]}


def test_prefixing_places_errors_inside_a_group() -> None:
    error = InvalidDefinition([Violation("/", "whole"), Violation("/cpus", "neg")]).prefixed("/apps(2)")
    assert [(v.path, v.message) for v in error.violations] == [("/apps(2)", "whole"), ("/apps(2)/cpus", "neg")]


def test_an_invalid_definition_needs_a_violation() -> None:
    with pytest.raises(ValueError):
        InvalidDefinition([])


@pytest.mark.parametrize("text", ["", "{", '{"id": NaN}', b"\xff\xfe", "[1,]"])
def test_unparseable_bodies_are_400_invalid_json(text: str | bytes) -> None:
    with pytest.raises(UnparseableJson) as caught:
        parse_json(text)
    assert caught.value.status == 400
    body = caught.value.body()
    assert body["message"] == "Invalid JSON" and isinstance(body["details"], str) and body["details"]


def test_parse_json_accepts_json() -> None:
    assert parse_json(b'{"id": "/a", "cpus": 0.5}') == {"id": "/a", "cpus": 0.5}


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (app_not_found("/x"), 404, {"message": "App '/x' does not exist"}),
        (group_not_found("/g"), 404, {"message": "Group '/g' does not exist"}),
        (task_not_found("t1"), 404, {"message": "Task 't1' does not exist"}),
        (deployment_not_found("d1"), 404, {"message": "DeploymentPlan d1 does not exist"}),
        (app_exists("/x"), 409, {"message": "An app with id [/x] already exists."}),
        (group_exists("/g"), 409, {"message": "Group /g is already created. Use PUT to change this group."}),
        (app_locked(["97c1", "aa"]), 409, {
            "message": "App is locked by one or more deployments. Override with the option '?force=true'. "
                       "View details at '/v2/deployments/97c1'.",
            "deployments": [{"id": "97c1"}, {"id": "aa"}],
        }),
    ],
)
def test_fixed_error_bodies(error: ApiError, status: int, body: dict[str, object]) -> None:
    assert error.status == status
    assert error.body() == body
