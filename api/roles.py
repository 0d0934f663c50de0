"""Mesos roles at the API boundary (Marathon 1.9+'s ``role`` and a top-level group's ``enforceRole``).

Owns what the app and group routes ask about roles; the rules are ``mesospaas.tenancy.roles`` (pure):

- ``framework_role(request)``: the default role (``--mesos-role``, ``*`` when not configured).
- ``app_default_role(request, app_id)``: the role an app body without ``role`` gets: its top-level group's
  role when that group has ``enforceRole``, else the default role.
- ``enforced_groups(request)``: the top-level groups with ``enforceRole`` now (a group body that does not
  repeat ``enforceRole`` still gives its new apps the group role).
- ``checked_roles(before, after, default_role, path_of)``: run inside the deploy edit (so it sees the root the
  change is applied to); an app whose role is not one it may have is refused with Marathon's 422
  ``{"message": "Object is not valid", "details": [{"path": "/role", "errors": ["is not one of (team-a)"]}]}``
  and nothing changes. ``path_of(app_id)`` says where the app is in the request body (``/role`` for a single
  app, ``/(1)/role`` in an app list, ``/apps(/team-a/web)/role`` in a group body).

Fails: ``RoleRejected`` (an ``InvalidDefinition``, 422; a ``ValueError`` too, so the runtime reports it to the
caller and goes on).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from api.errors import InvalidDefinition, Violation
from mesospaas.model.group import Group
from mesospaas.model.ids import AppId
from mesospaas.tenancy.roles import default_role_for, role_violations


class RoleRejected(InvalidDefinition, ValueError):
    """422: an app names a role it may not have."""


def framework_role(request: web.Request) -> str:
    from api.app import CONFIG  # api.app registers the routes that call this

    return request.app[CONFIG].mesos_role or "*"


def _root(request: web.Request) -> Group:
    from api.routes_apps import platform_of

    root: Group = platform_of(request).state.root
    return root


def app_default_role(request: web.Request, app_id: str) -> str:
    return default_role_for(_root(request), app_id, framework_role(request))


def body_default_role(request: web.Request, body: Any, base_path: str = "/") -> str:
    """``app_default_role`` for the app a POST body defines (its ``id`` resolved against ``base_path``)."""
    raw = body.get("id") if isinstance(body, dict) else None
    if not isinstance(raw, str) or not raw.strip("/"):
        return framework_role(request)
    app_id = raw if raw.startswith("/") else base_path.rstrip("/") + "/" + raw
    return app_default_role(request, "/" + app_id.strip("/"))


def enforced_groups(request: web.Request) -> frozenset[str]:
    return frozenset(str(g.id) for g in _root(request).groups.values() if g.enforce_role)


def group_load_roles(request: web.Request, path: str) -> dict[str, Any]:
    """The role arguments of ``load_group`` for a body sent to ``/v2/groups{path}``: the role its apps get
    (the enforced role of the top-level group ``path`` is in, else the default role) and the groups that
    enforce their role now."""
    return {"default_role": app_default_role(request, path.rstrip("/") + "/app"),
            "enforced": enforced_groups(request)}


def single_app_path(_: AppId) -> str:
    return "/role"


def group_app_path(app_id: AppId) -> str:
    return f"/apps({app_id})/role"


def checked_roles(before: Group, after: Group, default_role: str,
                  path_of: Callable[[AppId], str] = group_app_path) -> Group:
    """``after`` when every changed app's role is valid; else ``RoleRejected``."""
    problems = role_violations(before, after, default_role)
    if problems:
        raise RoleRejected([Violation(path_of(p.app_id), p.message) for p in problems])
    return after


__all__ = ["RoleRejected", "app_default_role", "body_default_role", "checked_roles", "enforced_groups",
           "framework_role", "group_app_path", "group_load_roles", "single_app_path"]
