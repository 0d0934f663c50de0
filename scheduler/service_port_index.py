"""The leader's index of the stored apps' service ports, kept beside the stored definitions.

Owns building the index at load (``build``) and moving it with a committed change (``move``: only the apps
the change touched). An app's ports are those of its current definition (the one stored under its current
version); an app without one holds none, as before the index existed. Pure functions over the runtime's
state; the runtime calls them after its state moved.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from mesospaas.model.app import AppSpec
from mesospaas.model.ids import AppId, AppVersion
from mesospaas.routing.service_ports import ServicePortIndex, service_ports


def _ports(app_id: AppId, apps: Mapping[AppId, AppSpec],
           definitions: Mapping[AppId, Mapping[AppVersion, bytes]]) -> list[int]:
    app = apps.get(app_id)
    raw = definitions.get(app_id, {}).get(app.version) if app is not None else None
    return service_ports(json.loads(raw)) if raw is not None else []


def build(apps: Mapping[AppId, AppSpec], definitions: Mapping[AppId, Mapping[AppVersion, bytes]]) -> ServicePortIndex:
    index = ServicePortIndex()
    for app_id in apps:
        index.put(app_id, _ports(app_id, apps, definitions))
    return index


def move(index: ServicePortIndex, touched: Iterable[AppId], apps: Mapping[AppId, AppSpec],
         definitions: Mapping[AppId, Mapping[AppVersion, bytes]]) -> None:
    """Brings ``index`` up to date for ``touched`` apps (changed, created or removed)."""
    for app_id in touched:
        if app_id in apps:
            index.put(app_id, _ports(app_id, apps, definitions))
        else:
            index.drop(app_id)
