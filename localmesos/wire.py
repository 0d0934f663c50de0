"""HTTP wire details shared by the localmesos master and agents: responses shaped like libprocess's.

Owns: plain-text and JSON responses with exactly the headers a real Mesos answers with (``Date`` first, no
``Server``), the chunked RecordIO event stream used by SUBSCRIBE (one record per chunk, no ``Connection``
header), request content-type checks with the real texts, and the JSON request body decoding whose error
text matches the real master's.

A ``RecordIOStream`` is fed from any coroutine with ``send``; the handler that owns the HTTP response drains
it, writes heartbeats on the stream-start clock (the stream's ``Clock``, see ``clock.py``), and ends the response with a clean zero-length chunk when
``close`` is called. If the client goes away the owner's ``on_lost`` callback runs once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Callable

from aiohttp import web
from multidict import CIMultiDict

from .clock import LOOP_CLOCK, Clock, Timer

log = logging.getLogger(__name__)

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
TEXT_UTF8 = "text/plain; charset=utf-8"


class _MesosHeaders:
    """Mixin: after aiohttp prepared its headers, drop ``Server`` and put ``Date`` first like libprocess.

    ``length_first``: the read-only GET endpoints (``/version``, ``/state``, ``/flags``...) answer
    ``Date, Content-Length, Content-Type``; everything else (operator API, error texts) answers
    ``Date, Content-Type, Content-Length`` (transcripts 10-19).
    """

    _drop_connection = False
    length_first = False

    def _reorder(self, headers: "CIMultiDict[str]") -> None:
        items = [(k, v) for k, v in headers.items() if k.lower() not in ("server", "date")]
        if self._drop_connection:
            items = [(k, v) for k, v in items if k.lower() != "connection"]
        date = headers.get("Date")
        headers.clear()
        if date is not None:
            headers["Date"] = date
        # libprocess writes Transfer-Encoding right after Date on streams.
        items.sort(key=lambda kv: kv[0].lower() != "transfer-encoding")
        if self.length_first:
            items.sort(key=lambda kv: kv[0].lower() != "content-length")
        for k, v in items:
            headers.add(k, v)


class MesosResponse(_MesosHeaders, web.Response):
    async def _prepare_headers(self) -> None:  # type: ignore[override]
        await super()._prepare_headers()  # type: ignore[misc]
        self._reorder(self._headers)


class MesosStreamResponse(_MesosHeaders, web.StreamResponse):
    _drop_connection = True

    async def _prepare_headers(self) -> None:  # type: ignore[override]
        await super()._prepare_headers()  # type: ignore[misc]
        self._reorder(self._headers)


def _patch_prepare_headers() -> None:
    """aiohttp versions differ in whether ``_prepare_headers`` is async; adapt the mixins once."""
    base = web.StreamResponse._prepare_headers  # type: ignore[attr-defined]
    if asyncio.iscoroutinefunction(base):
        return

    def sync_response(self: MesosResponse) -> None:
        base(self)
        self._reorder(self._headers)

    MesosResponse._prepare_headers = sync_response  # type: ignore[assignment,method-assign]
    MesosStreamResponse._prepare_headers = sync_response  # type: ignore[assignment,method-assign]


_patch_prepare_headers()


def text(status: int, body: str, headers: dict[str, str] | None = None) -> web.Response:
    """A libprocess plain-text answer (400s and the like)."""
    resp = MesosResponse(status=status, body=body.encode(errors="backslashreplace"), headers=headers)
    resp.headers["Content-Type"] = TEXT_UTF8
    return resp


def accepted() -> web.Response:
    """202 with ``Content-Length: 0`` and no Content-Type, as every accepted call gets."""
    return MesosResponse(status=202)


def empty(status: int = 200) -> web.Response:
    return MesosResponse(status=status)


def json_response(payload: Any, status: int = 200, request: web.Request | None = None, *,
                  length_first: bool = True) -> web.Response:
    """JSON answer of a read-only endpoint; honours ``?jsonp=`` like Mesos.

    ``length_first=False`` for the operator API, whose answers carry Content-Type before Content-Length.
    """
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    if request is not None and request.query.get("jsonp"):
        resp = MesosResponse(status=status, body=f"{request.query['jsonp']}({body});".encode(errors="backslashreplace"))
        resp.headers["Content-Type"] = "text/javascript"
    else:
        resp = MesosResponse(status=status, body=body.encode(errors="backslashreplace"))
        resp.headers["Content-Type"] = JSON
    resp.length_first = length_first
    return resp


@web.middleware
async def error_middleware(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    """libprocess-shaped answers for unrouted paths (``404 Not Found.``) and for handler bugs (500, logged).

    Whatever a client sends, a handler bug must not take the server down or leak aiohttp's own pages.
    """
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPNotFound:
        return text(404, "404 Not Found.")
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(f"'{m}'" for m in sorted(exc.allowed_methods - {"HEAD"}))
        return text(405, f"405 Method Not Allowed. Expecting one of {{ {allowed} }}, but received "
                         f"'{request.method}'.", headers={"Allow": ", ".join(sorted(exc.allowed_methods - {"HEAD"}))})
    except web.HTTPRequestEntityTooLarge:
        return text(413, "Request Entity Too Large")
    except web.HTTPException as exc:
        if exc.status >= 400:
            return text(exc.status, exc.text or exc.reason)
        raise
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:  # a bug: answer 500 like libprocess's InternalServerError, keep serving
        log.exception("handler for %s %s failed", request.method, request.path)
        return text(500, "Internal Server Error")


def method_not_allowed(request: web.Request, allowed: str = "POST") -> web.Response:
    return text(405, f"405 Method Not Allowed. Expecting one of {{ '{allowed}' }}, but received "
                     f"'{request.method}'.", headers={"Allow": allowed})


class BadRequest(Exception):
    """An expected client error: becomes an HTTP answer with the real master's status and text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> web.Response:
        return text(self.status, self.message)


async def read_call(request: web.Request, what: str) -> dict[str, Any]:
    """Checks Content-Type and decodes a JSON call body; ``what`` is e.g. ``scheduler::Call``."""
    ctype = request.headers.get("Content-Type")
    if ctype is None:
        raise BadRequest(400, "Expecting 'Content-Type' to be present")
    if ctype not in (JSON, PROTOBUF):
        raise BadRequest(415, f"Expecting 'Content-Type' of {JSON} or {PROTOBUF}")
    accept = request.headers.get("Accept")
    if accept and not _accepts_json(accept):
        raise BadRequest(406, f"Expecting 'Accept' to allow '{JSON}' or '{PROTOBUF}'")
    raw = await request.read()
    if ctype == PROTOBUF:
        protobuf_name = "Call" if what == "scheduler::Call" else "Call"
        raise BadRequest(400, f"Failed to parse body into {protobuf_name} protobuf")
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # bad UTF-8, bad JSON, NaN/Infinity, absurd nesting or digits
        raise BadRequest(400, _json_error_text(raw, exc)) from exc
    if not isinstance(body, dict):
        raise BadRequest(400, "Failed to convert JSON into Call protobuf: Expecting a JSON object")
    return body


def _reject_constant(name: str) -> Any:
    """picojson knows no ``NaN`` / ``Infinity`` literals: they are syntax errors, not numbers."""
    raise ValueError(f"{name} is not JSON")


def _accepts_json(accept: str) -> bool:
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in (JSON, PROTOBUF, "*/*", "application/*") or media.startswith("text/"):
            return True
    return False


def _json_error_text(raw: bytes, exc: Exception) -> str:
    """Mirrors picojson's message: ``syntax error at line 1 near: <rest of the input>``."""
    data = raw.decode("utf-8", errors="replace")
    if isinstance(exc, json.JSONDecodeError):
        pos = min(exc.pos + 1, len(data)) if exc.pos == 0 else exc.pos
        line = exc.lineno
    else:
        pos, line = 0, 1
    return f"Failed to parse body into JSON: syntax error at line {line} near: {data[pos:]}"


def record(event: dict[str, Any]) -> bytes:
    """One RecordIO record: decimal byte length, newline, compact JSON.

    Like stout's JSON writer: no spaces, ``/`` not escaped, non-ASCII text as raw UTF-8 (so the length, which
    counts bytes, differs from the character count), only control characters escaped."""
    payload = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode(errors="backslashreplace")
    return str(len(payload)).encode() + b"\n" + payload


HEARTBEAT = record({"type": "HEARTBEAT"})


class RecordIOStream:
    """An event stream to one subscriber, drained into a chunked HTTP response by ``serve``."""

    _CLOSE = object()
    _BEAT = object()
    _DROP = object()

    def __init__(self, stream_id: str, heartbeat_interval: float | None, clock: Clock = LOOP_CLOCK) -> None:
        self.stream_id = stream_id
        self.heartbeat_interval = heartbeat_interval
        self.clock = clock
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self.closed = False
        self.lost = False

    def send(self, event: dict[str, Any]) -> None:
        if not self.closed:
            self._queue.put_nowait(record(event))

    def send_raw(self, data: bytes) -> None:
        if not self.closed:
            self._queue.put_nowait(data)

    def close(self) -> None:
        """Ends the stream after what is queued, with a clean zero-length chunk."""
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(self._CLOSE)

    def drop(self) -> None:
        """The server process dies: the connection ends at once with a bare TCP EOF (no terminating chunk, no
        event first; transcript 94). ``on_lost`` still runs; the owner detaches first if it must not react."""
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(self._DROP)

    async def serve(self, request: web.Request, on_lost: Callable[[], None],
                    first: list[bytes] | None = None) -> web.StreamResponse:
        """Writes the stream until ``close`` (clean end) or until the client disconnects (``on_lost``)."""
        resp = MesosStreamResponse(status=200)
        resp.enable_chunked_encoding()
        if self.stream_id:
            resp.headers["Mesos-Stream-Id"] = self.stream_id
        resp.headers["Content-Type"] = JSON
        clean = False
        beat_timer: Timer | None = None

        def beat(k: int) -> None:
            """Heartbeat ``k`` is due: queue it and arm the next one, at ``start + (k + 1) * interval``."""
            nonlocal beat_timer
            self._queue.put_nowait(self._BEAT)
            beat_timer = arm(k + 1)

        def arm(k: int) -> Timer:
            assert self.heartbeat_interval
            due = start + k * self.heartbeat_interval
            return self.clock.call_later(max(0.0, due - self.clock.monotonic()), beat, k)

        try:
            await resp.prepare(request)
            for data in first or []:
                await resp.write(data)
            start = self.clock.monotonic()
            if self.heartbeat_interval:
                beat_timer = arm(1)
            while True:
                item = await self._queue.get()
                if item is self._BEAT:
                    await resp.write(HEARTBEAT)
                    continue
                if item is self._CLOSE:
                    await resp.write_eof()
                    clean = True
                    break
                if item is self._DROP:
                    if request.transport is not None:
                        request.transport.abort()
                    raise ConnectionResetError("the server went away")
                assert isinstance(item, bytes)
                await resp.write(item)
                if request.transport is None or request.transport.is_closing():
                    raise ConnectionResetError("subscriber went away")
        except (ConnectionResetError, asyncio.CancelledError, RuntimeError, OSError) as exc:
            log.debug("stream %s ended: %r", self.stream_id, exc)
            if not clean and not self.closed:
                self.lost = True
                self.closed = True
                on_lost()
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            if beat_timer is not None:
                beat_timer.cancel()
            if not clean and not self.lost and not self.closed:
                self.lost = True
                self.closed = True
                on_lost()
        return resp
