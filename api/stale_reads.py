"""Reads while ZooKeeper is lost (quorum gone, or this instance cut off from it): stale, but answered.

Owns the rule every HA instance applies while its ZooKeeper connection is down (``CoordinationView``:
``coordination_lost``), before the leader proxy looks for a leader that nobody can elect:

- reads (``GET``/``HEAD`` of ``/v2/apps``, ``/v2/groups``, ``/v2/tasks``, ``/v2/deployments``, ``/v2/queue``,
  ``/v2/info`` and what lies under them) are served here, from this instance's last loaded state, with the
  header ``X-Mesospaas-Stale: true``. ``serving_stale`` is set while such a request runs, so the platform of
  an instance whose leadership has ended may hand out the state it last served (``scheduler.ha_runner``). An
  instance that never loaded state (a standby that never led) answers those reads 503;
- every other request (writes above all) gets 503 in Marathon's format, saying why and that it is refused
  until ZooKeeper returns. Nothing is proxied: no leader can be known without ZooKeeper.

While ZooKeeper is connected nothing here applies and no answer carries the header. ``/metrics`` and
``/metrics/prometheus`` are answered as always (each instance's own meters). Never raises into aiohttp.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from aiohttp import web

STALE_HEADER = "X-Mesospaas-Stale"
READ_METHODS = frozenset({"GET", "HEAD"})
READ_PREFIXES = ("/v2/apps", "/v2/groups", "/v2/tasks", "/v2/deployments", "/v2/queue", "/v2/info")
WRITE_REFUSED = ("ZooKeeper is unavailable (quorum lost, or this instance is cut off from it): no leader can be "
                 "elected, so changes are refused until it returns; reads are answered from the last loaded state")
NOT_READABLE = ("ZooKeeper is unavailable (quorum lost, or this instance is cut off from it): only reads of apps, "
                "groups, tasks, deployments, the queue and /v2/info are answered until it returns")

serving_stale: contextvars.ContextVar[bool] = contextvars.ContextVar("serving_stale", default=False)
"""True while a stale read runs: the platform may answer from the state of a leadership that has ended."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@runtime_checkable
class CoordinationView(Protocol):
    @property
    def coordination_lost(self) -> bool:
        """This instance cannot reach ZooKeeper now (so it cannot know or become the leader)."""
        ...


def coordination_lost(view: object) -> bool:
    """Whether ``view`` (the ``LeaderView``) says ZooKeeper is out of reach; a view that fails says no."""
    try:
        return isinstance(view, CoordinationView) and bool(view.coordination_lost)
    except Exception:  # a broken view must not turn every request into a 503
        return False


def is_read(request: web.Request) -> bool:
    path = request.path.rstrip("/") or "/"
    return request.method in READ_METHODS and any(path == p or path.startswith(p + "/") for p in READ_PREFIXES)


async def answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The answer while ZooKeeper is lost (see the module docstring)."""
    if not is_read(request):
        return refusal(WRITE_REFUSED if request.method not in READ_METHODS else NOT_READABLE)
    token = serving_stale.set(True)
    try:
        response = await handler(request)
    finally:
        serving_stale.reset(token)
    if response.status < 500 and not response.prepared:
        response.headers[STALE_HEADER] = "true"
    return response


def refusal(text: str) -> web.Response:
    """503 in Marathon's JSON (``{"message": ...}``)."""
    return web.Response(status=503, body=json.dumps({"message": text}).encode(), content_type="application/json",
                        headers={"X-Frame-Options": "DENY", "X-XSS-Protection": "1; mode=block"})


__all__ = ["STALE_HEADER", "CoordinationView", "answer", "coordination_lost", "is_read", "serving_stale"]
