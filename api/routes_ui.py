"""The web UI: ``/ui`` serves a dependency-free page from package data, plus one small route of ours.

Owns:

- ``GET /ui`` (redirect to ``/ui/``), ``GET /ui/`` (``api/ui/index.html``) and ``GET /ui/{name}`` (the page's
  other files, ``app.js`` and ``style.css``): read from the installed package (``importlib.resources``), no
  build step, no CDN. Only the files in ``UI_FILES`` are served (no path is ever joined from the request).
- ``GET /ui/api/cluster`` (ours, not Marathon's): the Mesos master this scheduler uses and its agents with
  total, used and free resources, read from the master's ``/master/slaves`` through this process, so the
  page only ever talks to our API. ``{"master", "agents": [...], "error"}``: when the master cannot be read
  (unreachable, a ``zk://`` URL with no leading master known) ``agents`` is empty and ``error`` says why,
  with status 200 (the page shows it; nothing else depends on it).
- ``GET /ui/api/session`` (ours, public): how the page signs in. ``{"auth": false}`` when authentication is
  off; else ``{"auth": true, "principal": <the caller's name, or null>, "schemes": ["token"(, "basic")]}``
  (``basic`` when ``--http-credentials`` is set). It names only the caller's own principal, from the
  session cookie (or ``Authorization`` header) the request carries. The page then signs in with
  ``POST /v2/session`` (``api.auth_routes``): every later request, and the ``EventSource``, carries the
  HttpOnly SameSite=Strict session cookie; a 401 on any of them shows the sign-in form again.

Everything else the page shows comes from the public API (``/v2/apps``, ``/v2/deployments``, ``/v2/queue``,
``/v1/jobs``, ``/v2/info``) and ``/v2/events``. Fails: unknown files are 404 in Marathon's JSON.
"""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import Any

import aiohttp
from aiohttp import web

from api.mesos_master import mesos_master_of
from api.openapi import RouteSpec

UI_FILES = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}
MASTER_TIMEOUT = 5.0
RESOURCE_NAMES = ("cpus", "mem", "disk", "gpus")


def _file(name: str) -> bytes:
    return resources.files("api").joinpath("ui", name).read_bytes()


async def redirect(request: web.Request) -> web.Response:
    # returned, not raised: the error middleware turns raised HTTP exceptions into Marathon's error bodies
    return web.Response(status=302, headers={"Location": "/ui/"})


async def page(request: web.Request) -> web.Response:
    name = request.match_info.get("name") or "index.html"
    content_type = UI_FILES.get(name)
    if content_type is None:
        raise web.HTTPNotFound()
    body = await asyncio.to_thread(_file, name)
    return web.Response(body=body, content_type=content_type, charset="utf-8",
                        headers={"Cache-Control": "no-cache"})


def master_address(request: web.Request) -> str | None:
    """``host:port`` of the Mesos master to read: the configured one, or for ``zk://`` the one the scheduler
    is subscribed to (when the platform knows it)."""
    return mesos_master_of(request.app)


def _resources(raw: dict[str, Any] | None) -> dict[str, float]:
    raw = raw or {}
    return {name: float(raw.get(name) or 0.0) for name in RESOURCE_NAMES}


def agent_json(slave: dict[str, Any]) -> dict[str, Any]:
    total = _resources(slave.get("resources"))
    used = _resources(slave.get("used_resources"))
    attributes = slave.get("attributes") or {}
    return {"id": slave.get("id", ""), "hostname": slave.get("hostname", ""), "active": bool(slave.get("active")),
            "attributes": {str(k): v for k, v in attributes.items()} if isinstance(attributes, dict) else {},
            "resources": total, "used": used,
            "free": {name: round(max(0.0, total[name] - used[name]), 6) for name in RESOURCE_NAMES}}


async def cluster(request: web.Request) -> web.Response:
    from api.app import json_response
    address = master_address(request)
    if address is None:
        return json_response({"master": None, "agents": [], "error": "the leading Mesos master is not known"})
    try:
        timeout = aiohttp.ClientTimeout(total=MASTER_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(f"http://{address}/master/slaves") as response:
                if response.status != 200:
                    raise ValueError(f"the master answered {response.status}")
                body = await response.json(content_type=None)
        agents = sorted((agent_json(s) for s in body.get("slaves", [])), key=lambda a: a["hostname"])
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return json_response({"master": address, "agents": [],
                              "error": f"cannot read the Mesos master at {address}: {type(exc).__name__} {exc}"})
    return json_response({"master": address, "agents": agents, "error": None})


async def session(request: web.Request) -> web.Response:
    from api.app import json_response
    from api.auth import AUTH, authenticate

    state = request.app.get(AUTH)
    if state is None:
        return json_response({"auth": False, "principal": None, "schemes": []})
    principal, _ = authenticate(request, state)
    schemes = ["token", "basic"] if state.config.credentials is not None else ["token"]
    return json_response({"auth": True, "principal": principal.name if principal is not None else None,
                          "schemes": schemes})


UI_ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("GET", "/ui", "The web UI (redirects to /ui/)", status_codes=(200, 302), tags=("ui",),
              response_content_type="text/html"),
    RouteSpec("GET", "/ui/{name}", "A file of the web UI (index.html, app.js, style.css)", status_codes=(200, 404),
              tags=("ui",), response_content_type="text/html",
              path_descriptions={"name": "index.html, app.js or style.css"}),
    RouteSpec("GET", "/ui/api/session", "Whether and how the web UI signs in (mesospaas)", tags=("ui",),
              description="{auth, principal, schemes}: auth is on or off; the caller's own principal (or null) "
                          "and the schemes the sign-in form offers (token, basic)."),
    RouteSpec("GET", "/ui/api/cluster", "The Mesos master and its agents with free resources (mesospaas)",
              tags=("ui",), description="{master, agents: [{id, hostname, active, attributes, resources, used, "
                                        "free}], error}: read from the master through the scheduler."),
)
"""The entries of ``api.routes_docs.ROUTES`` for these routes."""


def register(app: web.Application) -> None:
    app.router.add_get("/ui", redirect)
    app.router.add_get("/ui/", page)
    app.router.add_get("/ui/api/cluster", cluster)
    app.router.add_get("/ui/api/session", session)
    app.router.add_get("/ui/{name}", page)


__all__ = ["UI_FILES", "UI_ROUTES", "agent_json", "register"]
