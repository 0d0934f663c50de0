"""The HTTP API application: an aiohttp app factory, Marathon's response conventions, and the small routes.

Owns: ``build_api_app`` (typed ``web.AppKey``s, no module-level state), the middleware that gives every
response Marathon's headers (``X-Marathon-Leader``, ``X-Frame-Options``, ``X-XSS-Protection``) and maps every
error to Marathon's JSON body (a bug is logged and answered 500 with a message, never an HTML page), request
size limits (413), ``/ping``, ``/v2/info``, ``/v2/leader`` (GET, and DELETE to abdicate) and the ``/v2/events``
SSE stream. The app, task, group, deployment and queue routes register themselves through ``ROUTE_MODULES``.

Single instance or HA: without a ``LeaderView`` the instance always leads and ``DELETE /v2/leader`` answers 404
(there is no leadership to give up; nothing is stopped). With one, ``api.leader_proxy`` runs before everything
else (standbys redirect or proxy every request to the leader), ``/v2/info`` and ``/v2/leader`` report the
election, and ``DELETE /v2/leader`` on the leader answers 200 and then abdicates.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from api import routes_apps, routes_deployments, routes_docs, routes_groups, routes_jobs, routes_tasks_extra
from api import routes_metrics, routes_ui
from api import auth, auth_audit, auth_routes, routes_secrets  # issue 17: security
from api.schemas.extensions import public_definition
from api.errors import ApiError, Locked, Unprocessable
from api.leader_proxy import (CONNECT_TIMEOUT, LEADER_PROXY, READ_TIMEOUT, SETTLE_INTERVAL, SETTLE_RETRIES,
                              LeaderProxy, leader_proxy)
from api.platform import EventStream, LeaderView, MetricsView, Platform
from api.plans import HeavyPlans
from mesospaas.errors import DeploymentConflict, DeploymentRejected, NotActing
from mesospaas.timestamps import iso_timestamp

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2 * 1024 * 1024
EVENT_KEEPALIVE_SECONDS = 10.0
VERSION = "1.11.0"  # the Marathon API version we speak, for clients that check it


@dataclass
class ApiConfig:
    """What ``/v2/info`` reports and how the API identifies itself; with HA, how standbys reach the leader."""

    http_port: int = 8080
    hostname: str = "127.0.0.1"
    master: str = ""
    framework_name: str = "mesospaas"
    mesos_user: str = "root"
    mesos_role: str | None = None
    task_launch_timeout_ms: int = 300000
    extra: dict[str, Any] = field(default_factory=dict)
    zk: str | None = None
    """The ZooKeeper URL of the leader election, for ``/v2/info`` (credentials are not shown)."""
    leader_proxy_connect_timeout: float = CONNECT_TIMEOUT
    leader_proxy_read_timeout: float = READ_TIMEOUT
    leader_settle_retries: int = SETTLE_RETRIES
    leader_settle_interval: float = SETTLE_INTERVAL
    leader_scheme: str = "http"
    """``https`` when the instances serve TLS (``--ssl-cert``): how a standby reaches the leader (issue 17)."""
    leader_ssl: Any = True
    """The ``ssl`` argument of a standby's requests to the leader (an ``SSLContext`` with ``--ssl-ca-file``)."""

    @property
    def leader(self) -> str:
        return f"{self.hostname}:{self.http_port}"


EVENTS = web.AppKey("events", EventStream)
CONFIG = web.AppKey("config", ApiConfig)
NO_HA = "This instance runs without high availability (no --zk): there is no leadership to abdicate"


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(payload, separators=(",", ":")).encode(),
                        content_type="application/json", headers=headers)


def error_response(status: int, message: str, **extra: Any) -> web.Response:
    return json_response({"message": message, **extra}, status=status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def advertised(app: web.Application) -> str:
    """This instance's API ``host:port``: the election's name for it with HA, the configured one without."""
    proxy = app.get(LEADER_PROXY)
    return proxy.leadership.me if proxy is not None else app[CONFIG].leader


@web.middleware
async def marathon_conventions(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except ApiError as exc:
        response = json_response(exc.body(), status=exc.status)
    except DeploymentConflict as exc:
        locked = Locked(exc.deployments)
        response = json_response(locked.body(), status=locked.status)
    except DeploymentRejected as exc:
        response = json_response(Unprocessable(str(exc)).body(), status=422)
    except web.HTTPRequestEntityTooLarge:
        response = error_response(413, f"Request body too large (limit {MAX_BODY_BYTES} bytes)")
    except web.HTTPMethodNotAllowed as exc:
        response = error_response(405, f"Method {request.method} not allowed on {request.path}",
                                  allowed=sorted(exc.allowed_methods))
    except web.HTTPNotFound:
        response = error_response(404, f"Path {request.path} not found")
    except web.HTTPException as exc:
        response = error_response(exc.status, exc.reason or "")
    except NotActing as exc:  # leadership ended under the request, or the runtime stopped: retry later
        response = error_response(503, f"The scheduler cannot handle this now: {exc}")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug: logged with its trace, answered in Marathon's JSON
        log.exception("internal error on %s %s", request.method, request.path_qs)
        response = error_response(500, f"Internal error: {type(exc).__name__}")
    if not response.prepared:
        response.headers["X-Marathon-Leader"] = f"http://{advertised(request.app)}"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-XSS-Protection"] = "1; mode=block"
    return response


async def ping(request: web.Request) -> web.Response:
    accept = request.headers.get("Accept", "*/*")
    if "text/plain" in accept or "*/*" in accept or "text/*" in accept:
        return web.Response(text="pong", content_type="text/plain")
    if "application/json" in accept:
        return json_response("pong")
    return web.Response(status=204)


def current_leader(app: web.Application) -> tuple[bool, str | None]:
    """``(elected, leader host:port)`` as this instance sees them now."""
    proxy = app.get(LEADER_PROXY)
    if proxy is None:
        return True, app[CONFIG].leader
    view = proxy.leadership
    return (True, view.me) if view.is_leader else (False, view.leader)


def redacted(url: str) -> str:
    """``zk://user:secret@host:2181/path`` without the ``user:secret@``."""
    return re.sub(r"^([a-z]+://)[^@/]*@", r"\1", url)


async def info(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    platform = routes_apps.platform_of(request)
    elected, leader_address = current_leader(request.app)
    return json_response({
        "name": "mesospaas", "version": VERSION, "buildref": "unknown", "elected": elected,
        "leader": leader_address, "frameworkId": platform.state.framework_id,
        "marathon_config": {"master": config.master, "framework_name": config.framework_name,
                            "ha": LEADER_PROXY in request.app,
                            "hostname": config.hostname, "mesos_role": config.mesos_role,
                            "mesos_user": config.mesos_user, "task_launch_timeout": config.task_launch_timeout_ms,
                            "features": [], "webui_url": None, **config.extra},
        "zookeeper_config": {"zk": redacted(config.zk)} if config.zk else {},
        "http_config": {"http_port": config.http_port}, "event_subscriber": None})


async def leader(request: web.Request) -> web.Response:
    _, leader_address = current_leader(request.app)
    if leader_address is None:  # only a standby between the proxy's look and this one
        return error_response(404, "There is no leader")
    return json_response({"leader": leader_address})


async def abdicate(request: web.Request) -> web.Response:
    """``DELETE /v2/leader``: 200 and then give up leadership (HA only; 404 without, and nothing happens)."""
    proxy = request.app.get(LEADER_PROXY)
    if proxy is None:
        return error_response(404, NO_HA)
    if "backup" in request.query or "restore" in request.query:
        return error_response(400, "backup and restore are not supported: leadership was not abdicated")
    if not proxy.leadership.is_leader:  # lost between the proxy's look and this one
        return error_response(404, "This instance is not the leader (any more): there is nothing to abdicate")
    return proxy.abdication_response()


async def events(request: web.Request) -> web.StreamResponse:
    """``GET /v2/events``: Server-Sent Events with CRLF frames, ``event_stream_attached`` first, keep-alives."""
    if "text/event-stream" not in request.headers.get("Accept", ""):
        return error_response(405, "The event stream needs 'Accept: text/event-stream'")
    bus = request.app[EVENTS]
    types = [t for value in request.query.getall("event_type", []) for t in value.split(",") if t]
    keep, release = auth.event_stream(request)  # issue 17: what this subscriber may see; None: too many streams
    if keep is None:
        return error_response(429, "Too many event streams open for this principal")
    subscription = bus.subscribe(types or None)
    response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream",
                                                       "Cache-Control": "no-cache"})
    response.headers["X-Marathon-Leader"] = f"http://{advertised(request.app)}"
    try:
        await response.prepare(request)
        attached = {"eventType": "event_stream_attached", "remoteAddress": request.remote or "",
                    "timestamp": iso_timestamp(time.time())}
        if not types or "event_stream_attached" in types:
            await response.write(_frame(attached))
        async for event in subscription.events(EVENT_KEEPALIVE_SECONDS):
            if event is not None and (event := keep(event)) is None:
                continue
            await response.write(b"\r\n" if event is None else _frame(event))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        subscription.close()
        release()
    return response


def _frame(event: dict[str, Any]) -> bytes:
    return (f"event: {event['eventType']}\r\ndata: {json.dumps(event, separators=(',', ':'))}\r\n\r\n").encode()


ROUTE_MODULES: list[Callable[[web.Application], None]] = [routes_apps.register, routes_deployments.register,
                                                         routes_docs.register, routes_groups.register,
                                                         routes_jobs.register, routes_tasks_extra.register,
                                                         routes_metrics.register, routes_ui.register]


def platform_metrics(platform: Platform) -> MetricsView:
    """The meters the platform carries (a runtime's own); a ``TypeError`` for a platform without any (an HA
    platform between terms, a fake): its composition root must hand ``metrics`` to ``build_api_app``."""
    try:
        found = getattr(platform, "metrics", None)
    except Exception:  # an HA platform between terms has no runtime to ask
        found = None
    if found is None or not callable(getattr(found, "render", None)):
        raise TypeError("build_api_app needs metrics=... for a platform without meters of its own")
    meters: MetricsView = found
    return meters


def build_api_app(platform: Platform, bus: EventStream, config: ApiConfig,
                  leadership: LeaderView | None = None, metrics: MetricsView | None = None,
                  security: auth.AuthConfig | None = None) -> web.Application:
    """The API over ``platform`` (every argument a port of ``api.platform``, wired by the composition root).
    ``bus``: the event stream (``scheduler.events.EventBus``). ``leadership``: the leader election when several
    instances run (None: this one always leads); then ``api.leader_proxy`` decides, before any route, where
    each request is served. ``metrics``: the process's meters (``scheduler.metrics.Metrics``; default: the
    platform's own)."""
    metered = routes_metrics.metered_requests
    guards = auth.middlewares(security)  # issue 17: audit + authentication/authorisation (none when off)
    if leadership is None:
        app = web.Application(middlewares=[metered, marathon_conventions, *guards], client_max_size=MAX_BODY_BYTES)
    else:
        app = web.Application(middlewares=[metered, leader_proxy, marathon_conventions, *guards],
                              client_max_size=MAX_BODY_BYTES)
        LeaderProxy(leadership, connect_timeout=config.leader_proxy_connect_timeout,
                    read_timeout=config.leader_proxy_read_timeout, settle_retries=config.leader_settle_retries,
                    settle_interval=config.leader_settle_interval, body_limit=MAX_BODY_BYTES,
                    scheme=config.leader_scheme, ssl=config.leader_ssl).install(app)
    app[routes_apps.PLATFORM] = auth.guarded_platform(app, platform, security)  # issue 17
    app[EVENTS] = bus
    app[routes_metrics.METRICS] = metrics if metrics is not None else platform_metrics(platform)
    app[routes_metrics.METRICS].sources.subscribers = lambda: bus.subscribers

    def api_post_event(request: web.Request, definition: Any) -> None:
        bus.publish("api_post_event", clientIp=request.remote or "", uri=request.path,
                    appDefinition=public_definition(definition.definition))
    app[routes_apps.EVENTS_PUBLISH] = api_post_event
    app[CONFIG] = config
    app.router.add_get("/ping", ping)
    app.router.add_get("/v2/info", info)
    app.router.add_get("/v2/leader", leader)
    app.router.add_delete("/v2/leader", abdicate)
    app.router.add_get("/v2/events", events)
    for register in ROUTE_MODULES:
        register(app)
    for register in (auth_routes.register, auth_audit.register, routes_secrets.register):  # issue 17
        register(app)
    # Deployment events carry the heavy plan (original and target roots): marathon-python requires them.
    platform.plan_json = HeavyPlans(platform, app[routes_apps.RENDERER].definition)
    return app
