"""The framework's Mesos roles follow its apps: UPDATE_FRAMEWORK when the set of roles in use changes.

Owns ``sync_roles``, the runtime's hook after a change of the root group is committed (and after every
(re)subscription): the roles the framework should hold are ``mesospaas.tenancy.roles.framework_roles``
(the default role plus every app's role, e.g. ``team-a`` once ``/team-a`` has ``enforceRole``); when they
differ from what the driver is subscribed with, the driver sends ``UPDATE_FRAMEWORK`` (``MesosDriver
.update_roles``). Offers for a new role can only come after that, so the hook runs before the runtime
revives for the change's apps.

Fails: never raises; a refused or lost call is logged and retried at the next hook (a later change or the
next re-subscription, which carries the roles anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from mesospaas.model.group import Group
from mesospaas.tenancy.roles import framework_roles
from scheduler.acting import NotLeader
from scheduler.mesos_driver import MesosCallError

log = logging.getLogger(__name__)


async def sync_roles(driver: Any, root: Group, default_role: str, extra: Iterable[str] = ()) -> bool:
    """Subscribes ``driver`` with the roles ``root`` uses; True when it sent a change."""
    if driver is None:
        return False
    wanted = framework_roles(root, default_role, extra)
    if tuple(driver.roles) == wanted:
        return False
    try:
        changed: bool = await driver.update_roles(wanted)
    except (MesosCallError, NotLeader) as exc:
        log.warning("cannot subscribe the framework with roles %s: %s", ", ".join(wanted), exc)
        return False
    if changed:
        log.info("framework roles are now %s", ", ".join(wanted))
    return changed


__all__ = ["sync_roles"]
