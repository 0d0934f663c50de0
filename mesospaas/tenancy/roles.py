"""Tenants as Mesos roles (Marathon 1.9+'s multi-role): which role an app runs under, which roles it may
name, and which roles the framework must subscribe with. Pure.

Rules (Marathon's ``RoleSettings``):

- A top-level group ``/team-a`` has the *group role* ``team-a``. With ``enforceRole`` (``Group.enforce_role``)
  its apps run under that role: an app there that names no role gets it (``default_role_for``), and the
  only roles it may name are the group role and the role it already has (``valid_roles``; an app keeps its
  old role until it is changed, so turning ``enforceRole`` on breaks nothing that runs).
- Without ``enforceRole`` an app in ``/team-a`` may name the framework's default role (``--mesos-role``) or
  the group role (or the role it already has); it gets the default role.
- An app directly in the root group may only name the default role (or the one it has).
- ``role_violations(before, after, default_role)``: the apps of the change ``before -> after`` whose (new)
  role is not valid, each with the roles it could have (Marathon answers 422 ``/role`` "is not one of ...").
- ``framework_roles(root, default_role, extra)``: the default role plus every role an app (or ``extra``:
  job runs) uses, sorted, without duplicates: the ``roles`` of the framework's ``FrameworkInfo``
  (MULTI_ROLE). The shell re-subscribes its roles (UPDATE_FRAMEWORK) when this changes.

Fails: never (every function answers for any tree).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mesospaas.model.group import Group, GroupId, parent_of
from mesospaas.model.group_parts import changed_parts
from mesospaas.model.ids import AppId, path_segments


def group_role(app_id: str) -> str | None:
    """The role of the top-level group an app is in (``/team-a/web`` -> ``team-a``); None in the root."""
    parts = app_id.strip("/").split("/")
    return parts[0] if len(parts) > 1 and parts[0] else None


def enforced_role(root: Group, app_id: str) -> str | None:
    """The role ``app_id`` must run under because its top-level group has ``enforceRole``, or None."""
    role = group_role(app_id)
    if role is None:
        return None
    top = root.groups.get(GroupId("/" + role))
    return role if top is not None and top.enforce_role else None


def default_role_for(root: Group, app_id: str, default_role: str) -> str:
    """The role an app at ``app_id`` gets when it names none: its enforced group role, else the default."""
    return enforced_role(root, app_id) or default_role


def valid_roles(before: Group, after: Group, app_id: str, default_role: str) -> tuple[str, ...]:
    """The roles the app at ``app_id`` may have in ``after`` (``before``: the tree it is changed from), in
    Marathon's order: the group role when enforced, else the default and the group role; then its old role."""
    role = group_role(app_id)
    if role is None:
        roles = [default_role]
    elif enforced_role(after, app_id) is not None:
        roles = [role]
    else:
        roles = [default_role, role]
    existing = before.app(app_id)
    if existing is not None:
        roles.append(existing.role)
    return tuple(dict.fromkeys(roles))


@dataclass(frozen=True, slots=True)
class RoleViolation:
    app_id: AppId
    role: str
    valid: tuple[str, ...]

    @property
    def message(self) -> str:
        """Marathon's (Accord's ``in``) wording for the ``/role`` of the app."""
        return f"is not one of ({','.join(self.valid)})"


def role_violations(before: Group, after: Group, default_role: str) -> list[RoleViolation]:
    """The apps new in ``after``, or with another role than in ``before``, whose role is not valid, in the
    tree's order (groups parents first, siblings and apps by id). Looks only at the apps the change touches
    (``changed_parts``: untouched subtrees are skipped by identity), not at every app of the tree."""
    changed = changed_parts(before, after).put_apps
    found: list[RoleViolation] = []
    for app_id in sorted(changed, key=lambda a: (path_segments(parent_of(a)), a)):
        app = changed[app_id]
        previous = before.app(app_id)
        if previous is not None and previous.role == app.role:
            continue
        valid = valid_roles(before, after, app_id, default_role)
        if app.role not in valid:
            found.append(RoleViolation(app_id, app.role, valid))
    return found


def framework_roles(root: Group, default_role: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The roles the framework subscribes with: the default role and every role in use, sorted."""
    roles = {default_role, *extra}
    roles.update(app.role for app in root.all_apps().values())
    return tuple(sorted(roles))


__all__ = ["RoleViolation", "default_role_for", "enforced_role", "framework_roles", "group_role",
           "role_violations", "valid_roles"]
