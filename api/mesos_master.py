"""Which Mesos master the API reads agent facts from (``/master/slaves``: the agents that serve task files and
usage, the cluster view of the UI).

Owns ``mesos_master_of``: the configured master when it is an address, else (``zk://``, where masters come and
go) the master the scheduler is subscribed to right now (``Platform.mesos_master``), or ``None`` while that is
unknown (a standby, or no master detected yet). Read it per request: it changes with a master failover.
"""

from __future__ import annotations

from aiohttp import web


def mesos_master_of(app: web.Application) -> str | None:
    from api.app import CONFIG  # api.app imports the route modules that import this one
    from api.routes_apps import PLATFORM
    configured = app[CONFIG].master
    if configured and not configured.startswith(("zk://", "zoo://")):
        return configured.removeprefix("http://").rstrip("/")
    try:
        found = getattr(app[PLATFORM], "mesos_master", None)
    except Exception:  # a standby between terms: there is no runtime to ask
        found = None
    return found if isinstance(found, str) and found else None


__all__ = ["mesos_master_of"]
