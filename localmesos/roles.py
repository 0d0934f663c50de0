"""Multi-role frameworks in localmesos, as a real Mesos 1.9+ master treats them.

Owns the per-role parts of the master (``localmesos.master`` calls these):

- ``subscribed_roles(info)``: ``FrameworkInfo.roles`` (MULTI_ROLE) or the deprecated ``role`` (default ``*``).
- Allocation: an agent's free resources go to *one* role of a framework at a time (``pick_role``): the roles
  take turns per agent, skipping suppressed roles and roles whose filter for the agent still holds, so when
  a role declines (or its offer goes back) the next role gets the agent and every role gets offers. The
  offer and each of its resources carry ``allocation_info.role`` (the master's ``_offer_json``).
- Filters are per (agent, role) (``filter_key``); ``drop_agent_filters`` forgets an agent's for every role.
- ``suppress`` / ``revive`` with ``roles`` (empty: every role). A REVIVE naming a role the framework is not
  subscribed with is dropped whole (logged), as the real master does.
- ``update_framework``: the v1 ``UPDATE_FRAMEWORK`` call's effect once the master validated it: the new
  ``FrameworkInfo`` (roles included, visible in ``/master/state`` ``frameworks[].roles``), the roles of
  ``suppressed_roles`` suppressed and every other role not, offers of roles no longer subscribed rescinded,
  their filters dropped.
- ``task_role``: the role a launched task runs under (its resources' ``allocation_info.role``).

Invariant: ``Framework.suppressed`` is True only when every subscribed role is suppressed (the allocator
skips such a framework entirely). Fails: ``update_framework`` returns an error message for invalid roles.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localmesos.master import Framework, Master

log = logging.getLogger(__name__)

_SEP = "\x00"


def subscribed_roles(info: dict[str, Any]) -> list[str]:
    roles = info.get("roles")
    if isinstance(roles, list) and roles:
        return [str(r) for r in roles]
    return [str(info.get("role") or "*")]


def filter_key(agent_id: str, role: str) -> str:
    """The key of a framework's offer filter: one per agent and role."""
    return f"{agent_id}{_SEP}{role}"


def drop_agent_filters(fw: Framework, agent_id: str) -> None:
    for key in [k for k in fw.filters if k.split(_SEP, 1)[0] == agent_id]:
        del fw.filters[key]


def _drop_role_filters(fw: Framework, roles: Iterable[str]) -> None:
    wanted = set(roles)
    for key in [k for k in fw.filters if k.split(_SEP, 1)[-1] in wanted]:
        del fw.filters[key]


def _sync_suppressed(fw: Framework) -> None:
    fw.suppressed = set(subscribed_roles(fw.info)) <= fw.suppressed_roles


def set_suppressed(fw: Framework, suppressed: Iterable[str]) -> None:
    """Exactly ``suppressed`` (of the subscribed roles) are suppressed: SUBSCRIBE's ``suppressed_roles``."""
    fw.suppressed_roles = set(map(str, suppressed)) & set(subscribed_roles(fw.info))
    fw.role_turns.clear()
    _sync_suppressed(fw)


def pick_role(fw: Framework, agent_id: str, filtered: Callable[[str], bool]) -> str | None:
    """The role of ``fw`` that gets ``agent_id``'s free resources now (its turn moves on), or None."""
    roles = [r for r in subscribed_roles(fw.info) if r not in fw.suppressed_roles]
    if not roles:
        return None
    start = fw.role_turns.get(agent_id, 0)
    for step in range(len(roles)):
        index = (start + step) % len(roles)
        if not filtered(filter_key(agent_id, roles[index])):
            fw.role_turns[agent_id] = index + 1
            return roles[index]
    return None


def suppress(fw: Framework, roles: Iterable[str]) -> None:
    named = list(roles)
    fw.suppressed_roles |= set(named or subscribed_roles(fw.info))
    _sync_suppressed(fw)


def revive(fw: Framework, roles: Iterable[str]) -> bool:
    """Un-suppresses ``roles`` (every role if empty) and clears their filters; False: the call was dropped."""
    named = list(roles)
    subscribed = subscribed_roles(fw.info)
    unknown = [r for r in named if r not in subscribed]
    if unknown:
        log.info("framework %s: dropping REVIVE for roles it is not subscribed with: %s", fw.id, unknown)
        return False
    chosen = named or subscribed
    fw.suppressed_roles -= set(chosen)
    _drop_role_filters(fw, chosen)
    _sync_suppressed(fw)
    return True


def update_framework(master: Master, fw: Framework, info: dict[str, Any], suppressed_roles: Iterable[str]) -> None:
    """Applies a validated UPDATE_FRAMEWORK: new info and roles; suppression is exactly ``suppressed_roles``."""
    before = set(subscribed_roles(fw.info))
    fw.info = {**fw.info, **info}
    if "roles" in info:
        fw.info.pop("role", None)
    after = set(subscribed_roles(fw.info))
    removed = before - after
    for offer in [o for o in fw.offers.values() if o.role in removed]:
        master._remove_offer(fw, offer)
        master._send(fw, {"type": "RESCIND", "rescind": {"offer_id": {"value": offer.id}}})
    _drop_role_filters(fw, removed)
    set_suppressed(fw, suppressed_roles)
    master.request_allocation()


def suppressed_roles_error(info: dict[str, Any], suppressed: Any) -> str | None:
    """The UPDATE_FRAMEWORK/SUBSCRIBE rule: ``suppressed_roles`` must be a subset of the roles."""
    if suppressed is None:
        return None
    if not isinstance(suppressed, list):
        return "'suppressed_roles' must be a list"
    unknown = sorted(set(map(str, suppressed)) - set(subscribed_roles(info)))
    if unknown:
        return f"Suppressed roles {{ {', '.join(unknown)} }} are not contained in the set of roles"
    return None


def task_role(task_info: dict[str, Any], fallback: str) -> str:
    """The allocation role of a task's resources (the offer's role), else ``fallback``."""
    for resource in task_info.get("resources") or []:
        role = ((resource or {}).get("allocation_info") or {}).get("role") if isinstance(resource, dict) else None
        if role:
            return str(role)
    return fallback


__all__ = ["drop_agent_filters", "filter_key", "pick_role", "revive", "set_suppressed", "subscribed_roles",
           "suppress", "suppressed_roles_error", "task_role", "update_framework"]
