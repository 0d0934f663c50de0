"""Helpers that keep the API schema tests reading like Marathon's documentation.

    an_app(cpus=0.5)                      -> a minimal valid body with overrides
    rejected(body) -> (status, details)   -> the error a body earns (fails if it is accepted)
    CLIENT_APP_KEYS ...                   -> the keys marathon-python 0.13.0 accepts (reference §10.1)
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from api.errors import InvalidDefinition
from api.schemas import AppDefinition, load_app


def an_app(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": "/app", "cmd": "sleep 1000"}
    body.update(fields)
    return {key: value for key, value in body.items() if value is not ...}


def accepted(body: Any, **kwargs: Any) -> AppDefinition:
    try:
        return load_app(body, **kwargs)
    except InvalidDefinition as error:  # pragma: no cover - the failure message is the point
        pytest.fail(f"expected {body!r} to be accepted, got {error.status} {error.body()}")


def rejected(body: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidDefinition) as caught:
        load_app(body, **kwargs)
    return caught.value.status, caught.value.body()


def errors_at(body: dict[str, Any], path: str) -> list[str]:
    for detail in body["details"]:
        if detail["path"] == path:
            return list(detail["errors"])
    return []


# --- reference §10.1: what the released `marathon` client (0.13.0) accepts; unknown keys raise TypeError ---

CLIENT_APP_KEYS = frozenset({
    "acceptedResourceRoles", "args", "backoffFactor", "backoffSeconds", "cmd", "constraints", "container",
    "cpus", "dependencies", "deployments", "disk", "env", "executor", "healthChecks", "id", "role",
    "instances", "killSelection", "labels", "lastTaskFailure", "maxLaunchDelaySeconds", "mem", "ports",
    "requirePorts", "storeUrls", "taskRateLimit", "tasks", "tasksRunning", "tasksStaged", "tasksHealthy",
    "taskKillGracePeriodSeconds", "tasksUnhealthy", "upgradeStrategy", "unreachableStrategy", "uris", "user",
    "version", "versionInfo", "ipAddress", "fetch", "taskStats", "readinessChecks", "readinessCheckResults",
    "secrets", "portDefinitions", "residency", "gpus", "networks",
})
CLIENT_CONTAINER_KEYS = frozenset({"type", "docker", "portMappings", "volumes"})
CLIENT_PORT_MAPPING_KEYS = frozenset({"name", "containerPort", "hostPort", "servicePort", "protocol", "labels"})
CLIENT_VOLUME_KEYS = frozenset({"containerPath", "hostPath", "mode", "persistent", "external"})
CLIENT_PORT_DEFINITION_KEYS = frozenset({"port", "protocol", "name", "labels"})
CLIENT_UPGRADE_KEYS = frozenset({"minimumHealthCapacity", "maximumOverCapacity"})
CLIENT_UNREACHABLE_KEYS = frozenset({
    "inactiveAfterSeconds", "expungeAfterSeconds", "unreachableInactiveAfterSeconds",
    "unreachableExpungeAfterSeconds",
})
CLIENT_READINESS_KEYS = frozenset({
    "name", "protocol", "path", "portName", "intervalSeconds", "timeoutSeconds", "httpStatusCodesForReady",
    "preserveLastResponse",
})
CLIENT_VERSION_INFO_KEYS = frozenset({"lastScalingAt", "lastConfigChangeAt"})
CLIENT_RESIDENCY_KEYS = frozenset({"relaunchEscalationTimeoutSeconds", "taskLostBehavior"})
CLIENT_SECRET_KEYS = frozenset({"source"})
CLIENT_GROUP_KEYS = frozenset({"apps", "dependencies", "groups", "id", "pods", "version"})
"""0.13.0 as released: ``enforceRole`` came later (marathon-python PR #281), so it is not here."""
CLIENT_DOCKER_NETWORKS = frozenset({"BRIDGE", "HOST", "USER", "NONE"})
CLIENT_PORT_PROTOCOLS = frozenset({"tcp", "udp", "udp,tcp"})

CLIENT_ID_SEGMENT = re.compile(r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])|(\.|\.\.)$")
"""marathon-python's ``assert_valid_path`` segment pattern (it validates ``id`` on parse)."""

# Keys a definition may carry only because the user set a field the client cannot represent.
EXTENSION_KEYS = frozenset({"affinity", "placementStrategy", "tty", "resourceLimits"})


def client_incompatibilities(app: dict[str, Any], body: dict[str, Any] | None = None) -> list[str]:
    """Why ``MarathonApp.from_json(app)`` (0.13.0) would raise; empty when it would not.

    Keys in ``EXTENSION_KEYS`` and port-mapping ``networkNames`` / ``secret`` volumes are allowed only
    when ``body`` (what the user sent) asked for them.
    """
    problems: list[str] = []
    body = body or {}
    for segment in filter(None, str(app.get("id", "")).strip("/").split("/")):
        if not CLIENT_ID_SEGMENT.match(segment):
            problems.append(f"id segment {segment}")
    for key in set(app) - CLIENT_APP_KEYS:
        if not (key in EXTENSION_KEYS and key in body):
            problems.append(f"app key {key}")
    if app.get("killSelection") not in (None, "YOUNGEST_FIRST", "OLDEST_FIRST"):
        problems.append("killSelection")
    container = app.get("container")
    if container is not None:
        problems += [f"container key {k}" for k in set(container) - CLIENT_CONTAINER_KEYS]
        if container.get("type", "DOCKER") not in ("DOCKER", "MESOS"):
            problems.append("container type")
        docker = container.get("docker") or {}
        if docker.get("network") and docker["network"] not in CLIENT_DOCKER_NETWORKS:
            problems.append("docker network")
        for mapping in container.get("portMappings") or ():
            extra = set(mapping) - CLIENT_PORT_MAPPING_KEYS
            if extra - {"networkNames"} or ("networkNames" in extra and "networks" not in body):
                problems.append(f"port mapping keys {extra}")
            if mapping.get("protocol", "tcp") not in CLIENT_PORT_PROTOCOLS:
                problems.append("port mapping protocol")
        for volume in container.get("volumes") or ():
            extra = set(volume) - CLIENT_VOLUME_KEYS
            if extra - {"secret"}:
                problems.append(f"volume keys {extra}")
            if "mode" in volume and volume["mode"] not in ("RO", "RW"):
                problems.append("volume mode")
    for definition in app.get("portDefinitions") or ():
        problems += [f"port definition key {k}" for k in set(definition) - CLIENT_PORT_DEFINITION_KEYS]
    for key, allowed in (("upgradeStrategy", CLIENT_UPGRADE_KEYS), ("versionInfo", CLIENT_VERSION_INFO_KEYS),
                         ("residency", CLIENT_RESIDENCY_KEYS)):
        if isinstance(app.get(key), dict):
            problems += [f"{key} key {k}" for k in set(app[key]) - allowed]
    unreachable = app.get("unreachableStrategy")
    if isinstance(unreachable, dict):
        problems += [f"unreachableStrategy key {k}" for k in set(unreachable) - CLIENT_UNREACHABLE_KEYS]
    elif unreachable not in (None, "disabled"):
        problems.append("unreachableStrategy")
    for check in app.get("readinessChecks") or ():
        problems += [f"readiness key {k}" for k in set(check) - CLIENT_READINESS_KEYS]
    for secret in (app.get("secrets") or {}).values():
        problems += [f"secret key {k}" for k in set(secret) - CLIENT_SECRET_KEYS]
    for constraint in app.get("constraints") or ():
        if not 1 <= len(constraint) <= 3:
            problems.append("constraint arity")
    return problems
