"""``GET /openapi.json`` and ``GET /openapi``: the OpenAPI 3.0 document of the whole HTTP API, and its HTML page.

Owns ``ROUTES``, the table of every operation the API serves: the small routes of ``api.app``, the apps, tasks,
deployments and queue routes of ``api.routes_apps``, the ``/v2/groups`` routes of ``api.routes_groups``
(reference §1.2, less ``PATCH /v2/groups/{id}``, which mesospaas answers 405) and these two; and
``api_document()``, which turns the table into the document with ``api.openapi.openapi_document``. Bodies and
responses are the marshmallow schemas of ``api.schemas`` (the ones that validate requests and describe
responses), so the document cannot drift from what the API checks.

Invariants: every route the router holds has an entry here (``tests/integration/test_api_fuzz.py`` compares the
table with the router, then fuzzes every operation against the document); the document validates against the
OpenAPI 3.0 meta-schema. ``RouteSpec`` holds one response schema per operation, so the few Marathon responses
that take one of two shapes (a kill answers with the killed tasks, or with a DeploymentResult when
``scale=true``), the bare array of group versions and the dry-run plan are filled in afterwards
(``_RESPONSE_OVERRIDES``). Every operation also lists the answers a standby gives for the leader (``_STANDBY_ERRORS``: 502, 504;
``api.leader_proxy``), which a single instance never gives.

The document and the page are built once per application, when the routes are registered. Nothing here
fails at request time.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from aiohttp import web
from marshmallow import fields

from api.auth_docs import SECURITY_ROUTES
from api.openapi import QueryParam, RouteSpec, json_schema, openapi_document, render_html
from api.routes_jobs import JOB_ROUTES
from api.routes_metrics import METRICS_ROUTES
from api.routes_ui import UI_ROUTES
from api.schemas import AppSchema, GroupSchema
from api.schemas.app import StrictSchema, meta
from api.schemas.fields import JsonBoolean, JsonList, JsonNested, JsonString
from api.schemas.responses import (
    AppInfoSchema,
    AppListResponseSchema,
    AppResponseSchema,
    DeploymentDetailSchema,
    DeploymentInfoSchema,
    DeploymentResultSchema,
    DeploymentStepSchema,
    LeaderResponseSchema,
    MessageSchema,
    QueueResponseSchema,
    TaskIdsSchema,
    TaskListResponseSchema,
    TaskResponseSchema,
    VersionListResponseSchema,
)

TITLE = "mesospaas: Marathon v2 compatible API"
DESCRIPTION = (
    "Marathon REST API v2 as served by mesospaas. JSON in and out; timestamps are ISO-8601 UTC ending in Z; "
    "query booleans are case-insensitive. State-changing calls answer a DeploymentResult (creating an app: "
    "the app) and the Marathon-Deployment-Id header. Errors are Marathon's bodies: {\"message\": ...}, and "
    "for invalid definitions 422 \"Invalid JSON\" (wrong JSON types) / \"Object is not valid\" with details [{\"path\", \"errors\"}]. "
    "App and group ids are paths: /v2/apps/shop/web addresses the app /shop/web."
)


# -- schemas only this document needs (responses ``api.schemas`` has no class for) ---------------------------
class MarathonInfoSchema(StrictSchema):
    """``GET /v2/info``: who is serving, and its configuration (snake_case keys inside the config objects)."""

    name = JsonString(metadata=meta("Server name."))
    version = JsonString(metadata=meta("The Marathon API version spoken."))
    buildref = JsonString()
    elected = JsonBoolean(metadata=meta("Whether this instance is the leader."))
    leader = JsonString(metadata=meta("host:port of the leader."))
    frameworkId = fields.Raw(metadata=meta("Mesos framework id; null before the first registration."))
    marathon_config = fields.Dict(metadata=meta("master, framework_name, hostname, mesos_role, ..."))
    zookeeper_config = fields.Dict()
    http_config = fields.Dict(metadata=meta("http_port."))
    event_subscriber = fields.Raw(metadata=meta("Always null (HTTP callback subscriptions are not offered)."))


class GroupDryRunSchema(StrictSchema):
    """``PUT /v2/groups?dryRun=true``: the plan that would run; nothing is deployed."""

    steps = JsonList(JsonNested(DeploymentStepSchema))


# -- the route table ------------------------------------------------------------------------------------------
def _flag(name: str, description: str, default: bool = False) -> QueryParam:
    return QueryParam(name, "boolean", description=description, default=default)


FORCE = _flag("force", "Override the lock of running deployments (409 otherwise).")
FORCE_DELETE = _flag("force", "Override the lock of running deployments; defaults to true here.", True)
PARTIAL_UPDATE = _flag("partialUpdate", "true: the named fields replace the current ones; false: the body is the "
                       "whole new definition.", True)
SCALE = _flag("scale", "Scale the app down by the tasks killed (answers a DeploymentResult).")
WIPE = _flag("wipe", "Also forget the instances (resident apps); not with scale.")
APP_EMBED = QueryParam("embed", repeated=True, description=(
    "app.tasks, app.counts, app.deployments, app.readiness, app.lastTaskFailure, app.failures, app.taskStats, "
    "app.extensions (mesospaas: also show our extension fields affinity, placementStrategy and "
    "upgradeStrategy.progressDeadlineSeconds/autoRollback/canary, which Marathon clients would reject) "
    "(prefixes app., apps., group.apps. or none; unknown values are ignored)."))
TASK_EMBED = QueryParam("embed", repeated=True, description=(
    "tasks.stats (mesospaas, opt-in): each task also gets \"stats\", the latest usage its mesospaas executor "
    "reported (CPU seconds and share, RSS, threads), or null."))
GROUP_EMBED = QueryParam("embed", repeated=True, description=(
    "group.groups, group.apps, group.pods, group.apps.tasks, group.apps.counts, group.apps.deployments, ..."))
APP_ID = {"app_id": "App path without the leading slash (shop/web); it may contain slashes."}
GROUP_ID = {"group_id": "Group path without the leading slash; it may contain slashes."}
TASK_ID = {"task_id": "Task id."}

INVALID = (400, 413, 422)
"""Every route taking a body: unparseable JSON (400), too large (413), ill-typed or not valid (422)."""

TASKS_AS_TEXT = ("With Accept: text/plain, Marathon's list: one line per app and service port, "
                 "`app_id<TAB>servicePort<TAB>host:port<TAB>...` (running tasks).")
ROUTES: tuple[RouteSpec, ...] = (
    # api.app
    RouteSpec("GET", "/ping", "Liveness: pong (text/plain, or \"pong\" when only JSON is accepted)",
              status_codes=(200, 204), tags=("server",), response_content_type="text/plain"),
    RouteSpec("GET", "/v2/info", "Server info and configuration", response=MarathonInfoSchema, tags=("server",)),
    RouteSpec("GET", "/v2/leader", "The current leader", response=LeaderResponseSchema, status_codes=(200, 404),
              tags=("server",)),
    RouteSpec("DELETE", "/v2/leader", "Make the leader give up leadership (HA only)", response=MessageSchema,
              status_codes=(200, 400, 404), tags=("server",),
              description="200 {\"message\": \"Leadership abdicated\"}, then the leader abdicates and another "
                          "instance is elected. 404 on an instance without high availability (no --zk): nothing "
                          "happens. 400 for backup= or restore=, which are not supported."),
    RouteSpec("GET", "/v2/events", "Server-Sent Events (needs Accept: text/event-stream)",
              status_codes=(200, 302, 405), tags=("events",), response_content_type="text/event-stream",
              query=(QueryParam("event_type", repeated=True, description="Only these event types."),
                     QueryParam("plan-format", description="Ignored: light is the only plan format.")),
              description="CRLF frames; event_stream_attached first; a keep-alive every 10 s. A standby answers "
                          "302 with the leader's URL in Location."),
    # api.routes_apps: apps
    RouteSpec("GET", "/v2/apps", "List apps (counts and deployments always embedded)", response=AppListResponseSchema,
              status_codes=(200, 400), tags=("apps",),
              query=(QueryParam("cmd", description="Case-insensitive substring of cmd."),
                     QueryParam("id", description="Case-insensitive substring of the id."),
                     QueryParam("label", description="Label selector: key, key==v, key!=v, key in (a,b), "
                                                     "key notin (a,b); comma-separated, ANDed."),
                     APP_EMBED)),
    RouteSpec("POST", "/v2/apps", "Create an app", request=AppSchema, response=AppInfoSchema,
              status_codes=(201, *INVALID, 409), tags=("apps",), query=(FORCE,),
              description="201 with the app, Location and Marathon-Deployment-Id; 409 when it exists."),
    RouteSpec("PUT", "/v2/apps", "Create or update many apps", request=AppSchema(many=True),
              response=DeploymentResultSchema, status_codes=(200, *INVALID, 409), tags=("apps",),
              query=(PARTIAL_UPDATE, FORCE)),
    RouteSpec("PATCH", "/v2/apps", "Partially update many existing apps", request=AppSchema(many=True),
              response=DeploymentResultSchema, status_codes=(200, *INVALID, 404, 409), tags=("apps",),
              query=(FORCE,)),
    RouteSpec("GET", "/v2/apps/{app_id:.+}", "One app (counts, tasks, lastTaskFailure, deployments embedded)",
              response=AppResponseSchema, status_codes=(200, 404), tags=("apps",), query=(APP_EMBED,),
              path_descriptions=APP_ID,
              description="An id ending in /* answers {\"*\": [apps under that group]}."),
    RouteSpec("PUT", "/v2/apps/{app_id:.+}", "Create or update an app; {\"version\": ts} rolls back",
              request=AppSchema, response=DeploymentResultSchema, status_codes=(200, 201, *INVALID, 404, 409),
              tags=("apps",), query=(PARTIAL_UPDATE, FORCE), path_descriptions=APP_ID),
    RouteSpec("PATCH", "/v2/apps/{app_id:.+}", "Partially update an existing app", request=AppSchema,
              response=DeploymentResultSchema, status_codes=(200, *INVALID, 404, 409), tags=("apps",),
              query=(FORCE,), path_descriptions=APP_ID),
    RouteSpec("DELETE", "/v2/apps/{app_id:.+}", "Destroy an app and kill its tasks", response=DeploymentResultSchema,
              status_codes=(200, 400, 404, 409), tags=("apps",), query=(FORCE_DELETE,), path_descriptions=APP_ID),
    RouteSpec("POST", "/v2/apps/{app_id:.+}/restart", "Rolling restart with the same definition",
              response=DeploymentResultSchema, status_codes=(200, 400, 404, 409), tags=("apps",), query=(FORCE,),
              path_descriptions=APP_ID),
    RouteSpec("GET", "/v2/apps/{app_id:.+}/versions", "Stored versions of an app", response=VersionListResponseSchema,
              status_codes=(200, 404), tags=("apps",), path_descriptions=APP_ID),
    RouteSpec("GET", "/v2/apps/{app_id:.+}/versions/{version}", "The definition at a version (a bare App)",
              response=AppSchema, status_codes=(200, 404), tags=("apps",),
              path_descriptions={**APP_ID, "version": "A version timestamp from .../versions."}),
    # api.routes_apps: tasks
    RouteSpec("GET", "/v2/apps/{app_id:.+}/tasks", "Tasks of an app", response=TaskListResponseSchema,
              status_codes=(200, 404), tags=("tasks",), path_descriptions=APP_ID, query=(TASK_EMBED,),
              description=TASKS_AS_TEXT),
    RouteSpec("DELETE", "/v2/apps/{app_id:.+}/tasks", "Kill the tasks of an app (all, or those on one host)",
              response=TaskListResponseSchema, status_codes=(200, 400, 404, 409), tags=("tasks",),
              query=(QueryParam("host", description="Only the tasks on this agent host."), SCALE, WIPE, FORCE),
              path_descriptions=APP_ID),
    RouteSpec("DELETE", "/v2/apps/{app_id:.+}/tasks/{task_id}", "Kill one task", response=TaskResponseSchema,
              status_codes=(200, 400, 404, 409), tags=("tasks",), query=(SCALE, WIPE, FORCE),
              path_descriptions={**APP_ID, **TASK_ID}),
    RouteSpec("GET", "/v2/tasks", "All tasks", response=TaskListResponseSchema, tags=("tasks",),
              query=(QueryParam("status", repeated=True, description="running or staging (case-insensitive)."),
                     TASK_EMBED),
              description=TASKS_AS_TEXT),
    RouteSpec("POST", "/v2/tasks/delete", "Kill a list of tasks", request=TaskIdsSchema,
              response=TaskListResponseSchema, status_codes=(200, *INVALID, 409), tags=("tasks",),
              query=(SCALE, WIPE, FORCE)),
    # api.routes_tasks_extra: our task logs and usage (never keys of Marathon's task JSON)
    RouteSpec("GET", "/v2/tasks/{task_id}/logs", "A task's stdout or stderr (mesospaas)",
              status_codes=(200, 404, 422, 502), tags=("tasks",), path_descriptions=TASK_ID,
              query=(QueryParam("stream", description="stdout (default) or stderr."),
                     QueryParam("offset", "integer", description="Byte offset; without it the last length bytes."),
                     QueryParam("length", "integer", description="Bytes to read (default 64 KiB, at most 1 MiB)."),
                     QueryParam("rotated", "integer", description="Read the rotated file stdout.K (newest 1)."),
                     _flag("follow", "Stream text/plain, following the file across rotations until the task "
                                     "ends.")),
              description="{taskId, stream, file, data, offset}, read from the task's sandbox through its agent's "
                          "/files/read (command executor or the mesospaas executor)."),
    RouteSpec("GET", "/v2/tasks/{task_id}/logs/files", "A task's log files with size and mtime (mesospaas)",
              status_codes=(200, 404, 502), tags=("tasks",), path_descriptions=TASK_ID),
    RouteSpec("GET", "/v2/tasks/{task_id}/stats", "A task's resource usage (mesospaas)",
              status_codes=(200, 404, 502), tags=("tasks",), path_descriptions=TASK_ID,
              description="{taskId, appId, agentId, executor, agent}: the mesospaas executor's latest report "
                          "(CPU seconds and share, RSS, threads) and the agent's /monitor/statistics."),
    RouteSpec("GET", "/v2/tasks/stats", "The latest usage of every task on the mesospaas executor (mesospaas)",
              tags=("tasks",)),
    # api.routes_apps: deployments and queue
    RouteSpec("GET", "/v2/deployments", "Running deployments", response=DeploymentInfoSchema(many=True),
              tags=("deployments",)),
    RouteSpec("GET", "/v2/deployments/{deployment_id}", "One deployment with its state (mesospaas)",
              response=DeploymentDetailSchema, status_codes=(200, 404), tags=("deployments",),
              path_descriptions={"deployment_id": "Deployment id."},
              description="state (running, paused, rolling back; succeeded, failed, canceled for the last 100 "
                          "finished), the reason a failed or canceled one ended, its canaries' progress, the "
                          "progress deadline and the link between a failed deployment and its automatic "
                          "rollback. Progress means a new instance became healthy (and ready) or an old one was "
                          "stopped as planned; apps opt in to failing with upgradeStrategy.progressDeadlineSeconds "
                          "or autoRollback, and then 3 failed tasks of the new version fail it too (a crash "
                          "loop)."),
    RouteSpec("POST", "/v2/deployments/{deployment_id}/continue", "Promote a deployment's canaries (mesospaas)",
              response=DeploymentDetailSchema, status_codes=(200, 404, 409), tags=("deployments",),
              path_descriptions={"deployment_id": "Deployment id."},
              description="A paused deployment (a MANUAL canary that proved healthy) goes on; canaries still "
                          "held are promoted at once. 409 when it is neither paused nor holding canaries."),
    RouteSpec("DELETE", "/v2/deployments/{deployment_id}", "Cancel a deployment (force=false: and roll back)",
              response=DeploymentResultSchema, status_codes=(200, 202, 400, 404), tags=("deployments",),
              query=(_flag("force", "true: only cancel (202, no body); false: cancel and start a rollback."),),
              path_descriptions={"deployment_id": "Deployment id."}),
    RouteSpec("GET", "/v2/queue", "Launch queue: instances waiting for offers or backoff, with reject reasons",
              response=QueueResponseSchema, tags=("queue",),
              query=(QueryParam("embed", repeated=True, description="lastUnusedOffers"),)),
    RouteSpec("DELETE", "/v2/queue/{app_id:.+}/delay", "Reset the launch delay of an app", status_codes=(204, 404),
              tags=("queue",), path_descriptions=APP_ID),
    # api.routes_groups (reference §1.2; PATCH /v2/groups/{id}, enforceRole only, is not offered: 405)
    RouteSpec("GET", "/v2/groups", "The root group", response=GroupSchema, status_codes=(200,), tags=("groups",),
              query=(GROUP_EMBED,)),
    RouteSpec("GET", "/v2/groups/{group_id:.+}", "One group", response=GroupSchema, status_codes=(200, 404),
              tags=("groups",), query=(GROUP_EMBED,), path_descriptions=GROUP_ID),
    RouteSpec("GET", "/v2/groups/{group_id:.+}/versions", "Stored versions of a group (a bare array)",
              status_codes=(200, 404), tags=("groups",), path_descriptions=GROUP_ID),
    RouteSpec("GET", "/v2/groups/{group_id:.+}/versions/{version}", "A group as it was at a version",
              response=GroupSchema, status_codes=(200, 404), tags=("groups",),
              path_descriptions={**GROUP_ID, "version": "A version timestamp."}),
    RouteSpec("POST", "/v2/groups", "Create a group tree", request=GroupSchema, response=DeploymentResultSchema,
              status_codes=(201, *INVALID, 409), tags=("groups",), query=(FORCE,)),
    RouteSpec("POST", "/v2/groups/{group_id:.+}", "Create a group tree under an id", request=GroupSchema,
              response=DeploymentResultSchema, status_codes=(201, *INVALID, 409), tags=("groups",), query=(FORCE,),
              path_descriptions=GROUP_ID),
    RouteSpec("PUT", "/v2/groups", "Update the root group; {\"version\": ts} rolls back, {\"scaleBy\": n} scales",
              request=GroupSchema, response=DeploymentResultSchema, status_codes=(200, *INVALID, 404, 409),
              tags=("groups",), query=(FORCE, _flag("dryRun", "Answer the plan ({\"steps\": [...]}) only."))),
    RouteSpec("PUT", "/v2/groups/{group_id:.+}", "Update a group tree; {\"version\": ts} rolls back, "
              "{\"scaleBy\": n} scales", request=GroupSchema, response=DeploymentResultSchema,
              status_codes=(200, *INVALID, 404, 409), tags=("groups",),
              query=(FORCE, _flag("dryRun", "Answer the plan ({\"steps\": [...]}) only.")),
              path_descriptions=GROUP_ID),
    RouteSpec("DELETE", "/v2/groups", "Remove every group and app", response=DeploymentResultSchema,
              status_codes=(200, 400, 409), tags=("groups",), query=(FORCE,)),
    RouteSpec("DELETE", "/v2/groups/{group_id:.+}", "Remove a group and everything under it",
              response=DeploymentResultSchema, status_codes=(200, 400, 404, 409), tags=("groups",), query=(FORCE,),
              path_descriptions=GROUP_ID),
    # this module
    RouteSpec("GET", "/openapi.json", "This document (OpenAPI 3.0)", tags=("docs",)),
    RouteSpec("GET", "/openapi", "This document as a self-contained HTML page", tags=("docs",),
              response_content_type="text/html"),
)
ROUTES += JOB_ROUTES  # the Metronome-compatible jobs API (api.routes_jobs)
ROUTES += METRICS_ROUTES + UI_ROUTES  # metrics and the web UI (api.routes_metrics, api.routes_ui)
ROUTES += SECURITY_ROUTES  # sessions, secrets, the audit log (api.auth_docs; issue 17)

_DEPLOYMENT_RESULT = {"$ref": "#/components/schemas/DeploymentResult"}
_RESPONSE_OVERRIDES: dict[tuple[str, str], dict[str, Any]] = {
    ("delete", "/v2/apps/{app_id}/tasks"): {"anyOf": [{"$ref": "#/components/schemas/TaskListResponse"},
                                                      _DEPLOYMENT_RESULT]},
    ("delete", "/v2/apps/{app_id}/tasks/{task_id}"): {"anyOf": [{"$ref": "#/components/schemas/TaskResponse"},
                                                                _DEPLOYMENT_RESULT]},
    ("post", "/v2/tasks/delete"): {"anyOf": [{"$ref": "#/components/schemas/TaskListResponse"}, _DEPLOYMENT_RESULT]},
    ("get", "/v2/groups/{group_id}/versions"): {"type": "array", "items": {"type": "string"}},
    ("put", "/v2/groups"): {"anyOf": [_DEPLOYMENT_RESULT, {"$ref": "#/components/schemas/GroupDryRun"}]},
    ("put", "/v2/groups/{group_id}"): {"anyOf": [_DEPLOYMENT_RESULT, {"$ref": "#/components/schemas/GroupDryRun"}]},
}
"""Responses of two shapes (``anyOf``, not ``oneOf``: neither shape has a required key, so a body matches both),
the dry-run plan, and the bare array of group versions."""

_ERROR_BODIES: dict[str, dict[str, Any]] = {
    # Marathon's 400 "Invalid JSON" carries the parser's message as a string when the body is not JSON.
    "400": {"anyOf": [{"$ref": "#/components/schemas/ValidationError"},
                      {"$ref": "#/components/schemas/InvalidJson"}]},
    # A lock (with ``deployments``) or "already exists" (message only). Not ``oneOf``: neither shape has a
    # required key, so every body matches both and ``oneOf`` would reject all of them.
    "409": {"anyOf": [{"$ref": "#/components/schemas/LockedError"}, {"$ref": "#/components/schemas/Message"}]},
}
"""Error bodies ``openapi_document`` describes too narrowly (see the comments), replaced wherever they occur."""

_STANDBY_ERRORS: dict[str, str] = {
    "502": "Standby only (HA): no leader could be determined, the leader refused the connection, or a proxying "
           "loop was detected",
    "504": "Standby only (HA): the leader did not answer in time",
}
"""What a standby answers, for any path, when it cannot hand the request to the leader (``api.leader_proxy``)."""


def api_document(version: str = "1.11.0") -> dict[str, Any]:
    """The OpenAPI 3.0 document of every route in ``ROUTES``."""
    doc = openapi_document(ROUTES, title=TITLE, version=version, description=DESCRIPTION)
    schemas = doc["components"]["schemas"]
    for extra in (GroupDryRunSchema,):  # components only the overrides refer to
        for name, schema in json_schema(extra)[1].items():
            schemas.setdefault(name, schema)
    doc["components"]["schemas"] = dict(sorted(schemas.items()))
    for (method, path), schema in _RESPONSE_OVERRIDES.items():
        ok = doc["paths"][path][method]["responses"]["200"]
        ok["content"] = {"application/json": {"schema": copy.deepcopy(schema)}}
    for operations in doc["paths"].values():
        for operation in operations.values():
            for status, description in _STANDBY_ERRORS.items():
                operation["responses"][status] = {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}}}}
    return doc


OPENAPI_JSON = web.AppKey("openapi_json", bytes)
OPENAPI_HTML = web.AppKey("openapi_html", str)


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_JSON], content_type="application/json")


async def openapi_html(request: web.Request) -> web.Response:
    return web.Response(text=request.app[OPENAPI_HTML], content_type="text/html")


def register(app: web.Application) -> None:
    from api.app import VERSION  # api.app imports this module: read its constant once it is loaded

    doc = api_document(VERSION)
    app[OPENAPI_JSON] = json.dumps(doc, separators=(",", ":")).encode()
    app[OPENAPI_HTML] = render_html(doc)
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/openapi", openapi_html)


__all__ = ["ROUTES", "api_document", "register"]
