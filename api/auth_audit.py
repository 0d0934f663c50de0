"""The audit log: every accepted change (who, what, when, from where, which deployment) as one JSON line.

Owns ``AuditLog`` (appends to ``--audit-log PATH`` and keeps the last ``RECENT`` records in memory),
``audit_middleware`` (records every request that is not a GET/HEAD and was answered below 400: an accepted
change; rejected requests change nothing and are not recorded) and ``GET /v2/audit`` (the recent records,
newest last; admins only, ``api.auth_routes``).

A record: ``{"time", "principal", "method", "path", "query", "status", "remote", "forwardedFor",
"deploymentId"}``; ``principal`` is ``anonymous`` when authentication is off. Bodies are never recorded (they
may hold secret values). The line is written and flushed before the response leaves: a crash loses no
accepted change. Fails: an unwritable log is logged and the record kept in memory (the change happened).
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

from aiohttp import web

from api.auth import principal_of

log = logging.getLogger(__name__)
RECENT = 1000


class AuditLog:
    def __init__(self, path: Path | None, clock: Callable[[], float] = time.time) -> None:
        self.path, self.clock = path, clock
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    def write(self, entry: dict[str, Any]) -> None:
        self.recent.append(entry)
        if self._file is None:
            return
        try:
            self._file.write(json.dumps(entry, separators=(",", ":")) + "\n")
            self._file.flush()
        except OSError as exc:
            log.error("audit log %s: cannot write: %s", self.path, exc)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


AUDIT = web.AppKey("audit", AuditLog)


def record(request: web.Request, response: web.StreamResponse) -> None:
    audit = request.app.get(AUDIT)
    if audit is None:
        return
    principal = principal_of(request)
    now = audit.clock()
    audit.write({"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z",
                 "principal": principal.name if principal is not None else "anonymous",
                 "method": request.method, "path": request.path, "query": request.query_string,
                 "status": response.status, "remote": request.remote or "",
                 "forwardedFor": request.headers.get("X-Forwarded-For", ""),
                 "deploymentId": response.headers.get("Marathon-Deployment-Id")})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def audit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if request.method not in ("GET", "HEAD", "OPTIONS") and response.status < 400:
        record(request, response)
    return response


async def audit_records(request: web.Request) -> web.Response:
    audit = request.app.get(AUDIT)
    return web.json_response({"records": list(audit.recent) if audit is not None else []})


def install(app: web.Application, path: Path | None) -> AuditLog:
    audit = AuditLog(path)
    app[AUDIT] = audit

    async def close(_: web.Application) -> None:
        audit.close()
    app.on_cleanup.append(close)
    return audit


def register(app: web.Application) -> None:
    app.router.add_get("/v2/audit", audit_records)


__all__ = ["AUDIT", "AuditLog", "audit_middleware", "install", "record", "register"]
