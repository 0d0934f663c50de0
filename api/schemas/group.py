"""``/v2/groups`` bodies and responses: ``GroupSchema``, ``GroupDefinition``, ``load_group``, ``dump_group``.

A group body (Marathon's GroupUpdate) is ``{id, apps, groups, dependencies, version, scaleBy, enforceRole}``.
Ids inside it are relative to the enclosing group (``..`` allowed); every app and child group must end up a
*direct* child of its group ("identifier /x is not child of /g. Hint: use relative paths."). Every app goes
through the same pipeline as ``/v2/apps`` bodies, with its errors under ``/apps(i)`` and child groups under
``/groups(i)`` (``/groups(0)/apps(1)/cpus``).

``{"version": ts}`` (rollback) and ``{"scaleBy": n}`` may not be combined with anything else ("not allowed in
conjunction with other properties."); they load as a ``GroupDefinition`` carrying only that request.

``apps``/``groups``/``dependencies`` stay ``None`` when the body leaves them out, so a PUT can tell "keep"
from "replace with nothing".

Response choice: ``dump_group`` emits ``{id, apps, groups, pods, dependencies, version}`` and *not*
``enforceRole`` unless asked: the released marathon-python 0.13.0's ``MarathonGroup`` has no
``enforce_role`` argument (it came with PR #281, after the release) and raises ``TypeError`` on the key,
so ``GET /v2/groups`` would break that client. ``pods`` is accepted by it and always empty here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from api.errors import InvalidDefinition, Violation
from api.schemas.app import AppSchema, StrictSchema, meta, opt
from api.schemas.definition import AppDefinition, build_app, dump_app, load_checked
from api.schemas.fields import (
    PATH_MISSING,
    AtLeast,
    JsonBoolean,
    JsonList,
    JsonNested,
    JsonNumber,
    JsonString,
)
from api.schemas.paths import (
    ROOT,
    app_path_problem,
    group_path_problem,
    is_direct_child,
    not_child_message,
    parent_of,
    resolve,
)

MSG_EXCLUSIVE = "not allowed in conjunction with other properties."
MSG_SAME_ID = "Groups and Applications may not have the same identifier."
MSG_CYCLE = "Dependency graph has cyclic dependencies."
MSG_ENFORCE_ROLE_TOP_LEVEL = "enforceRole can only be set for top-level groups"
MSG_NO_PODS = "pods are not supported"


class PodSchema(StrictSchema):
    """A pod. Not supported: a group body may only carry an empty ``pods`` list (what GET returns)."""


class GroupSchema(StrictSchema):
    """A Marathon group (GroupUpdate on input, GroupInfo on output)."""

    id = opt(JsonString(metadata=meta("Group path; relative to the enclosing group (or the URL's group).")))
    apps = opt(JsonList(JsonNested(AppSchema), metadata=meta("Apps directly in this group.")))
    groups = opt(JsonList(JsonNested(lambda: GroupSchema()), metadata=meta("Child groups.")))
    pods = opt(JsonList(JsonNested(PodSchema), metadata=meta("Always empty: pods are not supported.", [])))
    dependencies = opt(JsonList(JsonString(), metadata=meta(
        "Apps or groups everything in this group depends on.", [])))
    version = opt(JsonString(metadata=meta("Output: the group version. Input (alone): roll back to it.")))
    scaleBy = opt(JsonNumber(validate=AtLeast(0.0, double=True), metadata=meta(
        "Input only, alone: multiply the instances of every app below the group.")))
    enforceRole = opt(JsonBoolean(metadata=meta(
        "Top-level groups: new apps get the group's role. Not echoed (marathon-python 0.13 rejects it).")))


GROUP_SCHEMA = GroupSchema()


@dataclass(frozen=True, slots=True)
class GroupDefinition:
    """A loaded group body: a tree of app definitions, or a rollback / scale request."""

    id: str
    apps: tuple[AppDefinition, ...] | None = None
    groups: tuple[GroupDefinition, ...] | None = None
    dependencies: tuple[str, ...] | None = None
    enforce_role: bool | None = None
    version: str | None = None
    """Set when the body asked to roll back to this version (and nothing else is set)."""
    scale_by: float | None = None
    """Set when the body asked to scale every app below by this factor (and nothing else is set)."""

    def all_apps(self) -> Iterator[AppDefinition]:
        yield from self.apps or ()
        for group in self.groups or ():
            yield from group.all_apps()

    def all_groups(self) -> Iterator[GroupDefinition]:
        yield self
        for group in self.groups or ():
            yield from group.all_groups()


def load_group(
    json_dict: Any,
    *,
    group_id: str = ROOT,
    default_role: str = "*",
    default_network_name: str | None = None,
    enforced: frozenset[str] = frozenset(),
) -> GroupDefinition:
    """Validate a group body sent to ``/v2/groups{group_id}``; the body's ``id`` resolves against it.

    ``enforced``: the top-level groups that have ``enforceRole`` already; their new apps get the group role
    when the body does not say ``enforceRole`` again (``"enforceRole": false`` turns it off).

    Raises ``InvalidDefinition`` with every problem of the tree (paths such as ``/groups(0)/apps(1)/cpus``).
    """
    body, field_violations = load_checked(GROUP_SCHEMA, json_dict)
    group = resolve(body["id"], group_id) if "id" in body else resolve(group_id)
    problems: list[Violation] = []
    problem = group_path_problem(group)
    if problem is not None:
        problems.append(Violation("/id", problem))
    for key in ("version", "scaleBy"):
        if key in body and len(body) > 1:
            problems.append(Violation(f"/{key}", MSG_EXCLUSIVE))
    if problems or (field_violations and ("version" in body or "scaleBy" in body)):
        raise InvalidDefinition([*field_violations, *problems])
    if "version" in body:
        return GroupDefinition(id=group, version=body["version"])
    if "scaleBy" in body:
        return GroupDefinition(id=group, scale_by=body["scaleBy"])
    builder = _TreeBuilder(default_network_name, field_violations)
    builder.enforced = enforced
    definition = builder.build(body, group, "", default_role)
    builder.problems.extend(builder.pending)
    builder.problems.extend(_cycles(definition))
    if builder.problems:
        raise InvalidDefinition(builder.problems)
    return definition


class _TreeBuilder:
    def __init__(self, default_network_name: str | None, field_violations: Sequence[Violation]) -> None:
        self.default_network_name = default_network_name
        self.problems: list[Violation] = []
        self.pending = list(field_violations)
        """Value-rule violations of the load, not yet handed to the app they belong to."""
        self.enforced: frozenset[str] = frozenset()
        """Top-level groups with ``enforceRole`` in the current root."""

    def take_pending(self, path: str) -> list[Violation]:
        """The pending violations inside ``path``, re-rooted at it (``/apps(1)/cpus`` -> ``/cpus``)."""
        own = [v for v in self.pending if v.path == path or v.path.startswith(path + "/")]
        self.pending = [v for v in self.pending if v not in own]
        return [Violation(v.path[len(path):] or ROOT, v.message) for v in own]

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Violation(path or ROOT, message))

    def build(self, body: Mapping[str, Any], group: str, prefix: str, default_role: str) -> GroupDefinition:
        enforce_role = body.get("enforceRole")
        if enforce_role and (group == ROOT or parent_of(group) != ROOT):
            self.fail(f"{prefix}/enforceRole", MSG_ENFORCE_ROLE_TOP_LEVEL)
        if (enforce_role or (enforce_role is None and group in self.enforced)) and parent_of(group) == ROOT \
                and group != ROOT:
            default_role = group.strip("/")  # Marathon: apps in such a group default to the group's role
        if body.get("pods"):
            self.fail(f"{prefix}/pods", MSG_NO_PODS)
        dependencies = None
        if "dependencies" in body:
            dependencies = tuple(dict.fromkeys(resolve(d, group) for d in body["dependencies"]))
            for index, dependency in enumerate(dependencies):
                problem = app_path_problem(dependency)
                if problem is not None:
                    self.fail(f"{prefix}/dependencies({index})", problem)
        apps = None
        if "apps" in body:
            apps = tuple(self._apps(body["apps"], group, prefix, default_role))
        groups = None
        if "groups" in body:
            groups = tuple(self._groups(body["groups"], group, prefix, default_role))
        app_ids = [a.id for a in apps or ()]
        group_ids = [g.id for g in groups or ()]
        if set(app_ids) & set(group_ids):
            self.fail(prefix, MSG_SAME_ID)
        return GroupDefinition(id=group, apps=apps, groups=groups, dependencies=dependencies, enforce_role=enforce_role)

    def _apps(self, bodies: Sequence[Mapping[str, Any]], group: str, prefix: str,
              default_role: str) -> Iterator[AppDefinition]:
        seen: set[str] = set()
        for index, app_body in enumerate(bodies):
            path = f"{prefix}/apps({index})"
            own = self.take_pending(path)
            if "id" not in app_body:
                self.problems.extend(InvalidDefinition([*own, Violation("/id", PATH_MISSING)]).prefixed(path).violations)
                continue
            try:
                app = build_app(app_body, base_path=group, default_role=default_role,
                                default_network_name=self.default_network_name, field_violations=own)
            except InvalidDefinition as error:
                self.problems.extend(error.prefixed(path).violations)
                continue
            if not is_direct_child(app.id, group):
                self.fail(f"{path}/id", not_child_message(app.id, group))
            elif app.id in seen:
                self.fail(f"{path}/id", f"App {app.id} is defined more than once")
            seen.add(app.id)
            yield app

    def _groups(self, bodies: Sequence[Mapping[str, Any]], group: str, prefix: str,
                default_role: str) -> Iterator[GroupDefinition]:
        seen: set[str] = set()
        for index, child_body in enumerate(bodies):
            path = f"{prefix}/groups({index})"
            if "id" not in child_body:
                self.fail(f"{path}/id", PATH_MISSING)
                continue
            child = resolve(child_body["id"], group)
            problem = group_path_problem(child)
            if problem is not None:
                self.fail(f"{path}/id", problem)
                continue
            if not is_direct_child(child, group):
                self.fail(f"{path}/id", not_child_message(child, group))
                continue
            if child in seen:
                self.fail(f"{path}/id", f"Group {child} is defined more than once")
            seen.add(child)
            for key in ("version", "scaleBy"):
                if key in child_body:
                    self.fail(f"{path}/{key}", MSG_EXCLUSIVE)
            yield self.build(child_body, child, path, default_role)


def _under(path: str, target: str) -> bool:
    return path == target or path.startswith(target.rstrip("/") + "/")


def _cycles(root: GroupDefinition) -> list[Violation]:
    """Dependency cycles among the apps of the loaded tree (group dependencies apply to their subtree)."""
    apps: dict[str, set[str]] = {}

    def collect(group: GroupDefinition, inherited: tuple[str, ...]) -> None:
        here = inherited + (group.dependencies or ())
        for app in group.apps or ():
            apps[app.id] = set(here) | set(app.definition["dependencies"])
        for child in group.groups or ():
            collect(child, here)

    collect(root, ())
    edges = {app: {other for other in apps if other != app and any(_under(other, d) for d in deps)}
             for app, deps in apps.items()}
    state: dict[str, int] = {}

    def cyclic(node: str) -> bool:
        state[node] = 1
        for nxt in edges[node]:
            if state.get(nxt) == 1 or (state.get(nxt) is None and cyclic(nxt)):
                return True
        state[node] = 2
        return False

    for app in edges:
        if state.get(app) is None and cyclic(app):
            return [Violation(ROOT, MSG_CYCLE)]
    return []


def dump_group(
    group: GroupDefinition,
    *,
    version_of: Callable[[str], str | None] | None = None,
    app_dump: Callable[[AppDefinition], dict[str, Any]] | None = None,
    include_enforce_role: bool = False,
    embed_apps: bool = True,
    embed_groups: bool = True,
) -> dict[str, Any]:
    """GroupInfo JSON. ``version_of(group_id)`` gives each group's version; ``app_dump`` renders an app
    (default ``dump_app`` without version). ``enforceRole`` only with ``include_enforce_role`` (see module doc).
    """
    render = app_dump or (lambda app: dump_app(app))
    out: dict[str, Any] = {"id": group.id}
    out["apps"] = [render(app) for app in group.apps or ()] if embed_apps else []
    out["groups"] = [
        dump_group(child, version_of=version_of, app_dump=app_dump, include_enforce_role=include_enforce_role,
                   embed_apps=embed_apps, embed_groups=embed_groups)
        for child in group.groups or ()
    ] if embed_groups else []
    out["pods"] = []
    out["dependencies"] = list(group.dependencies or ())
    version = version_of(group.id) if version_of is not None else None
    if version is not None:
        out["version"] = version
    if include_enforce_role:
        out["enforceRole"] = bool(group.enforce_role)
    return out
