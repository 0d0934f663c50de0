"""Helpers that keep the API schema tests reading like Marathon's documentation.

    an_app(cpus=0.5)                      -> a minimal valid body with overrides
    rejected(body) -> (status, details)   -> the error a body earns (fails if it is accepted)
    CLIENT_APP_KEYS ...                   -> the keys marathon-python 0.13.0 accepts, read from its models
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import marathon.models.app as marathon_app
import marathon.models.container as marathon_container
import marathon.models.group as marathon_group
import marathon.util as marathon_util
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


# --- what the released `marathon` client (0.13.0) accepts; unknown keys raise TypeError (reference §10.1) ---
# Derived from the installed client's models, so the lists cannot drift from it: ``MarathonObject.from_json``
# calls ``cls(**{to_snake_case(key): value})``, so a JSON key is accepted exactly when its snake_case form
# names a parameter of the model's ``__init__`` (``**kwargs`` catch-alls aside).


def client_model_keys(model: type) -> frozenset[str]:
    """The JSON keys ``model.from_json`` accepts: its ``__init__`` parameters in the client's camelCase."""
    keys = set()
    for name, parameter in inspect.signature(model).parameters.items():  # __init__'s, without self
        if parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            continue
        key = marathon_util.to_camel_case(name)
        assert marathon_util.to_snake_case(key) == name, f"{model.__name__}.{name} does not round-trip"
        keys.add(key)
    return frozenset(keys)


CLIENT_APP_KEYS = client_model_keys(marathon_app.MarathonApp)
CLIENT_CONTAINER_KEYS = client_model_keys(marathon_container.MarathonContainer)
CLIENT_PORT_MAPPING_KEYS = client_model_keys(marathon_container.MarathonContainerPortMapping)
CLIENT_VOLUME_KEYS = client_model_keys(marathon_container.MarathonContainerVolume)
CLIENT_PORT_DEFINITION_KEYS = client_model_keys(marathon_app.PortDefinition)
CLIENT_UPGRADE_KEYS = client_model_keys(marathon_app.MarathonUpgradeStrategy)
CLIENT_UNREACHABLE_KEYS = client_model_keys(marathon_app.MarathonUnreachableStrategy)
CLIENT_READINESS_KEYS = client_model_keys(marathon_app.ReadinessCheck)
CLIENT_VERSION_INFO_KEYS = client_model_keys(marathon_app.MarathonAppVersionInfo)
CLIENT_RESIDENCY_KEYS = client_model_keys(marathon_app.Residency)
CLIENT_SECRET_KEYS = client_model_keys(marathon_app.Secret)
CLIENT_GROUP_KEYS = client_model_keys(marathon_group.MarathonGroup)
"""0.13.0 as released: ``enforceRole`` came later (marathon-python PR #281), so it is not among these."""
CLIENT_DOCKER_NETWORKS = frozenset({"BRIDGE", "HOST", "USER", "NONE"})
CLIENT_PORT_PROTOCOLS = frozenset({"tcp", "udp", "udp,tcp"})

CLIENT_ID_SEGMENT = re.compile(r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])|(\.|\.\.)$")
"""marathon-python's ``assert_valid_path`` segment pattern (it validates ``id`` on parse)."""

# Keys a definition may carry only because the user set a field the client cannot represent.
EXTENSION_KEYS = frozenset({"tty", "resourceLimits"})
"""Keys newer Marathons send (when the app set them) that the 0.13 client does not know. Our own extensions
(``affinity``, ``placementStrategy``, the upgrade-strategy ones) are never allowed: they appear only with
``embed=app.extensions``."""


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
