"""Properties of the API boundary, for any JSON a client may send.

- ``load_app`` / ``load_group`` never fail with anything but ``InvalidDefinition`` (or, for an update body
  that is exactly ``{"version": ...}``, ``RollbackRequested``);
- whatever is accepted dumps to JSON the released marathon client can parse (keys within reference §10.1),
  and loading that dump again gives the same definition and spec.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.errors import InvalidDefinition
from api.schemas import AppDefinition, AppSchema, RollbackRequested, dump_app, load_app, load_group
from tests.api.helpers import accepted, client_incompatibilities
from tests.api.test_updates_and_round_trip import RICH

MARSHMALLOW_DEFAULTS = {
    "Field may not be null.", "Invalid input type.", "Missing data for required field.", "Invalid value.",
    "Not a valid string.", "Not a valid integer.", "Not a valid number.", "Not a valid boolean.",
    "Not a valid list.", "Not a valid mapping type.", "Invalid type.", "Unknown field.",
}
SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["/app", "app", "/", "..", "HTTP", "host", "UNIQUE", "disabled", "container/bridge", "tcp"])
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
APP_KEYS = sorted(AppSchema().fields) + ["ports", "tasksRunning", "unknownField"]
app_like = st.dictionaries(st.sampled_from(APP_KEYS), json_values, max_size=8)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, prefix + (index,))
    return found


def _like(value: bool | int | float | str) -> st.SearchStrategy[Any]:
    """Values of the same JSON type, biased to the edges Marathon's rules care about."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.sampled_from([-1, 0, 1, 2, 65535, 65536, 2**31 - 1]) | st.integers(-10, 100)
    if isinstance(value, float):
        return st.sampled_from([-0.5, 0.0, 0.0005, 0.5, 1.0, 1.5]) | st.floats(-2, 200)
    return st.sampled_from(["", "x", "/", "..", "/Bad", "a b", "udp", "MESOS", "HOST", "container", "tasks",
                            "RO", "http://a b", "[", "app", "//cmd", "a//b"]) | st.text(max_size=6)


@st.composite
def mutated_apps(draw: st.DrawFn) -> Any:
    """A rich valid body with one spot replaced, removed, or given an extra key."""
    body = copy.deepcopy(draw(st.sampled_from(list(RICH.values()))))
    path = draw(st.sampled_from(_paths(body)))
    if not path:
        return draw(json_values)
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    action = draw(st.sampled_from(["same type", "same type", "replace", "remove", "extra"]))
    current = parent[path[-1]]
    if action == "same type" and isinstance(current, bool | int | float | str):
        parent[path[-1]] = draw(_like(current))
    elif action in ("replace", "same type") or (action == "remove" and isinstance(parent, list)):
        parent[path[-1]] = draw(json_values)
    elif action == "remove":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=6))] = draw(json_values)
    return body


@st.composite
def valid_apps(draw: st.DrawFn) -> dict[str, Any]:
    """Apps built from valid pieces, to check round trips and client compatibility on real definitions."""
    name = draw(st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True))
    body: dict[str, Any] = {"id": f"/{name}", "instances": draw(st.integers(0, 50)),
                            "cpus": draw(st.floats(0.001, 64)), "mem": draw(st.floats(0, 65536))}
    if draw(st.booleans()):
        body["cmd"] = "sleep 1000"
    else:
        body["args"] = ["sleep", "1000"]
    bridge = draw(st.booleans())
    ports = draw(st.integers(0, 3))
    if bridge:
        body.pop("args", None)
        body.setdefault("cmd", "serve")
        body["container"] = {"docker": {"image": "nginx", "network": "BRIDGE"},
                             "portMappings": [{"containerPort": 80 + i, "name": f"p{i}"} for i in range(ports)]}
    else:
        body["portDefinitions"] = [{"port": 0, "name": f"p{i}"} for i in range(ports)]
    if ports:
        body["healthChecks"] = [{"protocol": draw(st.sampled_from(["HTTP", "TCP", "MESOS_HTTP"])),
                                 "portIndex": draw(st.integers(0, ports - 1))}]
        if draw(st.booleans()):
            body["readinessChecks"] = [{"portName": "p0"}]
    body["constraints"] = draw(st.lists(st.sampled_from(
        [["hostname", "UNIQUE"], ["rack", "GROUP_BY"], ["rack", "GROUP_BY", "2"], ["zone", "LIKE", "a.*"],
         ["hostname", "MAX_PER", "2"], ["gpu", "IS", "true"], ["rack", "CLUSTER", "r1"]]), max_size=3))
    body["labels"] = draw(st.dictionaries(st.from_regex(r"[A-Z_]{1,8}", fullmatch=True), st.text(max_size=8), max_size=3))
    body["env"] = draw(st.dictionaries(st.from_regex(r"[A-Z_]{1,8}", fullmatch=True), st.text(max_size=8), max_size=3))
    body["upgradeStrategy"] = {"minimumHealthCapacity": draw(st.floats(0, 1)),
                               "maximumOverCapacity": draw(st.floats(0, 1))}
    body["killSelection"] = draw(st.sampled_from(["YOUNGEST_FIRST", "OLDEST_FIRST", "oldest_first"]))
    body["unreachableStrategy"] = draw(st.sampled_from(
        ["disabled", {"inactiveAfterSeconds": 60, "expungeAfterSeconds": 120}, {}]))
    if draw(st.booleans()):
        body["placementStrategy"] = draw(st.sampled_from(["SPREAD", "BINPACK"]))
    return body


def load_or_reject(body: Any, **kwargs: Any) -> AppDefinition | None:
    try:
        return load_app(body, **kwargs)
    except InvalidDefinition as error:
        body_json = error.body()
        assert error.status == 422
        assert body_json["message"] == ("Invalid JSON" if error.json_shape else "Object is not valid")
        assert body_json["details"] and all(d["path"].startswith("/") and d["errors"] for d in body_json["details"])
        messages = {message for detail in body_json["details"] for message in detail["errors"]}
        assert not messages & MARSHMALLOW_DEFAULTS, "marshmallow's own wording leaked into a Marathon error"
        json.dumps(body_json)
        return None


def assert_dump_is_client_safe_and_stable(app: AppDefinition, body: Any) -> None:
    stamps: dict[str, Any] = {"version": "2015-09-25T15:13:48.343Z",
                              "version_info": {"lastScalingAt": "2015-09-25T15:13:48.343Z",
                                               "lastConfigChangeAt": "2015-09-25T15:13:48.343Z"},
                              "counts": {}, "deployments": []}
    # What every Marathon client sees: no extension key, whatever the body set.
    assert client_incompatibilities(dump_app(app, **stamps), body) == []
    # With embed=app.extensions the dump carries everything, so it loads back to the same app.
    again = load_app(json.loads(json.dumps(dump_app(app, **stamps, extensions=True))))
    assert again.definition == app.definition
    assert again.spec == app.spec


@SETTINGS
@given(st.one_of(json_values, app_like, mutated_apps()))
def test_load_app_only_ever_rejects_with_a_validation_error(body: Any) -> None:
    app = load_or_reject(body)
    if app is not None:
        assert_dump_is_client_safe_and_stable(app, body)


EXISTING = accepted(RICH["host mode with everything"])


@SETTINGS
@given(st.one_of(app_like, mutated_apps()), st.booleans())
def test_updates_only_ever_reject_with_a_validation_error(body: Any, partial: bool) -> None:
    try:
        app = load_or_reject(body, existing=EXISTING, partial=partial)
    except RollbackRequested as rollback:
        assert isinstance(body, dict) and set(body) <= {"id", "version"}
        assert rollback.version == body["version"]
        return
    if app is not None:
        assert app.id == EXISTING.id
        sent = {**RICH["host mode with everything"], **body} if partial else body  # what the user ever set
        assert_dump_is_client_safe_and_stable(app, sent)


@SETTINGS
@given(valid_apps())
def test_valid_apps_round_trip_and_stay_client_safe(body: dict[str, Any]) -> None:
    app = accepted(body)
    assert app.spec.instances == body["instances"]
    assert app.spec.cpus == body["cpus"]
    assert_dump_is_client_safe_and_stable(app, body)


group_like = st.recursive(
    st.fixed_dictionaries({}, optional={
        "id": st.sampled_from(["g", "/g", "..", "/", "G", "a/b"]) | st.text(max_size=5),
        "apps": st.lists(st.one_of(app_like, mutated_apps(), st.just({"id": "a", "cmd": "x y"})), max_size=2),
        "dependencies": st.lists(st.sampled_from(["a", "../b", "/c"]) | st.text(max_size=4), max_size=2),
        "scaleBy": json_values, "version": json_values, "enforceRole": json_values, "pods": json_values,
    }),
    lambda children: st.fixed_dictionaries({"id": st.sampled_from(["h", "i", "/x"])},
                                           optional={"groups": st.lists(children, max_size=2)}),
    max_leaves=4,
)


@SETTINGS
@given(st.one_of(json_values, group_like))
def test_load_group_only_ever_rejects_with_a_validation_error(body: Any) -> None:
    try:
        group = load_group(body, group_id="/top")
    except InvalidDefinition as error:
        assert error.body()["details"]
        return
    for app in group.all_apps():  # extension keys never reach a client that did not ask for them
        assert client_incompatibilities(dump_app(app), app.definition) == []
