"""Partial updates (PATCH, PUT ?partialUpdate) merge like Marathon; load -> dump -> load is the identity."""

from __future__ import annotations

import json
from typing import Any

import pytest

from api.errors import InvalidDefinition
from api.schemas import (
    AppDefinition,
    RollbackRequested,
    change_kind,
    dump_app,
    load_app,
    restore_app,
    rollback_version,
)
from api.schemas.normalize import complete
from mesospaas.deploy.changes import ChangeKind, classify
from tests.api.helpers import accepted, an_app, client_incompatibilities, errors_at, rejected

RICH: dict[str, dict[str, Any]] = {
    "minimal": an_app(),
    "host mode with everything": an_app(
        id="/shop/web", user="nobody", instances=3, cpus=0.25, mem=64, disk=10, executor="//cmd",
        env={"MODE": "prod", "TOKEN": {"secret": "token"}}, secrets={"token": {"source": "/vault/token"}},
        constraints=[["hostname", "UNIQUE"], ["rack", "GROUP_BY", "2"], ["zone", "LIKE", "eu-.*"]],
        portDefinitions=[{"port": 10001, "name": "http", "labels": {"VIP_0": "/web:80"}},
                         {"port": 0, "name": "admin", "protocol": "udp,tcp"}],
        requirePorts=False, fetch=[{"uri": "https://x/app.tgz", "cache": True}],
        healthChecks=[{"protocol": "HTTP", "path": "/health", "portIndex": 0, "gracePeriodSeconds": 30,
                       "intervalSeconds": 10, "timeoutSeconds": 5, "maxConsecutiveFailures": 0, "ignoreHttp1xx": True},
                      {"protocol": "MESOS_TCP", "portIndex": 1}],
        readinessChecks=[{"portName": "http", "path": "/ready", "httpStatusCodesForReady": [200, 204]}],
        dependencies=["/shop/db"], upgradeStrategy={"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.2},
        backoffSeconds=2, backoffFactor=2.0, maxLaunchDelaySeconds=3600, killSelection="OLDEST_FIRST",
        unreachableStrategy={"inactiveAfterSeconds": 300, "expungeAfterSeconds": 600},
        taskKillGracePeriodSeconds=20, acceptedResourceRoles=["*", "prod"], role="prod",
        labels={"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": "web.example.com"},
        affinity={"apps": [{"app": "/shop/db", "type": "AFFINITY", "field": "@zone", "mode": "PREFERRED"}]},
        placementStrategy="BINPACK", tty=True, resourceLimits={"cpus": "unlimited", "mem": 256},
    ),
    "docker bridge": an_app(
        cmd=..., container={"type": "DOCKER", "docker": {
            "image": "nginx:1.19", "network": "BRIDGE", "privileged": True, "forcePullImage": True,
            "parameters": [{"key": "label", "value": "x"}], "portMappings": [
                {"containerPort": 80, "hostPort": 0, "servicePort": 10000, "name": "http", "labels": {"a": "b"}},
                {"containerPort": 53, "protocol": "udp"}]},
            "volumes": [{"containerPath": "/etc/x", "hostPath": "/srv/x", "mode": "RO"}]},
        healthChecks=[{"protocol": "HTTP", "portIndex": 0}],
    ),
    "mesos container networks": an_app(
        networks=[{"mode": "container", "name": "a"}, {"mode": "container", "name": "b", "labels": {"k": "v"}}],
        container={"type": "MESOS", "docker": {"image": "busybox"},  # pullConfig: a 422 until secrets exist
                   "portMappings": [{"containerPort": 8080, "hostPort": 0, "networkNames": ["a"]}]},
        secrets={"reg": {"source": "/vault/registry"}},
    ),
    # Resident apps (persistent volumes) are a 422 until supported: tests/api/test_containers.py.
    "legacy fields": an_app(ports=[0, 8080], uris=["http://x/a.zip"], killSelection="youngest_first"),
    "command check and args": an_app(cmd=..., args=["/bin/server", "--port", "$PORT0"],
                                     healthChecks=[{"command": {"value": "curl -f localhost:$PORT0"}}]),
}


@pytest.mark.parametrize("body", list(RICH.values()), ids=list(RICH))
def test_load_dump_load_is_the_identity(body: dict[str, Any]) -> None:
    first = accepted(body)
    dumped = dump_app(first, version="2015-09-25T15:13:48.343Z",
                      version_info={"lastScalingAt": "2015-09-25T15:13:48.343Z",
                                    "lastConfigChangeAt": "2015-09-25T15:13:48.343Z"},
                      counts={"tasksRunning": 1}, deployments=["abc"], tasks=[], extensions=True)
    second = accepted(json.loads(json.dumps(dumped)))
    assert second.definition == first.definition
    assert second.spec == first.spec
    assert complete(first.definition, base_path="/", default_role="*") == first.definition


@pytest.mark.parametrize("body", list(RICH.values()), ids=list(RICH))
def test_a_full_put_of_the_dump_changes_nothing(body: dict[str, Any]) -> None:
    first = accepted(body)
    # A Marathon client sends back what it read (no extensions): a partial update keeps them.
    replaced = load_app(dump_app(first, version_info={"lastScalingAt": "x"}), existing=first, partial=True)
    assert replaced.definition == first.definition
    assert change_kind(first, replaced) == "unchanged"
    # A full replace is the whole definition: with the extensions (embed=app.extensions) nothing changes.
    full = dump_app(first, version_info={"lastScalingAt": "x"}, extensions=True)
    replaced = load_app(full, existing=first, partial=False)
    assert replaced.definition == first.definition
    assert change_kind(first, replaced) == "unchanged"


def test_dump_adds_only_what_the_caller_embeds() -> None:
    app = accepted(an_app())
    assert dump_app(app) == app.definition
    dumped = dump_app(app, version="v", version_info={"lastScalingAt": "a", "lastConfigChangeAt": "b", "x": "y"},
                      counts={"tasksRunning": 2}, deployments=["d1"], tasks=[{"id": "t"}],
                      last_task_failure={"appId": "/app"}, readiness_check_results=[], task_stats={})
    assert dumped["versionInfo"] == {"lastScalingAt": "a", "lastConfigChangeAt": "b"}
    assert (dumped["tasksStaged"], dumped["tasksRunning"], dumped["tasksHealthy"], dumped["tasksUnhealthy"]) == (0, 2, 0, 0)
    assert dumped["deployments"] == [{"id": "d1"}]
    assert {"tasks", "lastTaskFailure", "readinessCheckResults", "taskStats", "version"} <= set(dumped)


def test_dump_is_a_copy() -> None:
    app = accepted(an_app(labels={"a": "b"}))
    dump_app(app)["labels"]["a"] = "changed"
    assert app.definition["labels"] == {"a": "b"}


EVERY_EXTENSION = an_app(
    affinity={"apps": [{"app": "/db", "type": "AFFINITY"}]}, placementStrategy="BINPACK",
    upgradeStrategy={"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5, "progressDeadlineSeconds": 120,
                     "autoRollback": True, "canary": {"instances": 2, "healthySeconds": 30, "promote": "MANUAL"}})


def test_extensions_appear_only_on_request() -> None:
    app = accepted(EVERY_EXTENSION)
    plain = dump_app(app)
    assert "affinity" not in plain and "placementStrategy" not in plain
    assert plain["upgradeStrategy"] == {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5}
    assert client_incompatibilities(plain) == []
    full = dump_app(app, extensions=True)
    assert full["placementStrategy"] == "BINPACK"
    assert full["affinity"]["apps"][0]["app"] == "/db"
    assert full["upgradeStrategy"] == {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5,
                                       "progressDeadlineSeconds": 120.0, "autoRollback": True,
                                       "canary": {"instances": 2, "healthySeconds": 30.0, "promote": "MANUAL"}}
    assert "affinity" not in dump_app(accepted(an_app(affinity={"apps": []})), extensions=True)
    assert "placementStrategy" not in dump_app(accepted(an_app()), extensions=True)


def test_a_partial_update_keeps_the_extensions_a_full_replace_resets_them() -> None:
    app = accepted(EVERY_EXTENSION)
    # What a Marathon client sends: the app as it read it, with a new capacity.
    update = {**dump_app(app), "upgradeStrategy": {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 0.5}}
    kept = load_app(update, existing=app, partial=True)
    assert kept.definition["upgradeStrategy"]["canary"] == app.definition["upgradeStrategy"]["canary"]
    assert kept.definition["upgradeStrategy"]["minimumHealthCapacity"] == 1.0
    assert kept.definition["placementStrategy"] == "BINPACK" and "affinity" in kept.definition
    assert kept.spec.upgrade_strategy.auto_rollback and kept.spec.upgrade_strategy.canary is not None
    reset = load_app(dump_app(app), existing=app, partial=False)
    assert reset.definition["upgradeStrategy"] == {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5}
    assert "placementStrategy" not in reset.definition and "affinity" not in reset.definition
    assert reset.spec.upgrade_strategy.canary is None and not reset.spec.upgrade_strategy.auto_rollback


def test_changing_only_the_upgrade_extensions_restarts_nothing() -> None:
    app = accepted(an_app())
    changed = load_app({"upgradeStrategy": {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0,
                                            "autoRollback": True, "canary": {"instances": 1}}},
                       existing=app, partial=True)
    assert classify(app.spec, changed.spec) is ChangeKind.SCALE
    capacity = load_app({"upgradeStrategy": {"minimumHealthCapacity": 0.5}}, existing=app, partial=True)
    assert classify(app.spec, capacity.spec) is ChangeKind.RESTART


# --- partial updates -----------------------------------------------------------------------------------------

@pytest.fixture
def web() -> AppDefinition:
    return accepted(RICH["host mode with everything"])


def test_patch_keeps_every_field_it_does_not_name(web: AppDefinition) -> None:
    scaled = load_app({"instances": 7}, existing=web, partial=True)
    assert scaled.definition == {**web.definition, "instances": 7}
    assert scaled.spec.instances == 7
    assert change_kind(web, scaled) == "scale"


def test_patch_of_anything_else_is_a_restart(web: AppDefinition) -> None:
    changed = load_app({"labels": {"HAPROXY_GROUP": "internal"}}, existing=web, partial=True)
    assert changed.definition["labels"] == {"HAPROXY_GROUP": "internal"}  # replaced, not deep-merged
    assert change_kind(web, changed) == "restart"


def test_patch_ignores_the_body_id_and_null_fields(web: AppDefinition) -> None:
    patched = load_app({"id": "/elsewhere", "cmd": None, "mem": 256}, existing=web, partial=True)
    assert patched.id == "/shop/web"
    assert patched.definition["cmd"] == web.definition["cmd"]
    assert patched.definition["mem"] == 256.0


def test_patch_replaces_the_env_as_a_whole(web: AppDefinition) -> None:
    patched = load_app({"env": {"ONLY": "this"}}, existing=web, partial=True)
    assert patched.definition["env"] == {"ONLY": "this"}


def test_patch_with_legacy_ports_replaces_the_port_definitions() -> None:
    app = accepted(an_app(portDefinitions=[{"port": 0, "name": "http"}]))
    patched = load_app({"ports": [9000]}, existing=app, partial=True)
    assert patched.definition["portDefinitions"] == [{"port": 9000, "protocol": "tcp"}]


def test_patch_that_removes_a_referenced_port_is_rejected(web: AppDefinition) -> None:
    _, error = rejected({"ports": [9000]}, existing=web, partial=True)
    assert errors_at(error, "/readinessChecks(0)/portName") == ["No port definition reference for portName http"]


def test_patch_to_bridge_networking_drops_port_definitions() -> None:
    app = accepted(an_app(container={"docker": {"image": "nginx"}}))
    bridged = load_app({"networks": [{"mode": "container/bridge"}]}, existing=app, partial=True)
    assert "portDefinitions" not in bridged.definition
    assert bridged.definition["container"]["portMappings"][0]["hostPort"] == 0


def test_patch_naming_both_bridge_networks_and_port_definitions_is_rejected() -> None:
    app = accepted(an_app(container={"docker": {"image": "nginx"}}))
    with pytest.raises(InvalidDefinition) as caught:
        load_app({"networks": [{"mode": "container/bridge"}], "portDefinitions": [{"port": 0}]},
                 existing=app, partial=True)
    assert caught.value.body()["details"] == [
        {"path": "/", "errors": ["portDefinitions are only allowed with host-networking"]}
    ]


def test_patch_is_validated_on_the_merged_result(web: AppDefinition) -> None:
    status, error = rejected({"args": ["x"]}, existing=web, partial=True)
    assert status == 422
    assert errors_at(error, "/") == ["AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."]


def test_full_put_replaces_the_whole_definition(web: AppDefinition) -> None:
    replaced = load_app({"cmd": "sleep 5"}, existing=web, partial=False)
    assert replaced.id == "/shop/web"
    assert replaced.definition == accepted({"id": "/shop/web", "cmd": "sleep 5"}).definition


def test_put_creating_an_app_takes_the_id_from_the_url() -> None:
    created = load_app({"id": "/ignored", "cmd": "sleep 5"}, app_id="/from/url", partial=True)
    assert created.id == "/from/url"


def test_a_version_alone_is_a_rollback(web: AppDefinition) -> None:
    with pytest.raises(RollbackRequested) as caught:
        load_app({"id": "/shop/web", "version": "2015-01-01T00:00:00.000Z"}, existing=web, partial=True)
    assert caught.value.version == "2015-01-01T00:00:00.000Z"
    assert rollback_version({"version": "2015-01-01T00:00:00.000Z"}) == "2015-01-01T00:00:00.000Z"
    assert rollback_version({"instances": 2}) is None


@pytest.mark.parametrize("call", ["load", "helper"])
@pytest.mark.parametrize("other", [{"instances": 3}, {"acceptedResourceRoles": None}])
def test_a_version_with_other_fields_is_rejected(web: AppDefinition, call: str, other: dict[str, Any]) -> None:
    body = {"version": "2015-01-01T00:00:00.000Z", **other}  # a field given as null is given all the same
    with pytest.raises(InvalidDefinition) as caught:
        if call == "load":
            load_app(body, existing=web, partial=True)
        else:
            rollback_version(body)
    assert caught.value.body() == {
        "message": "Object is not valid",
        "details": [{"path": "/", "errors": ["The 'version' field may only be combined with the 'id' field."]}],
    }


def test_with_version_stamps_the_spec(web: AppDefinition) -> None:
    stamped = web.with_version("2015-09-25T15:13:48.343Z", "2015-09-20T00:00:00.000Z")
    assert stamped.spec.version == "2015-09-25T15:13:48.343Z"
    assert stamped.spec.effective_config_version == "2015-09-20T00:00:00.000Z"
    assert stamped.definition is web.definition


@pytest.mark.parametrize("body", list(RICH.values()), ids=list(RICH))
def test_a_stored_definition_restores_to_the_same_app(body: dict[str, Any]) -> None:
    app = accepted(body, default_role="prod")
    stored = json.loads(json.dumps(app.definition))
    restored = restore_app(stored, version="2015-09-25T15:13:48.343Z")
    assert restored.definition == app.definition
    assert restored.spec == app.with_version("2015-09-25T15:13:48.343Z").spec
