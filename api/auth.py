"""Who is calling, and whether they may: the authentication and authorisation middleware of the HTTP API.

Owns ``AuthConfig`` (what ``--http-credentials``, ``--auth-file``, ``--auth-exempt-*``, ``--rate-limit``,
``--audit-log`` configure), ``Authenticator`` (the principals of the file, re-read on ``reload()``, plus
the one Basic principal of ``--http-credentials``), the sessions of the UI (``Sessions``), the per-principal
rate limit and event-stream counts, and ``auth_middleware``, which for every request:

1. finds what the route touches (``api.auth_routes.AccessTable``, built from the OpenAPI route table, so a
   route nobody declared is admin-only rather than open);
2. authenticates it: ``Authorization: Basic`` (``--http-credentials``), ``Bearer TOKEN`` or ``token=TOKEN``
   (the released ``marathon`` client's ``auth_token``), or the UI's session cookie. None: 401 with
   ``WWW-Authenticate``; wrong: 401 ``{"message": "Invalid username or password."}``;
3. limits its rate (429 with ``Retry-After``);
4. authorises the ids the route touches (403 ``{"message": "Not Authorized to perform this action!"}``); the
   ids inside bodies are checked where the change is made (``api.auth_platform``), so a group body, a rollback
   or ``POST /v2/tasks/delete`` cannot reach around the path check;
5. filters what a listing answers to what the principal may read, silently;
(``api.auth_audit`` records every accepted change with the principal found here.)

A token costs one scrypt the first time it is seen (its id part selects the principal: 1,000 principals do
not cost 1,000 scrypts); verified tokens are then remembered by an HMAC of the token under a key drawn at
start (never the token itself), until the file is re-read.

``build_api_app`` without an ``AuthConfig`` installs none of this: the API is open, as before.
Fails: a principals file that does not parse at start raises ``ValueError``; on ``reload()`` the old
principals stay and the error is logged.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import json
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from mesospaas.tenancy import Principal, PrincipalsFile, Quota
from mesospaas.tenancy.grants import EVERYTHING, Grant, Role
from mesospaas.tenancy.principals import split_token

log = logging.getLogger(__name__)

REALM = "mesospaas"
SESSION_COOKIE = "mesospaas_session"
INVALID_CREDENTIALS = "Invalid username or password."
NOT_AUTHORIZED = "Not Authorized to perform this action!"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class AuthConfig:
    """How the API authenticates. ``enabled`` is False only when neither credentials nor a file is given."""

    credentials: tuple[str, str] | None = None
    auth_file: Path | None = None
    exempt_ping: bool = False
    exempt_metrics: bool = False
    rate_limit: float | None = None
    """Requests per second per principal (a burst of as many again); None: unlimited."""
    max_event_streams: int = 16
    """Concurrent ``/v2/events`` subscribers per principal."""
    audit_log: Path | None = None
    session_ttl: float = 12 * 3600.0
    clock: Callable[[], float] = time.monotonic
    secrets: Any = None
    """The ``scheduler.secrets.SecretStore`` behind ``/v2/secrets`` (None: no ``--secrets-key-file``)."""
    authenticator: Authenticator | None = None
    """The principals (and quotas) the API serves with: made by ``install`` or by ``current_quotas``, whichever
    comes first (the scheduler may tick before the API is up), and then shared."""

    @property
    def enabled(self) -> bool:
        return self.credentials is not None or self.auth_file is not None

    def current_quotas(self) -> Mapping[str, Quota]:
        """The tenants' quotas of the principals file, now (``{}`` without authentication): the jobs shell's
        ``quotas`` for the runs a schedule starts (``scheduler.jobs``). SIGHUP's re-read changes them."""
        if self.authenticator is None:
            if not self.enabled:
                return {}
            self.authenticator = Authenticator(self)
        return self.authenticator.quotas


def parse_credentials(text: str) -> tuple[str, str]:
    """``user:password`` (Marathon's ``--http_credentials``); ValueError for anything else."""
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ValueError("expected user:password")
    return user, password


class Authenticator:
    """The principals that may sign in, and the check of one ``Authorization`` header against them."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self._key = secrets.token_bytes(32)
        self._verified: dict[bytes, Principal] = {}
        self.file = PrincipalsFile()
        self._by_id: dict[str, Principal] = {}
        self._basic: Principal | None = None
        if config.credentials is not None:
            self._basic = Principal(config.credentials[0], (Grant(Role.ADMIN, EVERYTHING),))
        self.load()

    @property
    def quotas(self) -> Mapping[str, Quota]:
        return self.file.quotas

    def load(self) -> None:
        """Reads the principals file (raises ValueError / OSError); the old principals stay on failure."""
        if self.config.auth_file is None:
            return
        text = self.config.auth_file.read_text() if self.config.auth_file.exists() else ""
        parsed = PrincipalsFile.parse(text)
        self.file, self._by_id, self._verified = parsed, parsed.by_token_id(), {}
        log.info("auth: %d principals, %d quotas from %s", len(parsed.principals), len(parsed.quotas),
                 self.config.auth_file)

    def reload(self) -> bool:
        """Re-reads the file (SIGHUP); False (and the error logged) when it cannot be used."""
        try:
            self.load()
        except (OSError, ValueError) as exc:
            log.error("auth: keeping the previous principals: cannot use %s: %s", self.config.auth_file, exc)
            return False
        return True

    def token(self, token: str) -> Principal | None:
        """The principal of a bearer token, or None."""
        digest = hmac.new(self._key, token.encode(), hashlib.sha256).digest()
        known = self._verified.get(digest)
        if known is not None:
            return known
        parts = split_token(token)
        if parts is None:
            return None
        principal = self._by_id.get(parts[0])
        if principal is None or principal.token_hash is None or not principal.token_hash.verifies(parts[1]):
            return None
        if len(self._verified) > 100_000:
            self._verified.clear()
        self._verified[digest] = principal
        return principal

    def basic(self, user: str, password: str) -> Principal | None:
        if self._basic is None or self.config.credentials is None:
            return None
        want_user, want_password = self.config.credentials
        ok_user = hmac.compare_digest(user.encode(), want_user.encode())
        ok_password = hmac.compare_digest(password.encode(), want_password.encode())
        return self._basic if ok_user and ok_password else None

    def header(self, value: str) -> Principal | None:
        """The principal an ``Authorization`` header names, or None (wrong or unreadable credentials)."""
        scheme, _, rest = value.strip().partition(" ")
        lowered = scheme.lower()
        if lowered == "basic":
            try:
                user, sep, password = base64.b64decode(rest.strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            return self.basic(user, password) if sep else None
        if lowered == "bearer":
            return self.token(rest.strip())
        if lowered.startswith("token="):  # DC/OS and marathon-python's auth_token: "token=<TOKEN>"
            return self.token(value.strip()[len("token="):])
        return None

    def challenge(self) -> str:
        schemes = [f'Bearer realm="{REALM}"']
        if self.config.credentials is not None:
            schemes.insert(0, f'Basic realm="{REALM}"')
        return ", ".join(schemes)


class Sessions:
    """The UI's sign-ins: a random session id (the cookie) -> the principal's name, until it expires."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self.ttl, self.clock = ttl, clock
        self._sessions: dict[str, tuple[str, float]] = {}

    def open(self, principal: Principal) -> str:
        now = self.clock()
        self._sessions = {k: v for k, v in self._sessions.items() if v[1] > now}
        session = secrets.token_urlsafe(32)
        self._sessions[session] = (principal.name, now + self.ttl)
        return session

    def name(self, session: str) -> str | None:
        entry = self._sessions.get(session)
        if entry is None or entry[1] <= self.clock():
            return None
        return entry[0]

    def close(self, session: str) -> None:
        self._sessions.pop(session, None)


class RateLimiter:
    """A token bucket per principal: ``rate`` requests a second, a burst of ``rate`` more."""

    def __init__(self, rate: float, clock: Callable[[], float]) -> None:
        self.rate, self.clock = rate, clock
        self.capacity = max(1.0, rate)
        self._buckets: dict[str, tuple[float, float]] = {}

    def retry_after(self, name: str) -> int:
        """0 when the request may go now (and it is counted), else the seconds to wait."""
        now = self.clock()
        level, at = self._buckets.get(name, (self.capacity, now))
        level = min(self.capacity, level + (now - at) * self.rate)
        if level >= 1.0:
            self._buckets[name] = (level - 1.0, now)
            return 0
        self._buckets[name] = (level, now)
        return max(1, math.ceil((1.0 - level) / self.rate))


@dataclass
class AuthState:
    """What the middleware keeps for one application."""

    config: AuthConfig
    authenticator: Authenticator
    sessions: Sessions
    limiter: RateLimiter | None
    streams: dict[str, int] = field(default_factory=dict)

    def principal_named(self, name: str) -> Principal | None:
        if self.config.credentials is not None and name == self.config.credentials[0]:
            return self.authenticator._basic
        return next((p for p in self.authenticator.file.principals if p.name == name), None)


AUTH = web.AppKey("auth", AuthState)
PRINCIPAL = web.RequestKey("principal", Principal)
"""The request key of the authenticated ``Principal``."""
CURRENT_PRINCIPAL: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)
"""The principal of the request being handled (``api.auth_platform`` reads it where changes are made)."""
LISTING_VIEW: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("listing_view", default=None)
"""Set while a big listing (``/v2/apps``, ``/v2/tasks``) is rendered for a principal that does not see every
id: ``api.auth_platform`` then shows the route only that principal's apps, so 10,000 apps are not rendered and
parsed again to answer ten (the JSON filter still runs after it)."""


def principal_of(request: web.Request) -> Principal | None:
    return request.get(PRINCIPAL)


def message(status: int, text: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps({"message": text}).encode(), content_type="application/json",
                        headers=dict(headers or {}))


def forbidden() -> web.Response:
    return message(403, NOT_AUTHORIZED)


def challenge_headers(request: web.Request, state: AuthState) -> dict[str, str]:
    """The 401's ``WWW-Authenticate``. A page's own fetch (``X-Requested-With: XMLHttpRequest``, the UI's)
    gets the Bearer challenge alone, so the browser shows no login dialog of its own for Basic (the UI has
    its sign-in form; ``GET /ui/api/session`` tells it whether to offer user and password)."""
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return {"WWW-Authenticate": f'Bearer realm="{REALM}"'}
    return {"WWW-Authenticate": state.authenticator.challenge()}


def authenticate(request: web.Request, state: AuthState) -> tuple[Principal | None, bool]:
    """``(principal, credentials given)``."""
    header = request.headers.get("Authorization")
    if header:
        return state.authenticator.header(header), True
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        name = state.sessions.name(session)
        return (state.principal_named(name) if name else None), True
    return None, False


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    from api import auth_routes  # it imports this module

    state = request.app[AUTH]
    access = request.app[auth_routes.ACCESS_TABLE].find(request.method, request.path)
    if access.public(state.config):
        return await handler(request)
    principal, given = authenticate(request, state)
    if principal is None:
        text = INVALID_CREDENTIALS if given else "Authentication required"
        return message(401, text, challenge_headers(request, state))
    if state.limiter is not None:
        wait = state.limiter.retry_after(principal.name)
        if wait:
            return message(429, f"Too many requests from {principal.name}: at most "
                                f"{state.limiter.rate:g} a second", {"Retry-After": str(wait)})
    if not await access.allows(principal, request):
        log.info("forbidden: %s %s for %s", request.method, request.path, principal.name)
        return forbidden()
    request[PRINCIPAL] = principal
    token = CURRENT_PRINCIPAL.set(principal)
    view = LISTING_VIEW.set(principal if access.access.view and not principal.sees_everything else None)
    try:
        response = await handler(request)
    finally:
        LISTING_VIEW.reset(view)
        CURRENT_PRINCIPAL.reset(token)
    if access.listing is not None and isinstance(response, web.Response) and not principal.sees_everything:
        response = auth_routes.filtered(response, access.listing, principal, request)
    return response


def middlewares(config: AuthConfig | None) -> list[Any]:
    """The middlewares ``build_api_app`` puts after the error middleware: the audit log, then authentication."""
    from api.auth_audit import audit_middleware

    if config is None:
        return []
    out: list[Any] = [audit_middleware] if config.enabled or config.audit_log is not None else []
    if config.enabled:
        out.append(auth_middleware)
    return out


def guarded_platform(app: web.Application, platform: Any, config: AuthConfig | None) -> Any:
    """Installs the auth state and the audit log on ``app``; the platform the routes use (checked changes and
    quotas when authentication is on, ``platform`` itself otherwise)."""
    from api import auth_audit
    from api.auth_platform import GuardedPlatform

    if config is None:
        return platform
    if config.secrets is not None:
        from api.routes_secrets import SECRETS
        app[SECRETS] = config.secrets
    if config.enabled or config.audit_log is not None:
        auth_audit.install(app, config.audit_log)
    if not config.enabled:
        return platform
    state = install(app, config)
    return GuardedPlatform(platform, lambda: state.authenticator.quotas)


def _same(event: dict[str, Any]) -> dict[str, Any] | None:
    return event


def _nothing() -> None:
    return None


def event_stream(request: web.Request) -> tuple[Callable[[dict[str, Any]], dict[str, Any] | None] | None,
                                                Callable[[], None]]:
    """``(what this subscriber may receive of an event, release)`` for ``/v2/events``; ``(None, _)`` when the
    principal has ``max_event_streams`` streams open already."""
    from api.auth_routes import event_filter

    state = request.app.get(AUTH)
    principal = principal_of(request)
    if state is None or principal is None:
        return _same, _nothing
    name = principal.name
    if state.streams.get(name, 0) >= state.config.max_event_streams:
        return None, _nothing
    state.streams[name] = state.streams.get(name, 0) + 1

    def release() -> None:
        state.streams[name] -= 1
        if state.streams[name] <= 0:
            del state.streams[name]
    return event_filter(principal), release


def install(app: web.Application, config: AuthConfig) -> AuthState:
    """Keeps the auth state on ``app`` (the caller puts ``auth_middleware`` in the middleware list)."""
    from api import auth_routes

    if config.authenticator is None:
        config.authenticator = Authenticator(config)
    state = AuthState(config, config.authenticator, Sessions(config.session_ttl, config.clock),
                      RateLimiter(config.rate_limit, config.clock) if config.rate_limit else None)
    app[AUTH] = state
    auth_routes.install(app)
    return state


__all__ = ["AUTH", "AuthConfig", "event_stream", "guarded_platform", "middlewares", "AuthState", "Authenticator", "CURRENT_PRINCIPAL", "INVALID_CREDENTIALS",
           "NOT_AUTHORIZED", "PRINCIPAL", "REALM", "SESSION_COOKIE", "auth_middleware", "install",
           "parse_credentials", "principal_of"]
