"""Which apps, service ports and tasks become HAProxy frontends and servers (marathon-lb's ``get_apps``).

Owns: ``Service`` (one app service port: its labels' meaning and its servers), ``Server``, ``ServerState``,
``Excluded`` and ``build_services``.

Rules (marathon-lb 1.15 unless marked *deviation*):
- Groups: ``HAPROXY_GROUP`` (comma separated; ``HAPROXY_{n}_GROUP`` per port) must meet the lb's groups;
  ``*`` among the lb's groups takes every app. ``HAPROXY_{n}_ENABLED=false`` turns a port off.
- Tasks: no host, or a state in ``SKIPPED_STATES``, -> not a server. *Deviation*: TASK_LOST and
  TASK_UNREACHABLE are not servers either; TASK_KILLING tasks are kept as DRAIN servers (no new requests,
  running ones finish), so an app serving through its kill grace period loses nothing.
- Health gating (``-H``, on by default): for apps with health checks, a task is a server only when one of its
  ``healthCheckResults`` is alive. *Deviation*: a task without results is not a server (no LRU cache).
- Blue/green: apps labelled ``HAPROXY_DEPLOYMENT_GROUP`` are served as ``/<group>``; of the older colour,
  ``min(old tasks, healthy new, max(0, healthy new + old instances - target))`` tasks (by id) are MAINT.
- *Deviation*: an unreadable label (``HAPROXY_0_PORT=abc``), an unassigned service port (0) or a service
  port another app already binds leaves that app out with a reason (``Excluded``) instead of failing all.

Host names are resolved by the caller (``resolve``: host -> IPv4); a host missing there is used as is.
"""

from __future__ import annotations

import enum
import re
from functools import lru_cache
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from mesospaas.routing.apps import CONTAINER, RoutedApp, RoutedHealthCheck, RoutedTask

SKIPPED_STATES = frozenset({
    "TASK_STAGING", "TASK_STARTING", "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR",
    "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN", "TASK_LOST", "TASK_UNREACHABLE",
})
HTTP_CHECKS = frozenset({"HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"})
TCP_CHECKS = frozenset({"TCP", "MESOS_TCP", "COMMAND"})
_UNSAFE = re.compile(r"[^a-zA-Z0-9\-]")


@lru_cache(maxsize=1 << 16)
def cleaned(text: str) -> str:
    return _UNSAFE.sub("_", text)


def backend_name(app_id: str, service_port: int) -> str:
    return f"{app_id.lstrip('/').replace('/', '_')}_{service_port}"


def truthy(text: str) -> bool:
    return text.strip().lower() in ("true", "t", "yes", "y")


class ServerState(enum.Enum):
    READY = "ready"
    DRAIN = "drain"
    MAINT = "maint"


@dataclass(frozen=True, slots=True)
class Server:
    host: str
    ip: str
    port: int
    task_id: str
    state: ServerState = ServerState.READY
    name: str = ""
    """marathon-lb's server name ``<host>_<ip>_<port>`` (cleaned); filled in when left empty."""

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", cleaned(f"{self.host}_{self.ip}_{self.port}"))


@dataclass(frozen=True, slots=True)
class Auth:
    realm: str
    user: str
    password: str


@dataclass(frozen=True, slots=True)
class Service:
    app_id: str
    index: int
    """The app's port index ``n`` (labels ``HAPROXY_{n}_*``)."""
    service_port: int
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    mode: str = "tcp"
    balance: str = "roundrobin"
    hostnames: tuple[str, ...] = ()
    path: str | None = None
    sticky: bool = False
    redirect_to_https: bool = False
    use_hsts: bool = False
    ssl_cert: str | None = None
    bind_addr: str = "*"
    bind_options: str | None = None
    backend_weight: int = 0
    auth: Auth | None = None
    proxypath: str | None = None
    revproxypath: str | None = None
    redirpath: str | None = None
    network_allowed: str | None = None
    health_check: RoutedHealthCheck | None = None
    servers: tuple[Server, ...] = ()
    backend: str = ""
    """``<app id with / as _>_<service port>``; filled in when left empty."""

    def __post_init__(self) -> None:
        if not self.backend:
            object.__setattr__(self, "backend", backend_name(self.app_id, self.service_port))


@dataclass(frozen=True, slots=True)
class Excluded:
    app_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Services:
    services: tuple[Service, ...]
    excluded: tuple[Excluded, ...]


class LabelError(ValueError):
    pass


def _label(labels: Mapping[str, str], index: int, name: str) -> str | None:
    return labels.get(f"HAPROXY_{index}_{name}")


def _port_labels(labels: Mapping[str, str], index: int) -> dict[str, str]:
    """``HAPROXY_{index}_<NAME>`` labels by NAME (one pass over the labels instead of a lookup per name)."""
    prefix = f"HAPROXY_{index}_"
    return {k[len(prefix):]: v for k, v in labels.items() if k.startswith(prefix)}


def _int_label(port: Mapping[str, str], index: int, name: str) -> int | None:
    value = port.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise LabelError(f"HAPROXY_{index}_{name}={value!r} is not a number") from None


def _enabled(label: str | None, strict_mode: bool) -> bool:
    if strict_mode:
        return truthy(label or "")
    return (label or "true").strip().lower() != "false"


def _groups(labels: Mapping[str, str], index: int) -> frozenset[str]:
    raw = _label(labels, index, "GROUP") or labels.get("HAPROXY_GROUP", "")
    return frozenset(g.strip() for g in raw.split(",") if g.strip())


def _health_check(app: RoutedApp, index: int) -> RoutedHealthCheck | None:
    for check in app.health_checks:
        if check.port is not None or (check.port_index if check.port_index is not None else 0) == index:
            return check
    return None


def _auth(port: Mapping[str, str], index: int) -> Auth | None:
    raw = port.get("AUTH")
    if raw is None:
        return None
    parts = raw.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise LabelError(f"HAPROXY_{index}_AUTH must be realm:user:encrypted-password")
    return Auth(parts[0], parts[1], parts[2])


def _service(app: RoutedApp, app_id: str, index: int, service_port: int) -> Service:
    labels = app.labels
    port = _port_labels(labels, index)
    port_label = _int_label(port, index, "PORT")
    bind_port = port_label if port_label is not None else service_port
    if bind_port <= 0 or bind_port > 65535:
        raise LabelError(f"service port {bind_port} of port index {index} is not assigned")
    hostnames = tuple(h.strip().lower() for h in (port.get("VHOST") or "").split(",") if h.strip())
    check = _health_check(app, index)
    mode = port.get("MODE")
    if mode is None:
        mode = "http" if hostnames or (check is not None and check.protocol in HTTP_CHECKS) else "tcp"
    elif mode not in ("http", "tcp"):
        raise LabelError(f"HAPROXY_{index}_MODE={mode!r} is neither http nor tcp")
    path = port.get("PATH")
    weight = _int_label(port, index, "BACKEND_WEIGHT")
    return Service(
        app_id=app_id, index=index, service_port=bind_port, labels=labels, mode=mode,
        balance=port.get("BALANCE") or "roundrobin", hostnames=hostnames, path=path,
        sticky=truthy(port.get("STICKY") or ""),
        redirect_to_https=truthy(port.get("REDIRECT_TO_HTTPS") or ""),
        use_hsts=truthy(port.get("USE_HSTS") or ""),
        ssl_cert=port.get("SSL_CERT"), bind_addr=port.get("BIND_ADDR") or "*",
        bind_options=port.get("BIND_OPTIONS"), backend_weight=weight if weight is not None else (1 if path else 0),
        auth=_auth(port, index),
        proxypath=port.get("HTTP_BACKEND_PROXYPASS_PATH"),
        revproxypath=port.get("HTTP_BACKEND_REVPROXY_PATH"),
        redirpath=port.get("HTTP_BACKEND_REDIR"),
        network_allowed=port.get("BACKEND_NETWORK_ALLOWED_ACL"),
        health_check=check,
    )


def _task_state(app: RoutedApp, task: RoutedTask, health_gating: bool) -> ServerState | None:
    if not task.host or (task.state is not None and task.state in SKIPPED_STATES):
        return None
    if task.state == "TASK_KILLING":
        return ServerState.DRAIN
    if health_gating and app.health_checks and not any(task.alive or ()):
        return None
    return ServerState.READY


def _servers(app: RoutedApp, task: RoutedTask, state: ServerState, resolve: Mapping[str, str],
             count: int) -> list[Server | None]:
    if app.networking_mode == CONTAINER:
        ip = task.ip_addresses[0] if task.ip_addresses else None
        ports: tuple[int, ...] = app.container_ports
    else:
        ip = resolve.get(task.host, task.host)
        ports = task.ports
    if not ip or not ports:
        return [None] * count
    return [Server(task.host, ip, ports[i], task.id, state) if i < len(ports) else None for i in range(count)]


def _draining_old(apps: list[RoutedApp]) -> tuple[RoutedApp, frozenset[str]]:
    """For a blue/green pair: the newer app and the ids of older tasks to put in MAINT (marathon-lb's rule)."""
    ordered = sorted(apps, key=lambda a: (a.labels.get("HAPROXY_DEPLOYMENT_STARTED_AT", ""), a.id))
    new, olds = ordered[-1], ordered[:-1]
    try:
        target = int(new.labels.get("HAPROXY_DEPLOYMENT_TARGET_INSTANCES", new.instances))
    except ValueError:
        target = new.instances
    healthy_new = (sum(1 for t in new.tasks if any(t.alive or ())) if new.health_checks else new.instances)
    draining: set[str] = set()
    for old in olds:
        count = min(len(old.tasks), healthy_new, max(0, healthy_new + old.instances - target))
        draining.update(t.id for t in sorted(old.tasks, key=lambda t: t.id)[:count])
    return new, frozenset(draining)


def build_services(apps: Iterable[RoutedApp], groups: Iterable[str], *, health_gating: bool = True,
                   resolve: Mapping[str, str] | None = None, strict_mode: bool = False,
                   skip: Iterable[str] = ()) -> Services:
    """Services sorted by (app id, port index), plus apps left out and why. ``skip`` names apps to leave out
    (the lb's quarantine of apps whose config HAProxy rejects)."""
    wanted = frozenset(groups)
    resolve = resolve or {}
    skipped = frozenset(skip)
    by_group: dict[str, list[RoutedApp]] = {}
    singles: list[RoutedApp] = []
    for app in sorted(apps, key=lambda a: a.id):
        if app.id in skipped:
            continue
        deployment_group = app.labels.get("HAPROXY_DEPLOYMENT_GROUP")
        if deployment_group:
            by_group.setdefault(deployment_group, []).append(app)
        else:
            singles.append(app)
    excluded: list[Excluded] = []
    built: dict[str, Service] = {}
    bound: dict[tuple[str, int], Service] = {}
    units: list[tuple[str, list[RoutedApp], RoutedApp, frozenset[str]]] = [(a.id, [a], a, frozenset()) for a in singles]
    for name, members in sorted(by_group.items()):
        new, draining = _draining_old(members)
        units.append((f"/{name}", members, new, draining))
    for app_id, members, lead, draining in sorted(units, key=lambda u: u[0]):
        try:
            services = [_service(lead, app_id, i, p) for i, p in enumerate(lead.service_ports)
                        if _enabled(_label(lead.labels, i, "ENABLED"), strict_mode)]
        except LabelError as exc:
            excluded.extend(Excluded(m.id, str(exc)) for m in members)
            continue
        services = [s for s in services if "*" in wanted or (_groups(lead.labels, s.index) & wanted)]
        if not services:
            continue
        servers: list[list[Server]] = [[] for _ in services]
        positions = {s.index: j for j, s in enumerate(services)}
        for member in members:
            for task in member.tasks:
                state = _task_state(member, task, health_gating)
                if state is None:
                    continue
                if task.id in draining:
                    state = ServerState.MAINT
                for k, server in enumerate(_servers(member, task, state, resolve, len(lead.service_ports))):
                    position = positions.get(k)
                    if server is not None and position is not None:
                        servers[position].append(server)
        clash = next((built[s.backend] for s in services if s.backend in built), None) or next(
            (bound[(s.bind_addr, s.service_port)] for s in services if (s.bind_addr, s.service_port) in bound), None)
        if clash is not None:
            excluded.extend(Excluded(m.id, f"service port already used by {clash.app_id}") for m in members)
            continue
        for service, found in zip(services, servers):
            unique = {(s.ip, s.port): s for s in sorted(found, key=lambda s: (s.name, s.task_id))}
            built[service.backend] = replace(service, servers=tuple(sorted(unique.values(), key=lambda s: s.name)))
            bound[(service.bind_addr, service.service_port)] = built[service.backend]
    ordered = sorted(built.values(), key=lambda s: (s.app_id, s.index))
    return Services(tuple(ordered), tuple(sorted(excluded, key=lambda e: e.app_id)))
