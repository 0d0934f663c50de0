"""Standbys serve the API by handing each request to the leader, following Marathon's rules (reference §1.5).

Owns ``LeaderProxy``, one per HA API application: the ``LeaderView``, the proxy's timeouts, the aiohttp
``ClientSession`` to the leader (opened on startup, closed on cleanup; no cookie jar, no decompression, no
redirects followed) and the pending abdication; and ``leader_proxy``, the outermost middleware of such an
application. Routing has not answered when it runs, so it decides for every path, unknown ones included:

- this instance leads: the routes handle the request (``api.app`` adds ``X-Marathon-Leader: http://<me>``);
- ``/metrics`` and ``/metrics/prometheus`` (``LOCAL_PATHS``): every instance answers them itself, leader or
  not: each one's own meters (a standby's say ``mesospaas_leader 0``);
- another instance leads: ``/v2/events`` and everything under it answer 302 to the same path and query on the
  leader; anything else is forwarded with the same method, raw path, query and body. Hop-by-hop headers (and
  those the ``Connection`` header names), ``Host`` and ``Content-Length`` are not copied, ``User-Agent`` is
  this proxy's, ``1.1 <me>`` is appended to ``X-Marathon-Via`` and the client's address to
  ``X-Forwarded-For``. The leader's status, headers and body (as received: still compressed when it was) come
  back, with ``1.1 <me>`` appended to the response's ``X-Marathon-Via``;
- ZooKeeper out of reach (``LeaderView.coordination_lost``): ``api.stale_reads`` answers instead (reads from
  this instance's last state with ``X-Mesospaas-Stale: true``, 503 for the rest);
- no leader known, or the election still names this instance while it does not lead: the view is read again
  up to ``settle_retries`` times, ``settle_interval`` apart (it may lead by then, or a leader may appear),
  then 502 "Could not determine the current leader".

It also runs the abdication of ``DELETE /v2/leader`` (``abdication_response``): the answer is written first,
then ``LeaderView.abdicate()`` runs in a task kept here, one at a time (a second request while one is under
way is answered the same and abdicates nothing more).

Fails: never raises into aiohttp and never answers 500 for a failure of its own. A request that already
carries this instance's Via value is a loop: 502 "Detected proxying loop."; the leader refusing the
connection: 502 "Connection to leader refused."; no connection or no answer within the timeouts: 504 "Leader
did not answer in time."; anything else that breaks while forwarding (an unresolvable or unreachable leader,
a malformed answer): 502 with what failed. A view that raises counts as "no leader known" (so the 502 above,
after the retries). Each is logged at WARNING. A request body over the API's limit is 413, as the leader would
answer. A failing ``abdicate()`` is logged with its trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from api import stale_reads
from api.platform import LeaderView

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
"""Seconds to open a connection to the leader (Marathon's ``--leader_proxy_connection_timeout_ms``)."""
READ_TIMEOUT = 10.0
"""Seconds the leader may stay silent while answering (Marathon's ``--leader_proxy_read_timeout_ms``)."""
SETTLE_RETRIES = 10
LOCAL_PATHS = frozenset({"/metrics", "/metrics/prometheus"})
"""Answered by every instance itself, standbys included: each one's own meters (metrics hook)."""
SETTLE_INTERVAL = 0.25
ABDICATION_SEND_WAIT = 5.0
"""How long an abdication waits for its 200 to be written; it goes ahead anyway after that (client gone)."""
ABDICATION_SHUTDOWN_WAIT = 10.0
"""How long the application's cleanup waits for an abdication under way before cancelling it."""

VIA = "X-Marathon-Via"
LEADER_HEADER = "X-Marathon-Leader"
FORWARDED_FOR = "X-Forwarded-For"
USER_AGENT = "mesospaas-leader-proxy"

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "trailers", "upgrade",
                        "expect"})
"""Headers about one connection, never forwarded (besides every ``Proxy-*`` and what ``Connection`` names).
``Expect`` is here too: the body has been read in full before it is forwarded."""
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "user-agent", VIA.lower(), FORWARDED_FOR.lower()}
"""Request headers the client session sets itself or this proxy re-sets."""
NOT_RELAYED = HOP_BY_HOP | {"content-length", VIA.lower()}
"""Response headers aiohttp sets from the body it writes, or this proxy re-sets. ``Content-Encoding`` is kept:
the body is relayed as received."""
NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "Content-Type")
"""Defaults the client session would add when the client sent none: the leader sees only what the client sent."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class LeaderProxy:
    """Where a request goes while several instances run, and how it gets there (see the module docstring)."""

    def __init__(self, leadership: LeaderView, *, connect_timeout: float = CONNECT_TIMEOUT,
                 read_timeout: float = READ_TIMEOUT, settle_retries: int = SETTLE_RETRIES,
                 settle_interval: float = SETTLE_INTERVAL, body_limit: int | None = None,
                 scheme: str = "http", ssl: Any = True) -> None:
        self.leadership = leadership
        self.scheme = scheme  # issue 17: "https" when the instances serve TLS; ``ssl``: how the leader is verified
        self.ssl = ssl
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)
        self.settle_retries = settle_retries
        self.settle_interval = settle_interval
        self.body_limit = body_limit
        self.session: aiohttp.ClientSession | None = None
        self._abdication: asyncio.Task[None] | None = None

    def install(self, app: web.Application) -> None:
        """Keeps this proxy on ``app`` and ties the client session to the application's lifetime."""
        app[LEADER_PROXY] = self
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)

    async def _open(self, app: web.Application) -> None:
        self.session = aiohttp.ClientSession(timeout=self.timeout, auto_decompress=False,
                                             cookie_jar=aiohttp.DummyCookieJar())

    async def _close(self, app: web.Application) -> None:
        task = self._abdication
        if task is not None and not task.done():
            done, _ = await asyncio.wait({task}, timeout=ABDICATION_SHUTDOWN_WAIT)
            if not done:
                log.warning("the abdication did not finish within %.0f s of shutting down; cancelled",
                            ABDICATION_SHUTDOWN_WAIT)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.session is not None:
            await self.session.close()
            self.session = None

    # -- routing -----------------------------------------------------------------------------------------------
    def _read_view(self) -> tuple[bool, str | None, str]:
        """``(is_leader, leader, me)`` now; a view that raises counts as "no leader known"."""
        view = self.leadership
        try:
            return bool(view.is_leader), view.leader, view.me
        except Exception:
            log.warning("the leader view failed; treated as no leader known", exc_info=True)
            return False, None, ""

    async def dispatch(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in LOCAL_PATHS:
            return await handler(request)
        if stale_reads.coordination_lost(self.leadership):  # issue 18: no ZooKeeper, no leader: stale reads
            return await stale_reads.answer(request, handler)
        for attempt in range(self.settle_retries + 1):
            is_leader, leader, me = self._read_view()
            if is_leader:
                return await handler(request)
            if leader and me and leader != me:
                return await self._to_leader(request, leader, me)
            if attempt < self.settle_retries:
                await asyncio.sleep(self.settle_interval)
        log.warning("no leader to serve %s %s after %d retries (leader recorded: %s)", request.method,
                    request.path, self.settle_retries, leader)
        return message(502, "Could not determine the current leader")

    async def _to_leader(self, request: web.Request, leader: str, me: str) -> web.StreamResponse:
        target = f"{self.scheme}://{leader}{request.rel_url.raw_path_qs}"
        if request.path == "/v2/events" or request.path.startswith("/v2/events/"):
            # A stream through a proxy gets buffered and cut by the read timeout: the client goes itself.
            return web.Response(status=302, headers={"Location": target, LEADER_HEADER: f"http://{leader}",
                                                     **SECURITY_HEADERS})
        via = f"1.1 {me}"
        incoming_via = header_list(request.headers.getall(VIA, ()))
        if via in incoming_via:
            log.warning("proxying loop: %s %s came back to %s (via %s)", request.method, request.path, me,
                        ", ".join(incoming_via))
            return message(502, "Detected proxying loop.", leader)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            limit = f" (limit {self.body_limit} bytes)" if self.body_limit is not None else ""
            return message(413, f"Request body too large{limit}", leader)
        except web.HTTPException as exc:
            return message(exc.status, exc.reason or "Could not read the request body", leader)
        except (OSError, aiohttp.ClientPayloadError, asyncio.IncompleteReadError) as exc:
            return message(400, f"Could not read the request body: {type(exc).__name__}", leader)
        headers = forwarded_headers(request, [*incoming_via, via])
        session = self.session
        if session is None:
            return message(502, "The leader proxy is not running (the application has not started)", leader)
        try:
            async with session.request(request.method, URL(target, encoded=True), headers=headers,
                                       data=body if body else None, allow_redirects=False, ssl=self.ssl,
                                       skip_auto_headers=NO_AUTO_HEADERS) as upstream:
                payload = await upstream.read()
                return relayed(upstream.status, upstream.reason, upstream.headers, payload, via)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            log.warning("the leader %s did not answer %s %s in time", leader, request.method, request.path)
            return message(504, "Leader did not answer in time.", leader)
        except aiohttp.ClientConnectorError as exc:
            if refused(exc):
                log.warning("the leader %s refused the connection for %s %s", leader, request.method, request.path)
                return message(502, "Connection to leader refused.", leader)
            log.warning("could not connect to the leader %s: %s", leader, exc)
            return message(502, f"Could not connect to the leader at {leader}: {exc.strerror or exc}", leader)
        except Exception as exc:  # whatever else breaks on the way is the leader's link failing, not a bug here
            log.warning("proxying %s %s to the leader %s failed", request.method, request.path, leader,
                        exc_info=True)
            return message(502, f"Proxying to the leader at {leader} failed: {type(exc).__name__}", leader)

    # -- DELETE /v2/leader --------------------------------------------------------------------------------------
    def abdication_response(self) -> web.Response:
        """``200 {"message": "Leadership abdicated"}``; ``LeaderView.abdicate()`` runs once it has been written."""
        written = asyncio.Event()
        response = _NotifyingResponse(written, status=200, body=_json({"message": "Leadership abdicated"}),
                                      content_type="application/json")
        if self._abdication is None or self._abdication.done():
            self._abdication = asyncio.create_task(self._abdicate_once(written), name="abdicate-leadership")
        else:
            log.info("DELETE /v2/leader while an abdication is under way: nothing more to do")
        return response

    async def _abdicate_once(self, written: asyncio.Event) -> None:
        try:
            await asyncio.wait_for(written.wait(), ABDICATION_SEND_WAIT)
        except TimeoutError:
            log.warning("the answer to DELETE /v2/leader was not written within %.0f s; abdicating anyway",
                        ABDICATION_SEND_WAIT)
        log.info("abdicating leadership (DELETE /v2/leader)")
        try:
            await self.leadership.abdicate()
        except Exception:
            log.exception("abdicating leadership failed")


class _NotifyingResponse(web.Response):
    """A response that sets ``written`` once aiohttp has finished writing it (or failed to)."""

    def __init__(self, written: asyncio.Event, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._written = written

    async def write_eof(self, data: bytes = b"") -> None:
        try:
            await super().write_eof(data)
        finally:
            self._written.set()


LEADER_PROXY = web.AppKey("leader_proxy", LeaderProxy)


@web.middleware
async def leader_proxy(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The outermost middleware of an HA application: serve here, redirect, proxy, or give up (module docstring)."""
    return await request.app[LEADER_PROXY].dispatch(request, handler)


# -- helpers ----------------------------------------------------------------------------------------------------
SECURITY_HEADERS = {"X-Frame-Options": "DENY", "X-XSS-Protection": "1; mode=block"}


def _json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def message(status: int, text: str, leader: str | None = None) -> web.Response:
    """An answer of the proxy itself, in Marathon's JSON, naming the leader when one is known."""
    headers = dict(SECURITY_HEADERS)
    if leader:
        headers[LEADER_HEADER] = f"http://{leader}"
    return web.Response(status=status, body=_json({"message": text}), content_type="application/json",
                        headers=headers)


def header_list(values: Iterable[str]) -> list[str]:
    """The items of a comma-separated header given once or several times, stripped, empty ones dropped."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _connection_tokens(headers: CIMultiDictProxy[str]) -> set[str]:
    return {token.lower() for token in header_list(headers.getall("Connection", ()))}


def _skipped(name: str, dropped: frozenset[str] | set[str]) -> bool:
    lowered = name.lower()
    return lowered in dropped or lowered.startswith("proxy-")


def forwarded_headers(request: web.Request, via: list[str]) -> CIMultiDict[str]:
    """The client's headers as the leader gets them (see the module docstring)."""
    dropped = NOT_FORWARDED | _connection_tokens(request.headers)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in request.headers.items():
        if not _skipped(name, dropped):
            out.add(name, value)
    out[VIA] = ", ".join(via)
    forwarded_for = header_list(request.headers.getall(FORWARDED_FOR, ()))
    if request.remote:
        forwarded_for.append(request.remote)
    if forwarded_for:
        out[FORWARDED_FOR] = ", ".join(forwarded_for)
    out["User-Agent"] = USER_AGENT
    return out


def relayed(status: int, reason: str | None, headers: CIMultiDictProxy[str], body: bytes, via: str) -> web.Response:
    """The leader's answer as this instance sends it on: same status, headers and bytes, plus our Via."""
    dropped = NOT_RELAYED | _connection_tokens(headers)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if not _skipped(name, dropped):
            out.add(name, value)
    out[VIA] = ", ".join([*header_list(headers.getall(VIA, ())), via])
    return web.Response(status=status, reason=reason or None, body=body, headers=out)


def refused(exc: aiohttp.ClientConnectorError) -> bool:
    """Whether connecting failed because nothing listens there (every address tried refused)."""
    error = exc.os_error
    if isinstance(error, ConnectionRefusedError) or error.errno == errno.ECONNREFUSED:
        return True
    # Several addresses tried at once (happy eyeballs): refused when every one of them was.
    causes = [cause for cause in getattr(error, "exceptions", ()) if isinstance(cause, OSError)]
    return bool(causes) and all(isinstance(cause, ConnectionRefusedError) or cause.errno == errno.ECONNREFUSED
                                for cause in causes)


__all__ = ["LEADER_PROXY", "LeaderProxy", "leader_proxy", "message"]
