"""Every route, from the published OpenAPI document and the router, against every kind of caller.

The routes are not listed here: they are read from ``GET /openapi.json`` and from the application's router
when the test runs, so a route another change adds is covered without anyone remembering to add it. Each is
sent with ids of tenant ``team-b`` (its app with a running task, a deployment that cannot finish, its job, its
secret), and a body that would change ``team-b`` where the route takes one:

- without credentials, with a wrong token, with a wrong Basic password: 401 with ``WWW-Authenticate``
  (except the UI's static files and signing out, which carry no data);
- as ``reader-b`` (read-only on ``/team-b/**``): every change is 403, every read of team-b's ids is allowed;
- as ``deployer-a`` (another tenant): everything that names a team-b id is 403; listings answer without any
  team-b id in the body;
- after every refused request, nothing changed (apps and versions, deployments, tasks, jobs, secrets).

Then the admin can do the reads (so the 403s are about the principal, not a broken route).
"""

from __future__ import annotations

import re
from typing import Any

from tests.polling import eventually
from tests.security.conftest import Secured

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^{}]*)?\}")
SIGN_OUT = ("DELETE", "/v2/session")
SIGN_IN = ("POST", "/v2/session")
STATIC_UI = {("GET", "/ui"), ("GET", "/ui/"), ("GET", "/ui/{name}"), ("GET", "/ui/api/session")}
"""The UI's files carry no data: the page must load before its user can sign in (and learn how to: its
session probe names nothing but the caller's own principal, none without credentials)."""

APP = {"cmd": "sleep 600", "cpus": 0.05, "mem": 16}
JOB_RUN = {"cmd": "true", "cpus": 0.05, "mem": 32, "disk": 0}


def body_for(method: str, path: str) -> Any:
    """A body that would change team-b, for the routes that take one (an empty object otherwise)."""
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/v2/apps"): {"id": "/team-b/new", **APP},
        ("PUT", "/v2/apps"): [{"id": "/team-b/web", "instances": 2}],
        ("PATCH", "/v2/apps"): [{"id": "/team-b/web", "instances": 2}],
        ("POST", "/v2/groups"): {"id": "/team-b/more", "apps": [{"id": "/team-b/more/x", **APP}]},
        ("PUT", "/v2/groups"): {"scaleBy": 2},
        ("POST", "/v1/jobs"): {"id": "team-b.other", "run": JOB_RUN},
        ("POST", "/v0/scheduled-jobs"): {"id": "team-b.sched", "run": JOB_RUN,
                                         "schedules": [{"id": "daily", "cron": "0 0 * * *"}]},
    }
    if (method, path) in bodies:
        return bodies[(method, path)]
    if path.startswith("/v2/apps/") and method in ("PUT", "PATCH"):
        return {"instances": 2}
    if path.startswith("/v2/groups/") and method in ("PUT", "POST"):
        return {"scaleBy": 2} if method == "PUT" else {"id": "/team-b/more", "apps": [{"id": "/team-b/more/x", **APP}]}
    if path.startswith("/v1/jobs/") and "schedules" in path:
        return {"id": "daily", "cron": "0 0 * * *"}
    if path.startswith("/v1/jobs/") or path.startswith("/v0/scheduled-jobs/"):
        return {"id": "team-b.nightly", "run": JOB_RUN}
    if path == "/v2/tasks/delete":
        return None  # filled with the task id by the caller
    if path.startswith("/v2/secrets/"):
        return {"value": "replaced"}
    return {} if method in ("POST", "PUT", "PATCH") else None


async def setup_team_b(s: Secured) -> dict[str, str]:
    for app_id in ("/team-a/web", "/team-b/web"):
        status, _, _ = await s.call("POST", "/v2/apps", "admin", {"id": app_id, **APP})
        assert status == 201
    status, _, headers = await s.call("POST", "/v2/apps", "admin", {"id": "/team-b/stuck", **APP, "cpus": 64})
    assert status == 201
    stuck_deployment = headers["Marathon-Deployment-Id"]
    for job in ("team-a.nightly", "team-b.nightly"):
        status, _, _ = await s.call("POST", "/v1/jobs", "admin", {"id": job, "run": JOB_RUN})
        assert status == 201, job
    status, _, _ = await s.call("PUT", "/v2/secrets/team-b/db", "admin", {"value": "team-b-value"})
    assert status == 201

    async def team_b_task() -> str | None:
        _, body, _ = await s.call("GET", "/v2/apps/team-b/web/tasks", "admin")
        running = [t for t in body["tasks"] if t.get("state") == "TASK_RUNNING"]
        return running[0]["id"] if running else None
    task = await eventually(team_b_task, timeout=60, what="team-b/web running")
    _, versions, _ = await s.call("GET", "/v2/apps/team-b/web/versions", "admin")
    return {"app_id": "team-b/web", "group_id": "team-b", "task_id": task, "deployment_id": stuck_deployment,
            "version": versions["versions"][0], "job_id": "team-b.nightly", "run_id": "no-such-run",
            "schedule_id": "daily", "name": "index.html", "secret_path": "team-b/db"}


def fingerprint(s: Secured) -> Any:
    runtime = s.runtime
    return (sorted((str(a), spec.version, spec.instances) for a, spec in runtime.state.apps.items()),
            sorted(runtime.state.deployments),
            sorted(str(i.task_id) for i in runtime.state.instances.values() if i.task_id is not None),
            sorted((str(j), repr(state.spec)) for j, state in runtime.jobs.jobs.items()),
            [p["path"] for p in runtime.secrets.paths()])


async def operations(s: Secured) -> list[tuple[str, str]]:
    """Every (method, path) of the OpenAPI document and of the router (HEAD aside)."""
    status, document, _ = await s.call("GET", "/openapi.json", "admin")
    assert status == 200
    found = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    for route in s.server.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if path and route.method not in ("HEAD", "*"):
            found.add((route.method, PLACEHOLDER.sub(lambda m: "{" + m.group(1) + "}", path)))
    return sorted(found)


def concrete(path: str, ids: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: ids.get(m.group(1), "x"), path)


async def test_every_route_refuses_who_does_not_belong(secured: Secured) -> None:
    s = secured
    ids = await setup_team_b(s)
    ops = await operations(s)
    assert len(ops) > 40 and ("GET", "/v2/apps/{app_id}") in ops
    before = fingerprint(s)
    wrong = {"none": {}, "wrong token": {"Authorization": "Bearer msp_0123456789abcdef_not-the-secret"},
             "wrong password": {"Authorization": "Basic b3BzOm5vdC1pdA=="},
             "token= wrong": {"Authorization": "token=msp_0123456789abcdef_nope"}}
    problems: list[str] = []

    async def send(method: str, path: str, who: str | None, headers: dict[str, str] | None = None) -> Any:
        body = body_for(method, path)
        if path == "/v2/tasks/delete":
            body = {"ids": [ids["task_id"]]}
        return await s.call(method, concrete(path, ids), who, body, headers)

    for method, path in ops:
        for label, headers in wrong.items():
            status, payload, response_headers = await send(method, path, None, headers)
            if (method, path) in STATIC_UI or (method, path) == SIGN_OUT:
                continue
            if status != 401 or "WWW-Authenticate" not in response_headers:
                problems.append(f"{label}: {method} {path} -> {status} {payload!r:.120}")
            if fingerprint(s) != before:
                problems.append(f"{label}: {method} {path} changed state")
                before = fingerprint(s)
        for who in ("reader-b", "deployer-a"):
            status, payload, _ = await send(method, path, who)
            has_ids = bool(PLACEHOLDER.search(path)) or method != "GET"
            if (method, path) in (SIGN_IN, SIGN_OUT) or (method, path) in STATIC_UI:
                continue
            if status == 401:
                problems.append(f"{who}: {method} {path} -> 401 with good credentials")
            elif who == "reader-b" and method != "GET" and status != 403:
                problems.append(f"{who} (read-only): {method} {path} -> {status}, expected 403")
            elif who == "reader-b" and method == "GET" and PLACEHOLDER.search(path) and status == 403:
                problems.append(f"{who}: {method} {path} -> 403 reading its own tenant")
            elif who == "deployer-a" and has_ids and status != 403:
                problems.append(f"{who} (other tenant): {method} {path} -> {status}, expected 403")
            elif who == "deployer-a" and not has_ids and status != 403 and "team-b" in str(payload):
                problems.append(f"{who}: {method} {path} answered team-b's ids: {str(payload)[:200]}")
            if status == 403 and payload != {"message": "Not Authorized to perform this action!"}:
                problems.append(f"{who}: {method} {path} -> 403 not in Marathon's shape: {payload!r}")
            if fingerprint(s) != before:
                problems.append(f"{who}: {method} {path} -> {status} changed state")
                before = fingerprint(s)
    assert not problems, "\n".join(problems)

    # The refusals are about the principals: the admin reads the same ids, and team-b's deployer changes them.
    for path in ("/v2/apps/team-b/web", "/v2/groups/team-b", f"/v2/deployments/{ids['deployment_id']}",
                 "/v1/jobs/team-b.nightly", "/v2/audit"):
        status, payload, _ = await s.call("GET", path, "admin")
        assert status == 200, (path, payload)
    status, _, _ = await s.call("PUT", "/v2/apps/team-b/web", "deployer-b", {"instances": 2})
    assert status == 200
    status, _, _ = await s.call("GET", "/v2/apps/team-b/web", "ops")  # --http-credentials: Basic
    assert status == 200
