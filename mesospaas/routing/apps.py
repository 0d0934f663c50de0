"""The public Marathon v2 app and task JSON, parsed into what routing needs.

Owns: ``RoutedApp``, ``RoutedTask``, ``RoutedHealthCheck`` and ``apps_from_json``. Input is the body of
``GET /v2/apps?embed=apps.tasks`` from mesospaas or a real Marathon; null-valued keys are treated as absent
(marathon-lb drops them). Malformed entries raise ``ValueError`` naming the app; the caller decides whether to
skip that app (``apps_from_json`` collects them into ``unreadable``).

Networking mode follows marathon-lb: ``ipAddress`` present or a USER docker network or a ``container``
network -> container mode (task IP from ``ipAddresses``); BRIDGE -> container/bridge; otherwise host mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

HOST, CONTAINER, BRIDGE = "host", "container", "container/bridge"


@dataclass(frozen=True, slots=True)
class RoutedHealthCheck:
    protocol: str
    port_index: int | None = None
    port: int | None = None
    path: str = "/"
    timeout_seconds: int = 20
    interval_seconds: int = 60
    grace_period_seconds: int = 300
    max_consecutive_failures: int = 3


@dataclass(frozen=True, slots=True)
class RoutedTask:
    id: str
    host: str
    ports: tuple[int, ...] = ()
    state: str | None = None
    ip_addresses: tuple[str, ...] = ()
    alive: tuple[bool, ...] | None = None
    """``healthCheckResults[].alive``; None when the task has no ``healthCheckResults`` key."""


@dataclass(frozen=True, slots=True)
class RoutedApp:
    id: str
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    service_ports: tuple[int, ...] = ()
    networking_mode: str = HOST
    container_ports: tuple[int, ...] = ()
    """Ports inside the container network (discovery ports or ``portMappings[].containerPort``)."""
    health_checks: tuple[RoutedHealthCheck, ...] = ()
    instances: int = 0
    last_scaling_at: str | None = None
    tasks: tuple[RoutedTask, ...] = ()


def _networking_mode(app: dict[str, Any]) -> str:
    container = app.get("container") or {}
    docker = container.get("docker") or {}
    if app.get("ipAddress") is not None:
        return CONTAINER
    network = docker.get("network")
    if network == "USER":
        return CONTAINER
    if network == "BRIDGE":
        return BRIDGE
    networks = app.get("networks") or []
    if networks:
        mode = str(networks[-1].get("mode", "host"))
        return {"container": CONTAINER, "container/bridge": BRIDGE}.get(mode, HOST)
    return HOST


def _port_mappings(app: dict[str, Any]) -> list[dict[str, Any]]:
    container = app.get("container") or {}
    docker = container.get("docker") or {}
    mappings = docker.get("portMappings") or container.get("portMappings") or []
    return list(mappings)


def _service_ports(app: dict[str, Any], mode: str) -> tuple[int, ...]:
    if mode in (CONTAINER, BRIDGE):
        mappings = _port_mappings(app)
        if mappings:
            return tuple(int(m.get("servicePort") or 0) for m in mappings)
    definitions = app.get("portDefinitions")
    if definitions:
        return tuple(int(p.get("port") or 0) for p in definitions)
    return tuple(int(p) for p in app.get("ports") or ())


def _container_ports(app: dict[str, Any]) -> tuple[int, ...]:
    discovery = ((app.get("ipAddress") or {}).get("discovery") or {}).get("ports") or []
    if discovery:
        return tuple(int(p["number"]) for p in discovery)
    return tuple(int(m.get("containerPort") or 0) for m in _port_mappings(app))


def _given(raw: dict[str, Any], key: str, default: Any) -> Any:
    value = raw.get(key)
    return default if value is None else value


def _health_check(raw: dict[str, Any]) -> RoutedHealthCheck:
    return RoutedHealthCheck(
        protocol=str(raw.get("protocol", "HTTP")),
        port_index=int(raw["portIndex"]) if raw.get("portIndex") is not None else None,
        port=int(raw["port"]) if raw.get("port") is not None else None,
        path=str(raw.get("path") or "/"),
        timeout_seconds=int(_given(raw, "timeoutSeconds", 20)),
        interval_seconds=int(_given(raw, "intervalSeconds", 60)),
        grace_period_seconds=int(_given(raw, "gracePeriodSeconds", 300)),
        max_consecutive_failures=int(_given(raw, "maxConsecutiveFailures", 3)),
    )


def _task(raw: dict[str, Any]) -> RoutedTask:
    results = raw.get("healthCheckResults")
    return RoutedTask(
        id=str(raw["id"]),
        host=str(raw.get("host") or ""),
        ports=tuple(int(p) for p in raw.get("ports") or ()),
        state=str(raw["state"]) if raw.get("state") is not None else None,
        ip_addresses=tuple(str(a["ipAddress"]) for a in raw.get("ipAddresses") or () if a.get("ipAddress")),
        alive=None if results is None else tuple(bool(r.get("alive")) for r in results),
    )


def app_from_json(raw: dict[str, Any]) -> RoutedApp:
    """One app (with its ``tasks``, if embedded). Raises ValueError when a field has the wrong shape."""
    app = raw
    try:
        mode = _networking_mode(app)
        labels = app.get("labels") or {}
        if not isinstance(labels, dict):
            raise ValueError("labels is not an object")
        return RoutedApp(
            id=str(app["id"]),
            labels=MappingProxyType({str(k): str(v) for k, v in labels.items()}),
            service_ports=_service_ports(app, mode),
            networking_mode=mode,
            container_ports=_container_ports(app) if mode == CONTAINER else (),
            health_checks=tuple(_health_check(h) for h in app.get("healthChecks") or ()),
            instances=int(app.get("instances") or 0),
            last_scaling_at=(app.get("versionInfo") or {}).get("lastScalingAt"),
            tasks=tuple(_task(t) for t in app.get("tasks") or ()),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"app {raw.get('id', '?')!s}: unreadable ({exc!r})") from exc


@dataclass(frozen=True, slots=True)
class ParsedApps:
    apps: tuple[RoutedApp, ...]
    unreadable: Mapping[str, str]
    """App id -> why it could not be read."""


def apps_from_json(body: Mapping[str, Any]) -> ParsedApps:
    """All apps of a ``/v2/apps?embed=apps.tasks`` body, sorted by id; unreadable ones are reported, not raised."""
    apps: list[RoutedApp] = []
    unreadable: dict[str, str] = {}
    for raw in body.get("apps") or ():
        try:
            apps.append(app_from_json(raw))
        except ValueError as exc:
            unreadable[str(raw.get("id", "?")) if isinstance(raw, dict) else "?"] = str(exc)
    return ParsedApps(tuple(sorted(apps, key=lambda a: a.id)), MappingProxyType(unreadable))
