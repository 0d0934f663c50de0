"""``/v2/groups``: Marathon's group routes over the platform (reference §1.2, §1.3, §5.7).

Owns: the GroupInfo tree (``embed`` = ``group.groups``, ``group.apps``, ``group.pods``,
``group.apps.<app embed>``; all three lists when no embed is given), creating (POST, 201 + ``Location``,
409 when the group or an app at its path exists), updating (PUT: a tree of definitions, ``{"scaleBy": n}``
or ``{"version": ts}``; ``dryRun=true`` answers ``{"steps": [...]}`` and changes nothing), deleting
(the group and everything under it, one deployment) and ``/versions``.

Update semantics (Marathon's ``GroupConversion``): a list the body gives replaces the current one (apps not
listed are stopped, child groups not listed are removed with everything in them); a list it leaves out is
kept. A child group that already exists is updated the same way, recursively. Apps in a body are complete
definitions (not merged with the running ones); an app whose definition is unchanged keeps its version and
its instances. Every app definition of the body is handed to the platform (``definitions``) so
``GET /v2/apps/{id}`` returns it. Deployment order (dependencies first) is the planner's business.

Every rejected request changes nothing: the body is validated (``load_group``: 400/422 with Marathon's
nested paths, cycles inside the body) before anything is submitted; the platform rejects what needs the
whole root (a cycle through apps outside the body, an app and a group with one id: 422) atomically.

Group versions: the platform keeps only the current root group, no history of group versions. So
``/versions`` lists the current version only, ``/versions/{v}`` answers for that version only, and a rollback
(``{"version": ts}``, or marathon-python's ``PUT /v2/groups/{id}/versions/{ts}``) succeeds only for the
current version (a no-op); any other version is Marathon's 422 ``Group /x not available in version ts``.
Single apps keep their history: ``PUT /v2/apps/{id}`` with ``{"version": ts}`` rolls one back.
``PATCH /v2/groups/{id}`` (``enforceRole`` only) is not supported (405).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api import roles
from api.errors import Conflict, Unprocessable, group_exists, group_not_found
from api.plans import group_json, minimal_app_json, steps_json, stored_app_json
from api.routes_apps import RENDERER, deployment_result, encoded, flag, platform_of, read_json, respond
from api.schemas import AppDefinition, GroupDefinition, load_group
from api.schemas.paths import resolve
from mesospaas.model import AppId, AppSpec, Instance
from mesospaas.model.deployment import DeploymentPlan
from mesospaas.model.group import Group, GroupId
from mesospaas.model.ids import app_id_problem

VERSIONS = "versions"
MSG_CREATE_ONLY = "A group is created from a group definition; scaleBy and version need PUT."


def group_path(request: web.Request) -> str:
    return resolve("/" + request.match_info.get("group_id", "").strip("/"))


def group_embeds(request: web.Request) -> tuple[bool, bool, bool, set[str]]:
    """(apps, groups, pods, app embeds): all three lists without ``embed``, as Marathon. Apps are AppInfo with
    counts and deployments always (what ``Renderer.app`` gives); ``group.apps.tasks`` etc. add to that."""
    values = {item.strip() for value in request.query.getall("embed", []) for item in value.split(",")
              if item.strip()}
    if not values:
        return True, True, True, set()
    app_values = [v for v in values if v == "group.apps" or v.startswith("group.apps.")]
    app_embed = {v.removeprefix("group.apps.") for v in app_values if v != "group.apps"}
    if "failures" in app_embed:
        app_embed |= {"tasks", "lastTaskFailure", "deployments"}
    if "tasks" in app_embed:
        app_embed.add("deployments")
    return bool(app_values), "group.groups" in values, "group.pods" in values, app_embed


def existing_group(request: web.Request, path: str) -> Group:
    group = platform_of(request).state.root.group(path)
    if group is None:
        raise group_not_found(path)
    return group


# -- reading --------------------------------------------------------------------------------------------------
async def get_group(request: web.Request, path: str) -> web.Response:
    platform = platform_of(request)
    renderer = request.app[RENDERER]
    group = existing_group(request, path)
    apps, groups, pods, app_embed = group_embeds(request)
    by_app: dict[AppId, list[Instance]] = {}
    if apps:
        wanted = group.all_apps() if groups else group.apps
        for instance in platform.state.instances.values():
            if instance.app_id in wanted:
                by_app.setdefault(instance.app_id, []).append(instance)

    def app_json(app: AppSpec, dependencies: frozenset[str]) -> dict[str, Any]:
        return (renderer.app(platform, app.id, app_embed, by_app.get(app.id, []))
                or minimal_app_json(app, dependencies))
    return respond(group_json(group, app_json, apps=apps, groups=groups, pods=pods))


async def group_versions(request: web.Request, path: str) -> web.Response:
    return respond([existing_group(request, path).version])


async def get_group_version(request: web.Request, path: str, version: str) -> web.Response:
    group = platform_of(request).state.root.group(path)
    if group is None or group.version != version:
        raise group_not_found(path)
    platform = platform_of(request)
    return respond(group_json(group, stored_app_json(platform, request.app[RENDERER].definition)))


# -- changing -------------------------------------------------------------------------------------------------
def merged(current: Group | None, definition: GroupDefinition) -> Group:
    """``current`` (or a new group) updated by ``definition``: lists given replace, lists left out are kept."""
    base = current if current is not None else Group(GroupId(definition.id))
    apps, app_dependencies = base.apps, base.app_dependencies
    if definition.apps is not None:
        apps = {AppId(a.id): a.spec for a in definition.apps}
        app_dependencies = {AppId(a.id): frozenset(a.definition.get("dependencies") or ()) for a in definition.apps}
    groups = base.groups
    if definition.groups is not None:
        groups = {GroupId(child.id): merged(base.groups.get(GroupId(child.id)), child) for child in definition.groups}
    dependencies = base.dependencies if definition.dependencies is None else frozenset(definition.dependencies)
    enforce_role = base.enforce_role if definition.enforce_role is None else bool(definition.enforce_role)
    return Group(base.id, apps=apps, groups=groups, dependencies=dependencies, version=base.version,
                 app_dependencies=app_dependencies, enforce_role=enforce_role)


async def deploy_tree(request: web.Request, definition: GroupDefinition, *, dry_run: bool = False) -> DeploymentPlan:
    default_role = roles.framework_role(request)

    def edit(root: Group) -> Group:  # issue 17: the apps' Mesos roles are checked against enforceRole
        return roles.checked_roles(root, root.put_group(merged(root.group(definition.id), definition)), default_role)
    return await platform_of(request).deploy(
        edit, force=flag(request, "force"), dry_run=dry_run,
        definitions={AppId(a.id): encoded(a) for a in definition.all_apps()})


async def deploy_scale(request: web.Request, path: str, factor: float, *, dry_run: bool) -> DeploymentPlan:
    platform = platform_of(request)
    renderer = request.app[RENDERER]
    group = existing_group(request, path)
    before = group.all_apps()
    definitions = {}
    for app_id, app in group.scale_by(factor).all_apps().items():
        stored = renderer.definition(platform, app_id)
        if app.instances != before[app_id].instances and stored is not None:
            definitions[app_id] = encoded(AppDefinition(app, {**stored, "instances": app.instances}))
    return await platform.deploy(lambda root: root.scale_by(factor, path), force=flag(request, "force"),
                                 dry_run=dry_run, definitions=definitions)


async def deploy_rollback(request: web.Request, path: str, version: str, *, dry_run: bool) -> DeploymentPlan:
    group = platform_of(request).state.root.group(path)
    if group is None or group.version != version:
        raise Unprocessable(f"Group {path} not available in version {version} (mesospaas keeps only the current "
                            "version of a group; roll single apps back with PUT /v2/apps/{id} "
                            "and {\"version\": ...})")
    return await platform_of(request).deploy(lambda root: root, force=flag(request, "force"), dry_run=dry_run)


def changed(deployment: DeploymentPlan, dry_run: bool) -> web.Response:
    if dry_run:
        return respond({"steps": steps_json(deployment)})
    return deployment_result(deployment)


async def create_group(request: web.Request, path: str) -> web.Response:
    platform = platform_of(request)
    definition = load_group(await read_json(request), group_id=path, **roles.group_load_roles(request, path))
    if definition.version is not None or definition.scale_by is not None:
        raise Unprocessable(MSG_CREATE_ONLY)
    root = platform.state.root
    if root.group(definition.id) is not None:
        raise group_exists(definition.id)
    if root.app(definition.id) is not None:
        raise Conflict(f"An app with the path {definition.id} already exists.")
    deployment = await deploy_tree(request, definition)
    return deployment_result(deployment, 201, {"Location": f"/v2/groups{definition.id}"})


async def update_group(request: web.Request, path: str) -> web.Response:
    definition = load_group(await read_json(request), group_id=path, **roles.group_load_roles(request, path))
    dry_run = flag(request, "dryRun")
    if definition.version is not None:
        deployment = await deploy_rollback(request, definition.id, definition.version, dry_run=dry_run)
    elif definition.scale_by is not None:
        deployment = await deploy_scale(request, definition.id, definition.scale_by, dry_run=dry_run)
    else:
        deployment = await deploy_tree(request, definition, dry_run=dry_run)
    return changed(deployment, dry_run)


async def delete_group(request: web.Request, path: str) -> web.Response:
    existing_group(request, path)
    deployment = await platform_of(request).deploy(lambda root: root.remove_group(path), force=flag(request, "force"))
    return deployment_result(deployment)


# -- dispatch of /v2/groups/{id...} ---------------------------------------------------------------------------
def version_suffix(path: str) -> tuple[str, str] | None:
    """``/g/versions/<ts>`` -> (``/g``, ts) when ``ts`` cannot be a group id (a timestamp never is)."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[-2] == VERSIONS and app_id_problem("/" + parts[-1]) is not None:
        return "/".join(parts[:-2]) or "/", parts[-1]
    return None


async def group_route(request: web.Request) -> web.Response:
    """Group ids are paths, so ``/versions`` and ``/versions/{v}`` are told apart here, as Marathon does."""
    path = group_path(request)
    method = request.method
    if method == "GET":
        if path.split("/")[-1] == VERSIONS:
            return await group_versions(request, path.removesuffix(VERSIONS).rstrip("/") or "/")
        parts = path.split("/")
        if len(parts) >= 3 and parts[-2] == VERSIONS:
            return await get_group_version(request, "/".join(parts[:-2]) or "/", parts[-1])
        return await get_group(request, path)
    if method == "PUT":
        rollback = version_suffix(path)
        if rollback is not None:  # marathon-python's rollback_group: PUT /v2/groups/{id}/versions/{version}
            dry_run = flag(request, "dryRun")
            return changed(await deploy_rollback(request, *rollback, dry_run=dry_run), dry_run)
        return await update_group(request, path)
    if method == "POST":
        return await create_group(request, path)
    if method == "DELETE":
        return await delete_group(request, path)
    raise web.HTTPMethodNotAllowed(method, ["GET", "POST", "PUT", "DELETE"])


def register(app: web.Application) -> None:
    app.router.add_route("*", "/v2/groups", group_route)
    app.router.add_route("*", "/v2/groups/", group_route)
    app.router.add_route("*", "/v2/groups/{group_id:.+}", group_route)


__all__ = ["group_embeds", "merged", "register"]
