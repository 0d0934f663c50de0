"""``/v2/apps``, ``/v2/tasks``, ``/v2/deployments``, ``/v2/queue``: Marathon's routes over the platform.

Owns: request parsing (query flags in any case, Marathon's embed values), turning app bodies into changes of
the root group (one deployment per call, 409 with the locking deployments unless ``force``), and the response
shapes (AppInfo, Task, DeploymentInfo, QueueItem, DeploymentResult with ``Marathon-Deployment-Id``). Every
rejected request changes nothing: validation happens before anything is submitted to the platform.

Reads scale with what changed (issue 11): ``Renderer`` keeps each app's and each task's JSON bytes while what
they show holds, the list routes assemble bodies from those bytes (byte for byte the ``json.dumps`` of the
whole), ``ResponseCache`` keeps whole bodies per state generation, and the list renders yield to the event loop
every few milliseconds (``api.render_pacing``) so offers and status updates never wait behind a long render.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from api import roles
from api.endpoints_text import endpoints_text
from api.errors import (BadRequest, InvalidDefinition, Locked, NotFound, app_exists, app_not_found, parse_json,
                        task_not_found)
from api.platform import Platform
from api.render_pacing import Pacer
from api.schemas import AppDefinition, RollbackRequested, dump_app, load_app
from api.schemas.extensions import EXTENSIONS_EMBED, public_definition
from api.schemas.readiness import readiness_json
from api.task_usage import usage_json
from mesospaas.health import CheckHealth, seeded
from mesospaas.model import AppId, Condition, Instance, InstanceId
from mesospaas.model.condition import mesos_state
from mesospaas.model.deployment import DeploymentId, DeploymentPlan
from mesospaas.model.group import Group
from mesospaas.model.ids import AppVersion, TaskId, parse_task_id
from mesospaas.model.task_failure import TaskFailure
from mesospaas.routing.service_ports import service_ports as definition_service_ports

PLATFORM = web.AppKey("platform", object)
STAGED = frozenset({Condition.PROVISIONED, Condition.STAGING, Condition.STARTING})


def platform_of(request: web.Request) -> Platform:
    return request.app[PLATFORM]  # type: ignore[return-value]


def flag(request: web.Request, name: str, default: bool = False) -> bool:
    value = request.query.get(name)
    if value is None:
        return default
    if value.lower() in ("true", "1", ""):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise BadRequest(f"Query parameter '{name}' must be true or false, got '{value}'")


def embeds(request: web.Request) -> set[str]:
    out = set()
    for value in request.query.getall("embed", []):
        for item in value.split(","):
            out.add(item.rsplit(".", 1)[-1])
    if "failures" in out:
        out |= {"tasks", "lastTaskFailure", "deployments"}
    if "tasks" in out:
        out.add("deployments")
    return out


def respond(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(payload, separators=(",", ":")).encode(),
                        content_type="application/json", headers=headers)


def deployment_result(deployment: DeploymentPlan, status: int = 200,
                      headers: dict[str, str] | None = None) -> web.Response:
    return respond({"deploymentId": deployment.id, "version": deployment.version}, status,
                   {"Marathon-Deployment-Id": deployment.id, **(headers or {})})


async def read_json(request: web.Request) -> Any:
    return parse_json(await request.read())


# -- rendering ------------------------------------------------------------------------------------------------
class ResponseCache:
    """Rendered GET responses, reused while the platform's state generation is unchanged."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self.generation = -1
        self.entries: dict[str, bytes] = {}

    def get(self, platform: Platform, key: str) -> bytes | None:
        if self.generation != platform.generation:
            self.generation = platform.generation
            self.entries.clear()
        return self.entries.get(key)

    def put(self, key: str, body: bytes) -> None:
        if len(self.entries) >= self.limit:
            self.entries.clear()
        self.entries[key] = body


RESPONSES = web.AppKey("responses", ResponseCache)


def cached_body(request: web.Request, render: Callable[[], bytes]) -> web.Response:
    """The JSON body ``render()`` makes for this GET, from the cache when the state has not changed since."""
    platform = platform_of(request)
    cache = request.app[RESPONSES]
    key = request.path_qs
    body = cache.get(platform, key)
    if body is None:
        body = render()
        cache.put(key, body)
    return web.Response(body=body, content_type="application/json")


async def cached_render(request: web.Request, render: Callable[[Pacer], Awaitable[bytes]],
                        key: str | None = None) -> web.Response:
    """``cached_body`` for a long render that yields to the event loop (``api.render_pacing``): the body is
    kept only if the state generation did not move while it was made (else it may mix two states, which is
    fine for this answer but not for the next request's)."""
    platform = platform_of(request)
    cache = request.app[RESPONSES]
    key = key or request.path_qs
    body = cache.get(platform, key)
    if body is None:
        async with request.app[RENDER_GATE]:  # one long render at a time: the scheduler's share of the loop
            body = cache.get(platform, key)  # stays; requests for the same list meanwhile get its body
            if body is None:
                generation = platform.generation
                body = await render(Pacer())
                if platform.generation == generation:
                    cache.put(key, body)
    return web.Response(body=body, content_type="application/json")


RENDER_GATE = web.AppKey("render_gate", asyncio.Semaphore)
"""Long renders (the lists) wait for each other: yielding alone lets N concurrent renders take N turns of the
loop for each turn of the scheduler's; through the gate, the readers queue among themselves instead."""


def dumps(payload: Any) -> bytes:
    """Compact JSON, as every route answers (what ``respond`` sends)."""
    return json.dumps(payload, separators=(",", ":")).encode()


_TASKS_SLOT = {f"\x00mesospaas-tasks-{uuid.uuid4().hex}": 0}
"""Stands in for an app's task list while the app is dumped; its JSON is replaced by the cached task bytes."""
_TASKS_SLOT_JSON = dumps(_TASKS_SLOT)
_EMBED_VARIANTS = 16
"""Embed sets kept per app (each a rendered body); more is a client cycling through odd ``embed`` values."""


class Renderer:
    """Turns platform state into Marathon JSON, caching what a render of an unchanged thing would repeat:

    - ``definition``: the parsed stored definition of each app's current version (one dict per app, the same
      object while the version holds: the caches below compare it by identity), older versions bounded apart;
    - ``app_bytes``: each app's JSON per embed set, with what it was made from: reused while those are the
      same objects (specs, instances and task failures are immutable and replaced on change) and the app's
      health generation is the same (health detail moves without the instances changing), so a list
      re-renders only the apps that changed;
    - ``task_bytes``: each instance's task JSON, reused while the instance object, the app's definition and
      its health generation hold, so an app with many tasks (or ``/v2/tasks``) re-renders only the tasks that
      changed. An app's body with ``embed=tasks`` is its JSON with these bytes spliced in: byte for byte what
      ``json.dumps`` of the whole dict gives.

    Bounded: entries of apps and instances that are gone are dropped once they outnumber the live ones.
    """

    def __init__(self) -> None:
        self._current: dict[AppId, tuple[AppVersion, dict[str, Any]]] = {}
        self._older: dict[tuple[AppId, AppVersion], dict[str, Any]] = {}
        self._rendered: dict[AppId, dict[frozenset[str], tuple[list[Any], tuple[DeploymentId, ...], int, bytes]]] = {}
        self._tasks: dict[InstanceId, tuple[Instance, dict[str, Any] | None, int, bytes]] = {}

    def app_bytes(self, platform: Platform, app_id: AppId, embed: set[str], instances: list[Instance]) -> bytes | None:
        """``app(...)`` as JSON bytes, from the per-app cache when nothing it shows has changed."""
        spec = platform.state.apps.get(app_id)
        deployments = tuple(d for d, running in platform.state.deployments.items()
                            if app_id in running.plan.affected_apps)
        definition = self.definition(platform, app_id)
        objects = [spec, definition, platform.task_failure(app_id), *instances]
        health = platform.health_generation(app_id)
        variants = self._rendered.get(app_id)
        key = frozenset(embed)
        hit = variants.get(key) if variants is not None and "readiness" not in embed else None  # readiness
        # answers are not objects: never reused
        if hit is not None and hit[1] == deployments and hit[2] == health and len(hit[0]) == len(objects) \
                and all(a is b for a, b in zip(hit[0], objects)):
            return hit[3]
        if "tasks" in embed:
            live = [i for i in instances if i.has_live_task]
            tasks = [self.task_bytes(platform, i, definition) for i in live]
            rendered = self.app(platform, app_id, embed, instances, tasks=[_TASKS_SLOT] if tasks else [])
            if rendered is None:
                return None
            body = dumps(rendered)
            if tasks:
                if body.count(_TASKS_SLOT_JSON) == 1:
                    body = body.replace(_TASKS_SLOT_JSON, b",".join(tasks))
                else:  # the definition itself holds the slot's text: render the plain way
                    body = dumps(self.app(platform, app_id, embed, instances))
        else:
            rendered = self.app(platform, app_id, embed, instances)
            if rendered is None:
                return None
            body = dumps(rendered)
        if variants is None:
            if len(self._rendered) > 2 * len(platform.state.apps) + 1000:
                self._rendered = {a: v for a, v in self._rendered.items() if a in platform.state.apps}
            variants = self._rendered[app_id] = {}
        elif len(variants) >= _EMBED_VARIANTS:
            variants.clear()
        variants[key] = (objects, deployments, health, body)
        return body

    def task_bytes(self, platform: Platform, instance: Instance, definition: dict[str, Any] | None) -> bytes:
        """``task_json(instance, definition, health records)`` as JSON bytes, cached (see the class)."""
        health = platform.health_generation(instance.app_id)
        hit = self._tasks.get(instance.id)
        if hit is not None and hit[0] is instance and hit[1] is definition and hit[2] == health:
            return hit[3]
        body = dumps(task_json(instance, definition, platform.health_records(instance)))
        if hit is None and len(self._tasks) > 2 * len(platform.state.instances) + 10000:
            self._tasks = {i: t for i, t in self._tasks.items() if i in platform.state.instances}
        self._tasks[instance.id] = (instance, definition, health, body)
        return body

    def definition(self, platform: Platform, app_id: AppId, version: AppVersion | None = None) -> dict[str, Any] | None:
        spec = platform.state.apps.get(app_id)
        current = spec.version if spec else None
        wanted = version or current
        if wanted is None:
            return None
        if wanted == current:
            hit = self._current.get(app_id)
            if hit is not None and hit[0] == wanted:
                return hit[1]
            parsed = self._parsed(platform, app_id, wanted)
            if parsed is not None:
                if app_id not in self._current and len(self._current) > 2 * len(platform.state.apps) + 1000:
                    self._current = {a: d for a, d in self._current.items() if a in platform.state.apps}
                self._current[app_id] = (wanted, parsed)
            return parsed
        key = (app_id, wanted)
        cached = self._older.get(key)
        if cached is None:
            cached = self._parsed(platform, app_id, wanted)
            if cached is None:
                return None
            if len(self._older) >= 20000:
                self._older.clear()
            self._older[key] = cached
        return cached

    @staticmethod
    def _parsed(platform: Platform, app_id: AppId, version: AppVersion) -> dict[str, Any] | None:
        raw = platform.app_definition(app_id, version)
        return json.loads(raw) if raw is not None else None

    def app(self, platform: Platform, app_id: AppId, embed: set[str],
            instances: list[Instance] | None = None,
            tasks: list[Mapping[str, Any]] | None = None) -> dict[str, Any] | None:
        """The app's AppInfo as a dict; with ``tasks`` given, those stand for its task list (``embed=tasks``)."""
        spec = platform.state.apps.get(app_id)
        definition = self.definition(platform, app_id)
        if spec is None or definition is None:
            return None
        if instances is None:
            instances = platform.instances_of(app_id)
        live = [i for i in instances if i.has_live_task]
        counts = {"tasksStaged": sum(1 for i in live if i.condition in STAGED),
                  "tasksRunning": sum(1 for i in live if i.condition is Condition.RUNNING),
                  "tasksHealthy": sum(1 for i in live if i.healthy is True),
                  "tasksUnhealthy": sum(1 for i in live if i.healthy is False)}
        deployments = [d for d, running in platform.state.deployments.items()
                       if app_id in running.plan.affected_apps]
        failure = platform.task_failure(app_id) if "lastTaskFailure" in embed else None
        if "tasks" in embed and tasks is None:
            tasks = [task_json(i, definition, platform.health_records(i)) for i in live]
        return dump_app(AppDefinition(spec, definition), version=spec.version,
                        version_info={"lastScalingAt": spec.version,
                                      "lastConfigChangeAt": spec.effective_config_version},
                        counts=counts, deployments=deployments,
                        tasks=tasks if "tasks" in embed else None,
                        last_task_failure=task_failure_json(failure) if failure is not None else None,
                        readiness_check_results=[readiness_json(r) for r in platform.readiness_results(app_id)]
                        if "readiness" in embed else None,
                        extensions=EXTENSIONS_EMBED in embed)


def iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    millis = int(round((seconds % 1) * 1000)) % 1000
    return f"{base}.{millis:03d}Z" if millis else f"{base}Z"


def health_results_json(instance: Instance, records: Mapping[int, CheckHealth],
                        definition: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Marathon's ``healthCheckResults``: one per check with a result. Without in-memory detail (a new leader)
    the persisted verdict stands for every check, so a healthy task stays healthy across a failover."""
    if not records and instance.healthy is not None:
        count = max(1, len((definition or {}).get("healthChecks", ())))
        records = {i: seeded(instance.healthy, instance.healthy_since) for i in range(count)}
    return [{"alive": r.alive, "consecutiveFailures": r.consecutive_failures, "firstSuccess": iso(r.first_success),
             "lastSuccess": iso(r.last_success), "lastFailure": iso(r.last_failure),
             "lastFailureCause": r.last_failure_cause, "instanceId": instance.id}
            for _, r in sorted(records.items())]


def task_failure_json(failure: TaskFailure) -> dict[str, Any]:
    """Marathon's ``lastTaskFailure``."""
    out: dict[str, Any] = {"appId": failure.app_id, "host": failure.host, "message": failure.message,
                           "state": failure.state, "taskId": failure.task_id, "instanceId": failure.instance_id,
                           "timestamp": iso(failure.timestamp), "version": failure.version}
    if failure.slave_id is not None:
        out["slaveId"] = failure.slave_id
    return out


def task_json(instance: Instance, definition: dict[str, Any] | None,
              records: Mapping[int, CheckHealth] | None = None) -> dict[str, Any]:
    agent = instance.agent
    service_ports = definition_service_ports(definition or {})
    out: dict[str, Any] = {"id": instance.task_id, "appId": instance.app_id,
                           "host": agent.hostname if agent else "", "slaveId": agent.agent_id if agent else "",
                           "state": mesos_state(instance.condition) if instance.condition is not Condition.SCHEDULED
                           else "TASK_STAGING",
                           "stagedAt": iso(instance.staged_at), "startedAt": iso(instance.started_at),
                           "version": instance.app_version, "ports": list(instance.host_ports),
                           "servicePorts": service_ports, "localVolumes": [],
                           "ipAddresses": [{"ipAddress": a, "protocol": "IPv6" if ":" in a else "IPv4"}
                                           for a in instance.ip_addresses]}
    if agent is not None and agent.zone:
        out["zone"] = agent.zone
    if agent is not None and agent.region:
        out["region"] = agent.region
    out["healthCheckResults"] = health_results_json(instance, records or {}, definition)
    return out


RENDERER = web.AppKey("renderer", Renderer)


# -- apps -----------------------------------------------------------------------------------------------------
_LABEL = re.compile(r"^\s*([-A-Za-z0-9_.]+)\s*(?:(==|!=)\s*([-A-Za-z0-9_.]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def label_matches(selector: str, labels: dict[str, str]) -> bool:
    for part in re.split(r",(?![^(]*\))", selector):
        match = _LABEL.match(part)
        if match is None:
            raise BadRequest(f"Invalid label selector: {part}")
        key, op, value, set_op, items = match.groups()
        if op == "==" and labels.get(key) != value:
            return False
        if op == "!=" and labels.get(key) == value:
            return False
        if set_op:
            values = {v.strip() for v in items.split(",")}
            if (set_op == "in") != (labels.get(key) in values):
                return False
        if not op and not set_op and key not in labels:
            return False
    return True


async def list_apps(request: web.Request) -> web.Response:
    async def render(pacer: Pacer) -> bytes:
        return b'{"apps":[' + b",".join(await _render_apps(request, pacer)) + b"]}"
    return await cached_render(request, render)


def instances_by_app(platform: Platform) -> dict[AppId, list[Instance]]:
    """Every app's instances (in the state's order), from one pass over a snapshot of the instances."""
    by_app: dict[AppId, list[Instance]] = {}
    for instance in list(platform.state.instances.values()):
        by_app.setdefault(instance.app_id, []).append(instance)
    return by_app


async def _render_apps(request: web.Request, pacer: Pacer) -> list[bytes]:
    platform = platform_of(request)
    renderer = request.app[RENDERER]
    embed = embeds(request) | {"counts", "deployments"}
    cmd = request.query.get("cmd", "").lower()
    wanted = request.query.get("id", "").lower()
    label = request.query.get("label")
    by_app = instances_by_app(platform)
    apps = []
    for app_id in sorted(platform.state.apps):
        await pacer.tick()
        spec = platform.state.apps.get(app_id)
        if spec is None:  # removed while this render yielded
            continue
        if cmd and cmd not in (spec.cmd or "").lower():
            continue
        if wanted and wanted not in app_id.lower():
            continue
        if label and not label_matches(label, dict(spec.labels)):
            continue
        rendered = renderer.app_bytes(platform, app_id, embed, by_app.get(app_id, []))
        if rendered is not None:
            apps.append(rendered)
    return apps


def app_id_from(request: web.Request) -> str:
    raw = request.match_info.get("app_id", "")
    return "/" + raw.strip("/")


async def get_app(request: web.Request, app_id: str) -> web.Response:
    platform = platform_of(request)
    renderer = request.app[RENDERER]
    embed = embeds(request) | {"counts", "tasks", "lastTaskFailure", "deployments"}
    if app_id.endswith("/*"):
        prefix = app_id[:-1]
        apps = [renderer.app(platform, a, embed) for a in sorted(platform.state.apps) if a.startswith(prefix)]
        return respond({"*": [a for a in apps if a is not None]})
    if AppId(app_id) not in platform.state.apps:
        raise app_not_found(app_id)

    def render() -> bytes:
        rendered = renderer.app_bytes(platform, AppId(app_id), embed, platform.instances_of(AppId(app_id)))
        if rendered is None:
            raise app_not_found(app_id)
        return b'{"app":' + rendered + b"}"
    return cached_body(request, render)


def existing_definition(platform: Platform, renderer: Renderer, app_id: str) -> AppDefinition | None:
    spec = platform.state.apps.get(AppId(app_id))
    definition = renderer.definition(platform, AppId(app_id))
    if spec is None or definition is None:
        return None
    return AppDefinition(spec, definition)


def encoded(app: AppDefinition) -> bytes:
    return json.dumps(app.definition, separators=(",", ":"), sort_keys=True).encode()


async def deploy_apps(request: web.Request, apps: list[AppDefinition], *, force: bool,
                      status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    platform = platform_of(request)

    listed = {a.spec.id: f"/({i})/role" for i, a in enumerate(apps)}
    default_role = roles.framework_role(request)

    def edit(root: Group) -> Group:
        before = root
        for app in apps:
            deps = [str(d) for d in app.definition.get("dependencies", [])]
            root = root.update_app(app.spec, dependencies=deps)
        return roles.checked_roles(before, root, default_role,  # issue 17: Mesos roles (enforceRole)
                                   roles.single_app_path if len(apps) == 1 else listed.__getitem__)
    deployment = await platform.deploy(edit, force=force, definitions={a.spec.id: encoded(a) for a in apps})
    return deployment_result(deployment, status, headers)


async def create_app(request: web.Request) -> web.Response:
    platform = platform_of(request)
    body = await read_json(request)
    app = load_app(body, default_role=roles.body_default_role(request, body))  # issue 17: enforceRole
    if app.spec.id in platform.state.apps or platform.state.root.group(app.spec.id) is not None:
        raise app_exists(app.spec.id)
    default_role = roles.framework_role(request)
    deployment = await platform.deploy(
        lambda root: roles.checked_roles(root, root.update_app(
            app.spec, dependencies=[str(d) for d in app.definition.get("dependencies", [])]), default_role,
            roles.single_app_path),
        force=flag(request, "force"), definitions={app.spec.id: encoded(app)})
    renderer = request.app[RENDERER]
    rendered = renderer.app(platform, app.spec.id, {"counts", "deployments"}) or dump_app(app)
    request.app[EVENTS_PUBLISH](request, app)
    return respond(rendered, 201, {"Location": f"/v2/apps{app.spec.id}", "Marathon-Deployment-Id": deployment.id})


async def put_app(request: web.Request, app_id: str, *, patch: bool) -> web.Response:
    platform = platform_of(request)
    renderer = request.app[RENDERER]
    body = await read_json(request)
    existing = existing_definition(platform, renderer, app_id)
    if patch and existing is None:
        raise app_not_found(app_id)
    partial = patch or flag(request, "partialUpdate", True)
    try:
        app = load_app(body, partial=partial and existing is not None, existing=existing, app_id=app_id,
                       default_role=roles.app_default_role(request, app_id))
    except RollbackRequested as rollback:
        return await rollback_app(request, app_id, rollback.version)
    created = existing is None
    request.app[EVENTS_PUBLISH](request, app)
    return await deploy_apps(request, [app], force=flag(request, "force"), status=201 if created else 200,
                             headers={"Location": f"/v2/apps{app.spec.id}"} if created else None)


async def rollback_app(request: web.Request, app_id: str, version: str) -> web.Response:
    platform = platform_of(request)
    raw = platform.app_definition(AppId(app_id), AppVersion(version))
    if raw is None:
        raise NotFound(f"App '{app_id}' does not exist in version {version}")
    app = load_app(json.loads(raw))
    return await deploy_apps(request, [app], force=flag(request, "force"))


async def put_apps(request: web.Request) -> web.Response:
    platform = platform_of(request)
    renderer = request.app[RENDERER]
    body = await read_json(request)
    if not isinstance(body, list):
        raise BadRequest("Expected a JSON array of apps")
    patch = request.method == "PATCH"
    partial = patch or flag(request, "partialUpdate", True)
    apps = []
    for index, item in enumerate(body):
        raw_id = item.get("id") if isinstance(item, dict) else None
        existing = existing_definition(platform, renderer, "/" + str(raw_id).strip("/")) if raw_id else None
        if patch and existing is None:
            raise app_not_found(str(raw_id))
        try:
            apps.append(load_app(item, partial=partial and existing is not None, existing=existing,
                                 default_role=roles.body_default_role(request, item)))
        except InvalidDefinition as error:
            raise error.prefixed(f"/({index})") from None
        except RollbackRequested:
            raise BadRequest("A version rollback is only possible for a single app") from None
    if not apps:
        raise BadRequest("No apps given")
    return await deploy_apps(request, apps, force=flag(request, "force"))


async def delete_app(request: web.Request, app_id: str) -> web.Response:
    platform = platform_of(request)
    if AppId(app_id) not in platform.state.apps:
        raise app_not_found(app_id)
    deployment = await platform.deploy(lambda root: root.remove_app(app_id), force=flag(request, "force", True))
    return deployment_result(deployment)


async def restart_app(request: web.Request, app_id: str) -> web.Response:
    platform = platform_of(request)
    if AppId(app_id) not in platform.state.apps:
        raise app_not_found(app_id)
    deployment = await platform.deploy(lambda root: root, force=flag(request, "force"), restart=[AppId(app_id)],
                                       definitions=_restamped(platform, request.app[RENDERER], app_id))
    return deployment_result(deployment)


def _restamped(platform: Platform, renderer: Renderer, app_id: str) -> dict[AppId, bytes]:
    definition = renderer.definition(platform, AppId(app_id))
    return {AppId(app_id): json.dumps(definition, separators=(",", ":"), sort_keys=True).encode()} if definition else {}


# -- tasks ----------------------------------------------------------------------------------------------------
def with_usage(request: web.Request, platform: Platform, tasks: list[dict[str, Any]]) -> None:
    """``embed=tasks.stats`` (ours, opt-in: Marathon's task JSON has no such key and the released client
    rejects unknown keys): each task gets ``stats``, the latest usage its mesospaas executor reported (null
    for tasks on the command executor; ``GET /v2/tasks/{id}/stats`` also asks the agent)."""
    if "stats" not in embeds(request):
        return
    stats = getattr(platform, "task_stats", None)
    for task in tasks:
        received = stats.latest(str(task["id"])) if stats is not None else None
        task["stats"] = usage_json(received) if received is not None else None


def wants_text(request: web.Request) -> bool:
    """``Accept: text/plain`` without JSON: Marathon's endpoint list (``api.endpoints_text``)."""
    accept = request.headers.get("Accept", "")
    return "text/plain" in accept and "json" not in accept


async def app_tasks(request: web.Request, app_id: str) -> web.Response:
    platform = platform_of(request)
    if AppId(app_id) not in platform.state.apps:
        raise app_not_found(app_id)
    definition = request.app[RENDERER].definition(platform, AppId(app_id))
    if wants_text(request):
        return web.Response(text=endpoints_text([(AppId(app_id), definition_service_ports(definition or {}),
                                                   platform.instances_of(AppId(app_id)))]), content_type="text/plain")
    live = [i for i in platform.instances_of(AppId(app_id)) if i.has_live_task]
    if "stats" not in embeds(request):
        renderer = request.app[RENDERER]
        return web.Response(body=b'{"tasks":[' + b",".join(renderer.task_bytes(platform, i, definition)
                                                           for i in live) + b"]}", content_type="application/json")
    tasks = [task_json(i, definition, platform.health_records(i)) for i in live]
    with_usage(request, platform, tasks)
    return respond({"tasks": tasks})


async def kill_app_tasks(request: web.Request, app_id: str, task_id: str | None) -> web.Response:
    platform = platform_of(request)
    if AppId(app_id) not in platform.state.apps:
        raise app_not_found(app_id)
    scale, wipe = flag(request, "scale"), flag(request, "wipe")
    if scale and wipe:
        raise BadRequest("You cannot use scale and wipe at the same time.")
    live = [i for i in platform.instances_of(AppId(app_id)) if i.has_live_task and i.task_id is not None]
    if task_id is not None:
        live = [i for i in live if i.task_id == task_id]
        if not live:
            raise task_not_found(task_id)
    host = request.query.get("host")
    if host:
        live = [i for i in live if i.agent is not None and i.agent.hostname == host]
    killed, deployment = await platform.kill_tasks([TaskId(str(i.task_id)) for i in live], scale=scale, wipe=wipe,
                                                   force=flag(request, "force"))
    if scale and deployment is not None:
        return deployment_result(deployment)
    definition = request.app[RENDERER].definition(platform, AppId(app_id))
    rendered = [task_json(i, definition, platform.health_records(i)) for i in killed]
    if task_id is not None:
        return respond({"task": rendered[0] if rendered else task_json(live[0], definition,
                                                                       platform.health_records(live[0]))})
    return respond({"tasks": rendered})


async def all_tasks(request: web.Request) -> web.Response:
    platform = platform_of(request)
    renderer = request.app[RENDERER]
    if wants_text(request):  # Marathon's text list: every app, its running tasks (no status filter)
        by_app: dict[AppId, list[Instance]] = {app_id: [] for app_id in platform.state.apps}
        for instance in platform.state.instances.values():
            by_app.setdefault(instance.app_id, []).append(instance)
        return web.Response(text=endpoints_text(
            (app_id, definition_service_ports(renderer.definition(platform, app_id) or {}), instances)
            for app_id, instances in by_app.items() if app_id in platform.state.apps), content_type="text/plain")
    wanted = {s.lower() for v in request.query.getall("status", []) + request.query.getall("status[]", [])
              for s in v.split(",")}

    def listed(instance: Instance) -> bool:
        return instance.has_live_task and (not wanted or bool(
            {"running"} & wanted and instance.condition is Condition.RUNNING
            or {"staging"} & wanted and instance.condition in STAGED))
    if "stats" in embeds(request):  # usage moves without the state: rendered each time
        tasks = [task_json(i, renderer.definition(platform, i.app_id), platform.health_records(i))
                 for i in platform.state.instances.values() if listed(i)]
        with_usage(request, platform, tasks)
        return respond({"tasks": tasks})

    async def render(pacer: Pacer) -> bytes:
        parts = []
        definitions: dict[AppId, dict[str, Any] | None] = {}
        for instance in list(platform.state.instances.values()):
            await pacer.tick()
            if listed(instance):
                if instance.app_id not in definitions:
                    definitions[instance.app_id] = renderer.definition(platform, instance.app_id)
                parts.append(renderer.task_bytes(platform, instance, definitions[instance.app_id]))
        return b'{"tasks":[' + b",".join(parts) + b"]}"
    return await cached_render(request, render)


async def delete_tasks(request: web.Request) -> web.Response:
    platform = platform_of(request)
    body = await read_json(request)
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise BadRequest('Expected {"ids": ["task id", ...]}')
    for task in ids:
        try:
            parse_task_id(task)
        except ValueError:
            raise BadRequest(f"Invalid task id '{task}'. [{task}] is not a valid task id") from None
    scale, wipe = flag(request, "scale"), flag(request, "wipe")
    if scale and wipe:
        raise BadRequest("You cannot use scale and wipe at the same time.")
    killed, deployment = await platform.kill_tasks([TaskId(t) for t in ids], scale=scale, wipe=wipe,
                                                   force=flag(request, "force"))
    if scale and deployment is not None:
        return deployment_result(deployment)
    renderer = request.app[RENDERER]
    return respond({"tasks": [task_json(i, renderer.definition(platform, i.app_id), platform.health_records(i))
                              for i in killed]})


# -- queue ------------------------------------------------------------------------------------
async def queue(request: web.Request) -> web.Response:
    platform = platform_of(request)
    renderer = request.app[RENDERER]
    now = platform.clock()
    items = []
    for entry in platform.launch_queue().entries:
        definition = renderer.definition(platform, entry.app_id)
        spec = platform.state.apps.get(entry.app_id)
        if definition is None or spec is None:
            continue
        diagnostics = platform.diagnostics.get(entry.app_id)
        delay_left = max(0.0, (entry.delayed_until or now) - now)
        summary: dict[str, Any] = {"processedOffersCount": diagnostics.processed_offers if diagnostics else 0,
                                   "unusedOffersCount": (diagnostics.processed_offers - diagnostics.used_offers)
                                   if diagnostics else 0,
                                   "rejectSummaryLastOffers": [
                                       {"reason": line.reason.value, "declined": line.declined,
                                        "processed": line.processed}
                                       for line in diagnostics.reject_summary()] if diagnostics else [],
                                   "rejectSummaryLaunchAttempt": []}
        items.append({"app": dump_app(AppDefinition(spec, definition), version=spec.version),
                      "count": len(entry.instances),
                      "delay": {"timeLeftSeconds": round(delay_left), "overdue": entry.delayed_until is None},
                      "since": iso(min(i.since for i in entry.instances)),
                      "processedOffersSummary": summary, "lastUnusedOffers": []})
    return respond({"queue": items})


async def reset_delay(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app_id = app_id_from(request).removesuffix("/delay")
    if not await platform.reset_delay(AppId(app_id)):
        raise NotFound(f"Application {app_id} not found in tasks queue.")
    return web.Response(status=204)


# -- dispatch of /v2/apps/{id...} -----------------------------------------------------------------------------
async def app_route(request: web.Request) -> web.Response:
    """App ids are paths, so the suffixes (/tasks, /restart, /versions) are told apart here."""
    path = app_id_from(request)
    method = request.method
    parts = path.split("/")
    if "tasks" in parts[2:]:
        at = len(parts) - 1 - parts[::-1].index("tasks")
        app_id = "/".join(parts[:at]) or "/"
        task_id = "/".join(parts[at + 1:]) or None
        if method == "GET" and task_id is None:
            return await app_tasks(request, app_id)
        if method == "DELETE":
            return await kill_app_tasks(request, app_id, task_id)
        raise web.HTTPMethodNotAllowed(method, ["GET", "DELETE"])
    if path.endswith("/restart"):
        if method != "POST":
            raise web.HTTPMethodNotAllowed(method, ["POST"])
        return await restart_app(request, path.removesuffix("/restart"))
    if "versions" in parts[2:]:
        at = len(parts) - 1 - parts[::-1].index("versions")
        app_id = "/".join(parts[:at])
        version = "/".join(parts[at + 1:]) or None
        platform = platform_of(request)
        if AppId(app_id) not in platform.state.apps:
            raise app_not_found(app_id)
        if version is None:
            return respond({"versions": platform.app_versions(AppId(app_id))})
        raw = platform.app_definition(AppId(app_id), AppVersion(version))
        if raw is None:
            raise NotFound(f"App '{app_id}' does not exist in version {version}")
        return respond(public_definition(json.loads(raw), EXTENSIONS_EMBED in embeds(request)) | {"version": version})
    if method == "GET":
        return await get_app(request, path)
    if method in ("PUT", "PATCH"):
        return await put_app(request, path, patch=method == "PATCH")
    if method == "DELETE":
        return await delete_app(request, path)
    raise web.HTTPMethodNotAllowed(method, ["GET", "PUT", "PATCH", "DELETE"])


def _no_events(request: web.Request, app: AppDefinition) -> None:
    return None


EVENTS_PUBLISH: web.AppKey[Callable[[web.Request, AppDefinition], None]] = web.AppKey("events_publish")


def register(app: web.Application) -> None:
    app[RENDERER] = Renderer()
    app[RESPONSES] = ResponseCache()
    app[RENDER_GATE] = asyncio.Semaphore(1)
    if EVENTS_PUBLISH not in app:
        app[EVENTS_PUBLISH] = _no_events
    r = app.router
    r.add_get("/v2/apps", list_apps)
    r.add_post("/v2/apps", create_app)
    r.add_put("/v2/apps", put_apps)
    r.add_patch("/v2/apps", put_apps)
    r.add_route("*", "/v2/apps/{app_id:.+}", app_route)
    r.add_get("/v2/tasks", all_tasks)
    r.add_post("/v2/tasks/delete", delete_tasks)
    r.add_get("/v2/queue", queue)
    r.add_delete("/v2/queue/{app_id:.+}", reset_delay)


__all__ = ["PLATFORM", "Locked", "register"]
