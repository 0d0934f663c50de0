"""What each route touches, declared once per OpenAPI operation, and the listing and event filters.

Owns ``DECLARATIONS`` (``(METHOD, OpenAPI path) -> Access``), ``AccessTable`` (matches a request to the
operations of ``api.routes_docs.ROUTES`` plus ``EXTRA_ROUTES``, most specific first), the listing filters
(``filtered``: apps, tasks, deployments, queue, groups, jobs, stats, secrets: what a principal may not read is
left out, silently) and ``event_filter`` (what one ``/v2/events`` subscriber may receive: events of apps it
may read, deployment plans pruned to those apps). Also the UI's sign-in: ``POST /v2/session`` (a token in,
a session cookie out: HttpOnly, SameSite=Strict) and ``DELETE /v2/session``.

Invariant: an operation of the route table with no declaration is admin-only (``ADMIN_ONLY``), so a route
added without thinking of tenants is closed, not open; ``tests/security`` lists those.

An id a route cannot resolve (an unknown task or deployment) is checked as the root ``/``: only a grant on
``/**`` covers it, so a 404 is not an oracle for other tenants' ids.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from api.auth import (AUTH, CURRENT_PRINCIPAL, INVALID_CREDENTIALS, NOT_AUTHORIZED, SESSION_COOKIE, AuthConfig,
                      challenge_headers, message, principal_of)
from mesospaas.tenancy import Action, Principal
from mesospaas.tenancy.grants import ROOT, job_tenant, normalise_id, overlaps

Params = Mapping[str, str]
IdsOf = Callable[[web.Request, Params], Awaitable[list[str]]]
Listing = Callable[[Any, Principal, web.Request], Any]


def _platform(request: web.Request) -> Any:
    from api.routes_apps import PLATFORM
    return request.app[PLATFORM]


# -- ids a route touches ------------------------------------------------------------------------------------
def path_id(name: str) -> IdsOf:
    async def ids(request: web.Request, params: Params) -> list[str]:
        value = params.get(name, "")
        return [normalise_id(value[:-2] if value.endswith("/*") else value)]
    return ids


def job_id(name: str = "job_id") -> IdsOf:
    async def ids(request: web.Request, params: Params) -> list[str]:
        return [job_tenant(params.get(name, ""))]
    return ids


async def body_job_id(request: web.Request, params: Params) -> list[str]:
    """A job body's ``id`` (``POST /v1/jobs``); an unreadable body is checked as the root."""
    try:
        body = json.loads(await request.read() or b"null")
    except (ValueError, UnicodeDecodeError):
        return [ROOT]
    found = body.get("id") if isinstance(body, dict) else None
    return [job_tenant(found)] if isinstance(found, str) and found else [ROOT]


def app_of_task(platform: Any, task_id: str) -> str | None:
    for instance in platform.state.instances.values():
        if instance.task_id is not None and str(instance.task_id) == task_id:
            return str(instance.app_id)
    return None


async def task_app(request: web.Request, params: Params) -> list[str]:
    found = app_of_task(_platform(request), params.get("task_id", ""))
    return [found or ROOT]


async def deployment_apps(request: web.Request, params: Params) -> list[str]:
    state = _platform(request).state
    wanted = params.get("deployment_id", "")
    running = state.deployments.get(wanted) or state.finished.get(wanted)
    if running is None:
        return [ROOT]
    return sorted(str(a) for a in running.plan.affected_apps) or [ROOT]


@dataclass(frozen=True)
class Access:
    """What one operation needs. ``ids``: the ids it touches, each checked for ``action``; without ids the
    operation is about the whole cluster: ``signed_in`` lets every principal through, otherwise ``action`` on
    ``/**`` is needed. ``overlap``: reading a group, a grant below the id is enough (the answer is pruned)."""

    action: Action = Action.ADMIN
    ids: IdsOf | None = None
    signed_in: bool = False
    listing: Listing | None = None
    overlap: bool = False
    exempt: Callable[[AuthConfig], bool] | None = None
    view: bool = False
    """A listing rendered from a per-principal view of the apps (``api.auth.LISTING_VIEW``)."""
    in_body: bool = False
    """The ids are in the body: any grant of ``action`` lets the request through to ``api.auth_platform``."""

    def public(self, config: AuthConfig) -> bool:
        return self.exempt is not None and self.exempt(config)

    async def allows(self, principal: Principal, request: web.Request, params: Params | None = None) -> bool:
        if self.signed_in:
            return True
        if self.ids is None:
            if self.listing is not None or self.in_body:
                return any(g.role >= self.action for g in principal.grants)
            return principal.may(self.action, ROOT)
        for target in await self.ids(request, params if params is not None else request.get(PARAMS, {})):
            if self.overlap:
                if not any(g.role >= self.action and overlaps(g.prefix, target) for g in principal.grants):
                    return False
            elif not principal.may(self.action, target):
                return False
        return True


PARAMS = web.RequestKey("auth_params", dict)
ADMIN_ONLY = Access(Action.ADMIN)
SIGNED_IN = Access(signed_in=True)
PUBLIC = Access(exempt=lambda config: True)


# -- listing filters ----------------------------------------------------------------------------------------
def _reads(principal: Principal, path: str) -> bool:
    return principal.may(Action.READ, path)


def apps_listing(payload: Any, principal: Principal, request: web.Request) -> Any:
    if isinstance(payload, dict) and isinstance(payload.get("apps"), list):
        return {**payload, "apps": [a for a in payload["apps"] if _reads(principal, str(a.get("id", "")))]}
    if isinstance(payload, dict) and isinstance(payload.get("*"), list):
        return {**payload, "*": [a for a in payload["*"] if _reads(principal, str(a.get("id", "")))]}
    return payload


def tasks_listing(payload: Any, principal: Principal, request: web.Request) -> Any:
    if isinstance(payload, dict) and isinstance(payload.get("tasks"), list):
        return {**payload, "tasks": [t for t in payload["tasks"] if _reads(principal, str(t.get("appId", "")))]}
    return payload


def tasks_text(text: str, principal: Principal) -> str:
    """``/v2/tasks`` as text: one line per task, the app id first."""
    return "".join(line for line in text.splitlines(keepends=True) if _reads(principal, line.split("\t", 1)[0]))


def prune_plan_steps(steps: Any, principal: Principal) -> Any:
    if not isinstance(steps, list):
        return steps
    return [{**s, "actions": [a for a in s.get("actions", []) if _reads(principal, str(a.get("app", "")))]}
            if isinstance(s, dict) else s for s in steps]


def deployments_listing(payload: Any, principal: Principal, request: web.Request) -> Any:
    if not isinstance(payload, list):
        return payload
    out = []
    for deployment in payload:
        affected = [a for a in deployment.get("affectedApps", []) if _reads(principal, str(a))]
        if not affected:
            continue
        pruned = {**deployment, "affectedApps": affected}
        for key in ("steps", "currentActions"):
            if key == "steps" and key in pruned:
                pruned[key] = prune_plan_steps(pruned[key], principal)
            elif key in pruned and isinstance(pruned[key], list):
                pruned[key] = [a for a in pruned[key] if _reads(principal, str(a.get("app", "")))]
        out.append(pruned)
    return out


def queue_listing(payload: Any, principal: Principal, request: web.Request) -> Any:
    if isinstance(payload, dict) and isinstance(payload.get("queue"), list):
        return {**payload, "queue": [q for q in payload["queue"]
                                     if _reads(principal, str((q.get("app") or q.get("pod") or {}).get("id", "")))]}
    return payload


def prune_group(group: Any, principal: Principal) -> Any | None:
    """The group tree as far as ``principal`` may read it (None: nothing of it)."""
    if not isinstance(group, dict):
        return group
    gid = str(group.get("id", ROOT))
    if _reads(principal, gid):
        return group
    if not any(overlaps(g.prefix, gid) for g in principal.grants):
        return None
    out = dict(group)
    if isinstance(group.get("apps"), list):
        out["apps"] = [a for a in group["apps"] if _reads(principal, str(a.get("id", "")))]
    if isinstance(group.get("groups"), list):
        out["groups"] = [p for p in (prune_group(g, principal) for g in group["groups"]) if p is not None]
    if isinstance(group.get("pods"), list):
        out["pods"] = [p for p in group["pods"] if _reads(principal, str(p.get("id", "")))]
    return out


def groups_listing(payload: Any, principal: Principal, request: web.Request) -> Any:
    pruned = prune_group(payload, principal)
    return pruned if pruned is not None else {**payload, "apps": [], "groups": []}


def jobs_listing(payload: Any, principal: Principal, request: web.Request) -> Any:
    if not isinstance(payload, list):
        return payload
    return [j for j in payload if _reads(principal, job_tenant(str(j.get("id") or j.get("jobId") or "")))]


def stats_listing(payload: Any, principal: Principal, request: web.Request) -> Any:
    if isinstance(payload, dict) and isinstance(payload.get("stats"), list):
        platform = _platform(request)
        return {**payload, "stats": [s for s in payload["stats"]
                                     if _reads(principal, app_of_task(platform, str(s.get("taskId"))) or ROOT)]}
    return payload


def secrets_listing(payload: Any, principal: Principal, request: web.Request) -> Any:
    if isinstance(payload, dict) and isinstance(payload.get("secrets"), list):
        return {**payload, "secrets": [s for s in payload["secrets"] if _reads(principal, str(s.get("path", "")))]}
    return payload


class FilteredBodies:
    """Filtered listings by (principal, unfiltered body): the routes reuse one rendered body while the state
    holds (``api.routes_apps.ResponseCache``), so a tenant polling a big listing pays the parse once per change.
    Bounded; bytes cache their own hash, so a lookup costs no pass over a body seen before."""

    def __init__(self, limit: int = 256) -> None:
        self.limit = limit
        self.entries: dict[tuple[str, int, int, int], bytes] = {}

    def get(self, key: tuple[str, int, int, int]) -> bytes | None:
        return self.entries.get(key)

    def put(self, key: tuple[str, int, int, int], body: bytes) -> None:
        if len(self.entries) >= self.limit:
            self.entries.pop(next(iter(self.entries)))
        self.entries[key] = body


FILTERED = web.AppKey("filtered_bodies", FilteredBodies)


def filtered(response: web.Response, listing: Listing, principal: Principal,
             request: web.Request) -> web.Response:
    """The response with only what ``principal`` may read (JSON bodies, and ``/v2/tasks`` as text)."""
    if response.status >= 400 or response.body is None:
        return response
    raw = response.body if isinstance(response.body, bytes) else bytes(response.body._value)  # type: ignore[union-attr]
    content_type = response.content_type
    memo = request.app.get(FILTERED)
    key = (principal.name, id(listing), hash(raw), len(raw))
    body = memo.get(key) if memo is not None else None
    if body is not None:
        pass
    elif content_type == "text/plain" and listing is tasks_listing:
        body = tasks_text(raw.decode(), principal).encode()
    elif content_type == "application/json":
        try:
            payload = json.loads(raw)
        except ValueError:
            return response
        body = json.dumps(listing(payload, principal, request), separators=(",", ":")).encode()
    else:
        return response
    if memo is not None and listing is not stats_listing:  # stats depend on more than the body
        memo.put(key, body)
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
    return web.Response(status=response.status, body=body, content_type=content_type, headers=headers)


# -- the event stream ---------------------------------------------------------------------------------------
GLOBAL_EVENTS = frozenset({"event_stream_attached", "event_stream_detached", "scheduler_registered_event",
                           "scheduler_reregistered_event", "scheduler_disconnected_event", "subscribe_event",
                           "unsubscribe_event"})
"""Events about the platform itself, carrying no app: every subscriber gets them."""


def _event_ids(event: Mapping[str, Any]) -> list[str]:
    ids = [str(event[k]) for k in ("appId", "runSpecId") if event.get(k)]
    if event.get("jobId"):
        ids.append(job_tenant(str(event["jobId"])))
    definition = event.get("appDefinition")
    if isinstance(definition, dict) and definition.get("id"):
        ids.append(str(definition["id"]))
    return ids


def prune_plan(plan: Any, principal: Principal) -> Any:
    if not isinstance(plan, dict):
        return plan
    out = dict(plan)
    if "steps" in out:
        out["steps"] = prune_plan_steps(out["steps"], principal)
    for key in ("original", "target"):
        if key in out:
            out[key] = groups_listing(out[key], principal, None)  # type: ignore[arg-type]
    return out


def _plan_apps(plan: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(plan, dict):
        for step in plan.get("steps") or []:
            found.update(str(a.get("app", "")) for a in (step.get("actions") or []) if isinstance(a, dict))
    return found


def event_filter(principal: Principal) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """What ``principal`` receives of each event (None: nothing)."""
    def keep(event: dict[str, Any]) -> dict[str, Any] | None:
        if principal.sees_everything and all(_reads(principal, i) for i in _event_ids(event) or [ROOT]):
            return event
        event_type = str(event.get("eventType"))
        if event_type in GLOBAL_EVENTS:
            return event
        if "plan" in event:
            touched = _plan_apps(event["plan"])
            if not any(_reads(principal, a) for a in touched):
                return None
            out = {**event, "plan": prune_plan(event["plan"], principal)}
            if isinstance(out.get("currentStep"), dict):
                out["currentStep"] = prune_plan_steps([out["currentStep"]], principal)[0]
            return out
        if event_type in ("group_change_success", "group_change_failed"):
            gid = str(event.get("groupId", ROOT))
            return event if gid == ROOT or any(overlaps(g.prefix, gid) for g in principal.grants) else None
        ids = _event_ids(event)
        return event if ids and all(_reads(principal, i) for i in ids) else None
    return keep


# -- the UI's session ---------------------------------------------------------------------------------------
async def open_session(request: web.Request) -> web.Response:
    """``POST /v2/session`` ``{"token": "..."}``, ``{"username": "...", "password": "..."}`` (the Basic user of
    ``--http-credentials``) or an ``Authorization`` header: sets the session cookie."""
    state = request.app.get(AUTH)
    if state is None:
        return message(404, "Authentication is off on this instance: there is nothing to sign in to")
    body: Any = None
    try:
        body = json.loads(await request.read() or b"{}")
    except (ValueError, UnicodeDecodeError):
        pass
    body = body if isinstance(body, dict) else {}
    token, user, password = body.get("token"), body.get("username"), body.get("password")
    header = request.headers.get("Authorization")
    principal = principal_of(request) or (state.authenticator.header(header) if header else None)
    if isinstance(token, str) and token:
        principal = state.authenticator.header(f"Bearer {token}")
    elif isinstance(user, str) and user and isinstance(password, str):
        principal = state.authenticator.basic(user, password)
    if principal is None:
        return message(401, "Invalid token." if token or not user else INVALID_CREDENTIALS,
                       challenge_headers(request, state))
    session = state.sessions.open(principal)
    response = web.json_response({"principal": principal.name, "grants": [str(g) for g in principal.grants]})
    response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="Strict", path="/",
                        secure=request.secure, max_age=int(state.config.session_ttl))
    return response


async def close_session(request: web.Request) -> web.Response:
    session = request.cookies.get(SESSION_COOKIE)
    state = request.app.get(AUTH)
    if session and state is not None:
        state.sessions.close(session)
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def whoami(request: web.Request) -> web.Response:
    principal = principal_of(request)
    if principal is None:
        return message(404, "Authentication is off on this instance: nobody is signed in")
    return web.json_response({"principal": principal.name, "grants": [str(g) for g in principal.grants]})


# -- the declarations ---------------------------------------------------------------------------------------
APP = path_id("app_id")
GROUP = path_id("group_id")
SECRET = path_id("secret_path")
BODY = Access(Action.DEPLOY, in_body=True)


def _read(ids: IdsOf, **kw: Any) -> Access:
    return Access(Action.READ, ids, **kw)


def _deploy(ids: IdsOf, **kw: Any) -> Access:
    return Access(Action.DEPLOY, ids, **kw)


def _listing(listing: Listing) -> Access:
    return Access(Action.READ, listing=listing)


DECLARATIONS: dict[tuple[str, str], Access] = {
    ("GET", "/ping"): Access(exempt=lambda c: c.exempt_ping, signed_in=True),
    ("GET", "/metrics"): Access(Action.READ, exempt=lambda c: c.exempt_metrics),
    ("GET", "/metrics/prometheus"): Access(Action.READ, exempt=lambda c: c.exempt_metrics),
    ("GET", "/v2/info"): SIGNED_IN,
    ("GET", "/v2/leader"): SIGNED_IN,
    ("DELETE", "/v2/leader"): ADMIN_ONLY,
    ("GET", "/v2/events"): SIGNED_IN,
    ("GET", "/openapi.json"): SIGNED_IN,
    ("GET", "/openapi"): SIGNED_IN,
    ("POST", "/v2/session"): PUBLIC,
    ("DELETE", "/v2/session"): PUBLIC,
    ("GET", "/v2/session"): SIGNED_IN,
    # apps (bodies: api.auth_platform checks every app a change touches)
    ("GET", "/v2/apps"): Access(Action.READ, listing=apps_listing, view=True),
    ("POST", "/v2/apps"): BODY,
    ("PUT", "/v2/apps"): BODY,
    ("PATCH", "/v2/apps"): BODY,
    ("GET", "/v2/apps/{app_id:.+}"): _read(APP, listing=apps_listing),
    ("PUT", "/v2/apps/{app_id:.+}"): _deploy(APP),
    ("PATCH", "/v2/apps/{app_id:.+}"): _deploy(APP),
    ("DELETE", "/v2/apps/{app_id:.+}"): _deploy(APP),
    ("POST", "/v2/apps/{app_id:.+}/restart"): _deploy(APP),
    ("GET", "/v2/apps/{app_id:.+}/versions"): _read(APP),
    ("GET", "/v2/apps/{app_id:.+}/versions/{version}"): _read(APP),
    ("GET", "/v2/apps/{app_id:.+}/tasks"): _read(APP),
    ("DELETE", "/v2/apps/{app_id:.+}/tasks"): _deploy(APP),
    ("DELETE", "/v2/apps/{app_id:.+}/tasks/{task_id}"): _deploy(APP),
    # tasks
    ("GET", "/v2/tasks"): Access(Action.READ, listing=tasks_listing, view=True),
    ("POST", "/v2/tasks/delete"): BODY,
    ("GET", "/v2/tasks/stats"): _listing(stats_listing),
    ("GET", "/v2/tasks/{task_id}/logs"): _read(task_app),
    ("GET", "/v2/tasks/{task_id}/logs/files"): _read(task_app),
    ("GET", "/v2/tasks/{task_id}/stats"): _read(task_app),
    # deployments and queue
    ("GET", "/v2/deployments"): _listing(deployments_listing),
    ("GET", "/v2/deployments/{deployment_id}"): _read(deployment_apps),
    ("POST", "/v2/deployments/{deployment_id}/continue"): _deploy(deployment_apps),
    ("DELETE", "/v2/deployments/{deployment_id}"): _deploy(deployment_apps),
    ("GET", "/v2/queue"): _listing(queue_listing),
    ("DELETE", "/v2/queue/{app_id:.+}/delay"): _deploy(APP),
    # groups
    ("GET", "/v2/groups"): _listing(groups_listing),
    ("GET", "/v2/groups/{group_id:.+}"): _read(GROUP, listing=groups_listing, overlap=True),
    ("GET", "/v2/groups/{group_id:.+}/versions"): _read(GROUP),
    ("GET", "/v2/groups/{group_id:.+}/versions/{version}"): _read(GROUP),
    ("POST", "/v2/groups"): BODY,
    ("PUT", "/v2/groups"): BODY,
    ("DELETE", "/v2/groups"): ADMIN_ONLY,
    ("POST", "/v2/groups/{group_id:.+}"): _deploy(GROUP),
    ("PUT", "/v2/groups/{group_id:.+}"): _deploy(GROUP),
    ("DELETE", "/v2/groups/{group_id:.+}"): _deploy(GROUP),
    # jobs (a job id's first dotted segment is its tenant)
    ("GET", "/v1/jobs"): _listing(jobs_listing),
    ("POST", "/v1/jobs"): _deploy(body_job_id),
    ("GET", "/v1/jobs/{job_id}"): _read(job_id()),
    ("PUT", "/v1/jobs/{job_id}"): _deploy(job_id()),
    ("DELETE", "/v1/jobs/{job_id}"): _deploy(job_id()),
    ("GET", "/v1/jobs/{job_id}/runs"): _read(job_id()),
    ("POST", "/v1/jobs/{job_id}/runs"): _deploy(job_id()),
    ("GET", "/v1/jobs/{job_id}/runs/{run_id}"): _read(job_id()),
    ("POST", "/v1/jobs/{job_id}/runs/{run_id}/actions/stop"): _deploy(job_id()),
    ("GET", "/v1/jobs/{job_id}/runs/{run_id}/files/{name}"): _read(job_id()),
    ("GET", "/v1/jobs/{job_id}/schedules"): _read(job_id()),
    ("POST", "/v1/jobs/{job_id}/schedules"): _deploy(job_id()),
    ("GET", "/v1/jobs/{job_id}/schedules/{schedule_id}"): _read(job_id()),
    ("PUT", "/v1/jobs/{job_id}/schedules/{schedule_id}"): _deploy(job_id()),
    ("DELETE", "/v1/jobs/{job_id}/schedules/{schedule_id}"): _deploy(job_id()),
    ("GET", "/v1/queue"): _listing(jobs_listing),
    ("POST", "/v0/scheduled-jobs"): _deploy(body_job_id),
    ("PUT", "/v0/scheduled-jobs/{job_id}"): _deploy(job_id()),
    # secrets (api.routes_secrets) and the audit log (api.auth_audit)
    ("GET", "/v2/secrets"): _listing(secrets_listing),
    ("PUT", "/v2/secrets/{secret_path:.+}"): _deploy(SECRET),
    ("DELETE", "/v2/secrets/{secret_path:.+}"): _deploy(SECRET),
    ("GET", "/v2/audit"): ADMIN_ONLY,
    # the web UI: its files carry no data (the page signs in through /v2/session); its API reads the cluster
    ("GET", "/ui"): PUBLIC,
    ("GET", "/ui/"): PUBLIC,  # the page itself: it shows its sign-in form
    ("GET", "/ui/{name}"): PUBLIC,
    ("GET", "/ui/api/session"): PUBLIC,  # whether to sign in, and how; names only the caller's own principal
    ("GET", "/ui/api/cluster"): SIGNED_IN,
}
"""Every operation's needs. Listings answer every principal with a grant, filtered."""

EXTRA_ROUTES: tuple[tuple[str, str], ...] = (("GET", "/metrics"), ("GET", "/metrics/prometheus"))
"""Operations the route table may not list (another process's, or not part of the API document)."""


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}]*))?\}")


def _compile(path: str) -> re.Pattern[str]:
    out, last = [], 0
    for match in _PLACEHOLDER.finditer(path):
        out.append(re.escape(path[last:match.start()]))
        out.append(f"(?P<{match.group(1)}>{match.group(2) or '[^/]+'})")
        last = match.end()
    out.append(re.escape(path[last:]))
    return re.compile("".join(out) + r"\Z")


@dataclass(frozen=True)
class Match:
    access: Access
    params: Mapping[str, str]
    operation: tuple[str, str] | None

    def public(self, config: AuthConfig) -> bool:
        return self.access.public(config)

    @property
    def listing(self) -> Listing | None:
        return self.access.listing

    async def allows(self, principal: Principal, request: web.Request) -> bool:
        request[PARAMS] = dict(self.params)
        return await self.access.allows(principal, request, self.params)


class AccessTable:
    """Finds the declared ``Access`` of a request: the most specific operation whose path matches.

    ``operations``: ``(method, OpenAPI path)``; ``patterns``: the router's own compiled path patterns for
    operations the document does not list (matched after the document's)."""

    def __init__(self, operations: Iterable[tuple[str, str]] = (),
                 patterns: Mapping[tuple[str, str], re.Pattern[str]] | None = None) -> None:
        self.load(operations, patterns)

    def load(self, operations: Iterable[tuple[str, str]],
             patterns: Mapping[tuple[str, str], re.Pattern[str]] | None = None) -> None:
        unique = dict.fromkeys(operations)
        documented = {(m, _PLACEHOLDER.sub(lambda x: "{" + x.group(1) + "}", p)) for m, p in unique}
        extra = {op: pattern for op, pattern in (patterns or {}).items() if op not in documented}
        literal = {op: len(_PLACEHOLDER.sub("", op[1])) for op in [*unique, *extra]}
        self.operations = sorted([*unique, *extra], key=lambda op: (-literal[op], op))
        self._patterns = {**{op: _compile(op[1]) for op in unique}, **extra}
        self.undeclared = [op for op in self.operations if self._declaration(op) is None]

    @staticmethod
    def _declaration(op: tuple[str, str]) -> Access | None:
        found = DECLARATIONS.get(op)
        if found is None:  # the router's spelling: {name} without the regex
            plain = {(m, _PLACEHOLDER.sub(lambda x: "{" + x.group(1) + "}", p)): a for (m, p), a in DECLARATIONS.items()}
            found = plain.get(op)
        return found

    def find(self, method: str, path: str) -> Match:
        wanted = "GET" if method == "HEAD" else method
        for op in self.operations:
            if op[0] != wanted:
                continue
            found = self._patterns[op].match(path)
            if found is not None:
                return Match(self._declaration(op) or ADMIN_ONLY, found.groupdict(), op)
        return Match(ADMIN_ONLY, {}, None)


ACCESS_TABLE = web.AppKey("access_table", AccessTable)


def router_patterns(app: web.Application) -> dict[tuple[str, str], re.Pattern[str]]:
    """``(method, path)`` -> the router's compiled pattern, for every route with one method."""
    out: dict[tuple[str, str], re.Pattern[str]] = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        if route.method in ("HEAD", "*"):
            continue
        if "path" in info:
            out[(route.method, info["path"])] = re.compile(re.escape(info["path"]) + r"\Z")
        elif "formatter" in info and "pattern" in info:
            out[(route.method, info["formatter"])] = info["pattern"]
    return out


def install(app: web.Application) -> None:
    """The access table, built once every route is registered (at startup)."""
    from api.routes_docs import ROUTES

    table = AccessTable([*((r.method, r.path) for r in ROUTES), *EXTRA_ROUTES])
    app[ACCESS_TABLE] = table
    app[FILTERED] = FilteredBodies()

    async def build(app_: web.Application) -> None:
        table.load([*((r.method, r.path) for r in ROUTES), *EXTRA_ROUTES], router_patterns(app_))
    app.on_startup.append(build)


def register(app: web.Application) -> None:
    """The session routes (always there; without authentication they answer 404); with authentication, the
    response cache that keeps tenant views apart (``api.auth_platform.ScopedResponses``)."""
    from api.auth_platform import ScopedResponses
    from api.routes_apps import RESPONSES

    if AUTH in app and RESPONSES in app:
        app[RESPONSES] = ScopedResponses()
    app.router.add_post("/v2/session", open_session)
    app.router.add_delete("/v2/session", close_session)
    app.router.add_get("/v2/session", whoami)


__all__ = ["ACCESS_TABLE", "ADMIN_ONLY", "DECLARATIONS", "Access", "AccessTable", "CURRENT_PRINCIPAL",
           "NOT_AUTHORIZED", "event_filter", "filtered", "install"]
