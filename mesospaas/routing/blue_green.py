"""Blue/green deployments as marathon-lb's ``zdd.py`` does them: the pure decisions.

Owns: ``BlueGreenError``, ``new_colour`` (the next colour's app definition), ``next_instances`` (how far to
scale the new colour next), ``Listener`` and ``listeners`` (the lb's HAProxy stats CSV for one backend).

Convention (reference §8.5): the app carries ``HAPROXY_DEPLOYMENT_GROUP`` (the pair's name and the served
backend ``<group>_<port>``) and ``HAPROXY_DEPLOYMENT_ALT_PORT``. The new colour gets the id
``<id>-<colour>``, ``HAPROXY_DEPLOYMENT_COLOUR`` (blue/green alternate), ``..._STARTED_AT``,
``..._TARGET_INSTANCES`` (the old colour's instances), ``HAPROXY_APP_ID`` and ``HAPROXY_0_PORT`` = the
original service port (both colours bind it); its own service port alternates between the original and
ALT_PORT. The lb drains old tasks as new ones become healthy (``mesospaas.routing.services``).
"""

from __future__ import annotations

import copy
import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class BlueGreenError(ValueError):
    pass


GROUP, ALT_PORT, COLOUR = "HAPROXY_DEPLOYMENT_GROUP", "HAPROXY_DEPLOYMENT_ALT_PORT", "HAPROXY_DEPLOYMENT_COLOUR"


def _first_service_port(app: Mapping[str, Any]) -> int:
    ports = [p.get("port", 0) for p in app.get("portDefinitions") or ()]
    mappings = [m.get("servicePort", 0) for m in (app.get("container") or {}).get("portMappings") or ()]
    found = ports or mappings
    if not found:
        raise BlueGreenError(f"app {app.get('id')} has no service port")
    return int(found[0])


def _set_first_service_port(app: dict[str, Any], port: int) -> None:
    if app.get("portDefinitions"):
        app["portDefinitions"][0]["port"] = port
    else:
        app["container"]["portMappings"][0]["servicePort"] = port


def deployment_group_apps(definition: Mapping[str, Any], apps: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    group = (definition.get("labels") or {}).get(GROUP)
    if not group:
        raise BlueGreenError(f"the app needs the {GROUP} label")
    if not (definition.get("labels") or {}).get(ALT_PORT):
        raise BlueGreenError(f"the app needs the {ALT_PORT} label")
    return [a for a in apps if (a.get("labels") or {}).get(GROUP) == group]


def new_colour(definition: Mapping[str, Any], old: Mapping[str, Any] | None, started_at: str,
               initial_instances: int, new_instances: int = 0) -> dict[str, Any]:
    """The definition to create for the next colour (``old`` is the running colour, or None for the first)."""
    labels = dict(definition.get("labels") or {})
    base_id = str(labels.get("HAPROXY_APP_ID") or definition["id"]).rstrip("/")
    original_port = int(labels.get("HAPROXY_0_PORT") or _first_service_port(definition))
    alt_port = int(labels[ALT_PORT])
    app = copy.deepcopy(dict(definition))
    if old is None:
        colour, port, target = "blue", original_port, int(definition.get("instances", 1))
        instances = target
    else:
        old_labels = old.get("labels") or {}
        colour = "green" if old_labels.get(COLOUR) == "blue" else "blue"
        port = alt_port if _first_service_port(old) == original_port else original_port
        target = int(old.get("instances", 0)) or int(definition.get("instances", 1))
        instances = min(initial_instances, target)
    labels.update({COLOUR: colour, "HAPROXY_DEPLOYMENT_STARTED_AT": started_at,
                   "HAPROXY_DEPLOYMENT_TARGET_INSTANCES": str(target), "HAPROXY_APP_ID": base_id,
                   "HAPROXY_0_PORT": str(original_port)})
    if new_instances:
        labels["HAPROXY_DEPLOYMENT_NEW_INSTANCES"] = str(new_instances)
    app.update({"id": f"{base_id}-{colour}", "labels": labels, "instances": instances})
    _set_first_service_port(app, port)
    return app


def next_instances(current: int, target: int, initial: int, linear: bool) -> int:
    """The new colour's next size: x1.5 (or +initial with ``linear``), never past ``target``."""
    grown = current + max(1, initial) if linear else max(current + 1, math.ceil(current * 1.5))
    return min(target, grown)


@dataclass(frozen=True, slots=True)
class Listener:
    name: str
    address: str
    status: str
    sessions: int
    queued: int


def listeners(stats_csv: str, backend: str) -> list[Listener]:
    """The servers of ``backend`` in HAProxy's ``show stat`` / ``;csv`` output (spare slots left out)."""
    text = stats_csv.lstrip("# ")
    out: list[Listener] = []
    for row in csv.DictReader(io.StringIO(text)):
        if row.get("pxname") != backend or row.get("svname") in ("FRONTEND", "BACKEND", None):
            continue
        address = row.get("addr") or ""
        if address in ("", "127.0.0.1:1"):
            continue
        out.append(Listener(str(row["svname"]), address, str(row.get("status", "")),
                            int(row.get("scur") or 0), int(row.get("qcur") or 0)))
    return out
