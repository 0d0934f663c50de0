"""Services in, HAProxy configuration text out (marathon-lb's ``config()``), stable and slot-aware.

Owns: ``RenderOptions``, ``Rendered``, ``ServerSlot`` and ``render``.

Layout, as marathon-lb 1.15: HEAD (global, defaults, ``listen stats``), userlists, ``marathon_http_in``
(vhost ACLs, sorted by ``HAPROXY_{n}_BACKEND_WEIGHT``, largest first), ``marathon_http_appid_in``,
``marathon_https_in`` (left out without SSL certificates: *deviation*), then per service a frontend on its
service port and its backend. Services without servers are left out.

*Deviation, server slots*: every backend is padded with spare ``disabled`` servers (``slot_capacity``), so
the lb can put a new task into a spare slot through HAProxy's runtime API (``set server ... addr``) without a
reload. ``Rendered.skeleton`` is the text without server lines (plus each backend's server options), so two
renders with equal skeletons differ only in servers; ``Rendered.slots`` lists each backend's server lines.

Same input gives the same text. A template naming an unknown placeholder raises ``TemplateError`` naming
the app, so the caller can leave that app out.
"""

from __future__ import annotations

import hashlib
from collections import ChainMap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from mesospaas.routing.services import HTTP_CHECKS, ServerState, Service, cleaned
from mesospaas.routing.templates import RAW, Templates

SPARE_ADDRESS, SPARE_PORT = "127.0.0.1", 1
_OTHER = {ServerState.READY: "", ServerState.DRAIN: " weight 0", ServerState.MAINT: " disabled"}
DEFAULT_OPTIONS = "redispatch,http-server-close,dontlognull"


class TemplateError(ValueError):
    def __init__(self, app_id: str, message: str) -> None:
        super().__init__(message)
        self.app_id = app_id


@dataclass(frozen=True, slots=True)
class RenderOptions:
    admin_socket: str = "/var/run/haproxy/socket"
    http_bind: str = "*"
    http_port: int = 80
    https_bind: str = "*"
    https_port: int = 443
    stats_bind: str = "0.0.0.0"
    stats_port: int = 9090
    ssl_certs: tuple[str, ...] = ()
    global_default_options: str = DEFAULT_OPTIONS
    spare_slots: bool = True
    maxconn: int = 50000
    """Global ``maxconn`` (marathon-lb's 50000; the lb lowers it to what the file descriptor limit allows)."""


@dataclass(frozen=True, slots=True)
class ServerSlot:
    name: str
    ip: str
    port: int
    state: ServerState
    task_id: str | None = None


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    skeleton: str
    slots: Mapping[str, tuple[ServerSlot, ...]] = field(default_factory=lambda: MappingProxyType({}))


def slot_capacity(servers: int) -> int:
    """Server lines per backend: a multiple of 8 with at least 4 spare (scale-ups fit without a reload)."""
    return ((servers + 4) // 8 + 1) * 8


def _format(template: str, name: str, values: Mapping[str, Any], app_id: str) -> str:
    if name in RAW:
        return template
    try:
        return template.format_map(values)
    except (KeyError, IndexError, ValueError) as exc:
        raise TemplateError(app_id, f"template {name}: {exc!r}") from exc


class _Port:
    """Template lookups and placeholder values for one service."""

    def __init__(self, service: Service, templates: Templates, spare_slots: bool) -> None:
        self.service = service
        self.templates = templates
        self.spare_slots = spare_slots
        check = service.health_check
        self.values: dict[str, Any] = {
            "backend": service.backend, "bindAddr": service.bind_addr, "servicePort": service.service_port,
            "mode": service.mode, "balance": service.balance, "appId": service.app_id,
            "cleanedUpAppId": cleaned(service.app_id),
            "sslCert": f" ssl crt {service.ssl_cert}" if service.ssl_cert else "",
            "bindOptions": f" {service.bind_options}" if service.bind_options else "",
            "path": service.path or "", "realm": service.auth.realm if service.auth else "",
            "user": service.auth.user if service.auth else "",
            "passwd": service.auth.password if service.auth else "",
            "proxypath": service.proxypath or "", "rootpath": service.revproxypath or "",
            "redirpath": service.redirpath or "", "network_allowed": service.network_allowed or "",
            "hostname": service.hostnames[0] if service.hostnames else "",
            "cleanedUpHostname": self.clean_host(service.hostnames[0]) if service.hostnames else "",
            "haproxy_dir": "",
        }
        if check is not None:
            self.values.update({
                "healthCheckPortIndex": check.port_index if check.port_index is not None else 0,
                "healthCheckPort": check.port or "", "healthCheckProtocol": check.protocol,
                "healthCheckPath": check.path, "healthCheckTimeoutSeconds": check.timeout_seconds,
                "healthCheckIntervalSeconds": check.interval_seconds,
                "healthCheckGracePeriodSeconds": check.grace_period_seconds,
                "healthCheckMaxConsecutiveFailures": check.max_consecutive_failures,
                "healthCheckFalls": check.max_consecutive_failures + 1,
                "healthCheckPortOptions": f" port {check.port}" if check.port else "",
            })

    def clean_host(self, hostname: str) -> str:
        return f"{cleaned(hostname)}_{cleaned(self.service.app_id.lstrip('/'))}"

    def text(self, name: str, **extra: Any) -> str:
        template = self.templates.for_port(name, self.service.labels, self.service.index)
        return _format(template, name, {**self.values, **extra} if extra else self.values, self.service.app_id)

    @property
    def http_check(self) -> bool:
        check = self.service.health_check
        return check is not None and self.service.mode == "http" and check.protocol in HTTP_CHECKS

    def server_check_options(self) -> str:
        if self.service.health_check is None:
            return ""
        name = ("BACKEND_SERVER_HTTP_HEALTHCHECK_OPTIONS" if self.http_check
                else "BACKEND_SERVER_TCP_HEALTHCHECK_OPTIONS")
        options = self.text(name).strip()
        return f" {options}" if options else ""


def _http_frontend(port: _Port) -> str:
    """The vhost rules of one service in ``marathon_http_in`` (marathon-lb's combinations)."""
    service = port.service
    first = port.values["cleanedUpHostname"]
    out: list[str] = []
    several = len(service.hostnames) > 1
    if service.redirect_to_https:
        if service.path:
            out.append(port.text("HTTP_FRONTEND_ACL_ONLY_WITH_PATH"))
        for host in service.hostnames:
            out.append(port.text("HTTP_FRONTEND_ACL_ONLY", hostname=host, cleanedUpHostname=first))
        name = "BACKEND_REDIRECT_HTTP_TO_HTTPS_WITH_PATH" if service.path else "BACKEND_REDIRECT_HTTP_TO_HTTPS"
        out.append(port.text(name, cleanedUpHostname=first))
        return "".join(out)
    if not several:
        host = service.hostnames[0]
        if service.path:
            name = "HTTP_FRONTEND_ACL_WITH_AUTH_AND_PATH" if service.auth else "HTTP_FRONTEND_ACL_WITH_PATH"
        else:
            name = "HTTP_FRONTEND_ACL_WITH_AUTH" if service.auth else "HTTP_FRONTEND_ACL"
        return port.text(name, hostname=host)
    if service.path:
        out.append(port.text("HTTP_FRONTEND_ACL_ONLY_WITH_PATH_AND_AUTH" if service.auth
                             else "HTTP_FRONTEND_ACL_ONLY_WITH_PATH"))
    for host in service.hostnames:
        out.append(port.text("HTTP_FRONTEND_ACL_ONLY", hostname=host, cleanedUpHostname=first))
    if service.path:
        out.append(port.text("HTTP_FRONTEND_ROUTING_ONLY_WITH_PATH_AND_AUTH" if service.auth
                             else "HTTP_FRONTEND_ROUTING_ONLY_WITH_PATH"))
    else:
        out.append(port.text("HTTP_FRONTEND_ROUTING_ONLY_WITH_AUTH" if service.auth
                             else "HTTP_FRONTEND_ROUTING_ONLY"))
    return "".join(out)


def _https_frontend(port: _Port) -> str:
    service = port.service
    first = port.values["cleanedUpHostname"]
    out: list[str] = []
    if service.path:
        out.append(port.text("HTTPS_FRONTEND_ACL_ONLY_WITH_PATH"))
    for host in service.hostnames:
        if service.path:
            name = "HTTPS_FRONTEND_ACL_WITH_AUTH_AND_PATH" if service.auth else "HTTPS_FRONTEND_ACL_WITH_PATH"
        else:
            name = "HTTPS_FRONTEND_ACL_WITH_AUTH" if service.auth else "HTTPS_FRONTEND_ACL"
        out.append(port.text(name, hostname=host, cleanedUpHostname=first))
    return "".join(out)


def _backend(port: _Port) -> tuple[str, str, list[tuple[str, ServerSlot]]]:
    """(head text, server options marker, server lines with their slot)."""
    service = port.service
    head = [port.text("BACKEND_HEAD")]
    if service.mode == "http":
        head.append(port.text("BACKEND_HTTP_OPTIONS"))
        if service.use_hsts:
            head.append(port.text("BACKEND_HSTS_OPTIONS"))
        if service.proxypath:
            head.append(port.text("HTTP_BACKEND_PROXYPASS_GLUE"))
        if service.revproxypath:
            head.append(port.text("HTTP_BACKEND_REVPROXY_GLUE"))
        if service.redirpath:
            head.append(port.text("HTTP_BACKEND_REDIR"))
    if service.health_check is not None:
        head.append(port.text("BACKEND_HTTP_HEALTHCHECK_OPTIONS" if port.http_check
                              else "BACKEND_TCP_HEALTHCHECK_OPTIONS"))
    if service.sticky:
        head.append(port.text("BACKEND_STICKY_OPTIONS"))
    if service.network_allowed:  # last: ``http-request allow`` is final, later rules would not run
        kind = "HTTP" if service.mode == "http" else "TCP"
        head.append(port.text(f"{kind}_BACKEND_NETWORK_ALLOWED_ACL"))
        head.append(port.templates.get(f"{kind}_BACKEND_ACL_ALLOW_DENY"))
    check_options = port.server_check_options()
    template = port.templates.for_port("BACKEND_SERVER_OPTIONS", service.labels, service.index)
    lines: list[tuple[str, ServerSlot]] = []
    wanted: list[tuple[str, str, int, ServerState, str | None]] = [
        (s.name, s.ip, s.port, s.state, s.task_id) for s in service.servers]
    taken = {s.name for s in service.servers}
    spare = slot_capacity(len(service.servers)) - len(service.servers) if port.spare_slots else 0
    k = 0
    while spare > 0:
        k += 1
        name = f"slot{k}"
        if name not in taken:
            wanted.append((name, SPARE_ADDRESS, SPARE_PORT, ServerState.MAINT, None))
            spare -= 1
    spare_line: str | None = None
    for name, ip, number, state, task in wanted:
        cookie = f" check cookie {hashlib.sha1(name.encode()).hexdigest()[:10]}" if service.sticky else ""
        if task is None and not service.sticky:
            if spare_line is None:  # spare slots differ only in their name: format once
                spare_line = _format(template, "BACKEND_SERVER_OPTIONS", ChainMap(
                    {"serverName": "\0", "host_ipv4": ip, "host": ip, "port": number, "cookieOptions": "",
                     "healthCheckOptions": check_options, "otherOptions": " disabled"}, port.values), service.app_id)
            line = spare_line.replace("\0", name)
        else:
            line = _format(template, "BACKEND_SERVER_OPTIONS", ChainMap(
                {"serverName": name, "host_ipv4": ip, "host": ip, "port": number, "cookieOptions": cookie,
                 "healthCheckOptions": check_options, "otherOptions": _OTHER[state]}, port.values), service.app_id)
        lines.append((line, ServerSlot(name, ip, number, state, task)))
    marker = f"#servers {service.backend} sticky={service.sticky} {template!r}{check_options}\n"
    return "".join(head), marker, lines


def _head(templates: Templates, options: RenderOptions) -> str:
    defaults = "".join(sorted({f"  option            {o.strip()}\n"
                               for o in options.global_default_options.split(",") if o.strip()}))
    values = {"adminSocket": options.admin_socket, "statsBindAddr": options.stats_bind, "maxconn": options.maxconn,
              "statsPort": options.stats_port, "globalDefaultOptions": defaults,
              "httpBindAddr": options.http_bind, "httpPort": options.http_port,
              "httpsBindAddr": options.https_bind, "httpsPort": options.https_port,
              "sslCerts": " ".join(f"crt {c}" for c in options.ssl_certs)}
    return _format(templates.get("HEAD"), "HEAD", values, "")


def _global(templates: Templates, name: str, options: RenderOptions) -> str:
    values = {"httpBindAddr": options.http_bind, "httpPort": options.http_port,
              "httpsBindAddr": options.https_bind, "httpsPort": options.https_port,
              "sslCerts": " ".join(f"crt {c}" for c in options.ssl_certs),
              "statsBindAddr": options.stats_bind, "statsPort": options.stats_port}
    return _format(templates.get(name), name, values, "")


def render_service(service: Service, templates: Templates, options: RenderOptions) -> None:
    """Renders one service alone, raising ``TemplateError`` if its labels' templates do not format."""
    render([service], templates, options)


def render(services: Iterable[Service], templates: Templates, options: RenderOptions | None = None) -> Rendered:
    options = options or RenderOptions()
    served = [s for s in services if s.servers]
    userlists: list[str] = []
    http_rules: list[tuple[int, int, str]] = []
    appid_rules: list[str] = []
    https_rules: list[str] = []
    parts: list[str] = []
    skeleton: list[str] = []
    slots: dict[str, tuple[ServerSlot, ...]] = {}
    appid_seen: set[str] = set()
    for order, service in enumerate(served):
        port = _Port(service, templates, options.spare_slots)
        if service.auth:
            userlists.append(port.text("USERLIST_HEAD"))
        if service.mode == "http" and service.hostnames:
            http_rules.append((-service.backend_weight, order, _http_frontend(port)))
            https_rules.append(_https_frontend(port))
        if service.mode == "http" and service.app_id not in appid_seen:
            appid_seen.add(service.app_id)
            appid_rules.append(port.text("HTTP_FRONTEND_APPID_ACL"))
        frontend = port.text("FRONTEND_HEAD")
        if service.network_allowed and service.mode == "tcp":
            frontend += port.text("TCP_BACKEND_NETWORK_ALLOWED_ACL")
            frontend += templates.get("TCP_BACKEND_ACL_ALLOW_DENY")
        frontend += port.text("FRONTEND_BACKEND_GLUE")
        head, marker, lines = _backend(port)
        section = frontend + head
        parts.append(section + "".join(line for line, _ in lines))
        skeleton.append(section + marker)
        slots[service.backend] = tuple(slot for _, slot in lines)
    top = [_head(templates, options), *userlists]
    top.append(_global(templates, "HTTP_FRONTEND_HEAD", options))
    top.extend(text for _, _, text in sorted(http_rules))
    top.append(_global(templates, "HTTP_FRONTEND_APPID_HEAD", options))
    top.extend(appid_rules)
    if options.ssl_certs:
        top.append(_global(templates, "HTTPS_FRONTEND_HEAD", options))
        top.extend(https_rules)
    prefix = "".join(top)
    return Rendered(prefix + "".join(parts), prefix + "".join(skeleton), MappingProxyType(slots))
