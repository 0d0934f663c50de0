"""Core groups and deployment plans as Marathon JSON: GroupInfo, dry-run steps, and the heavy event plan.

Owns:

- ``group_json(group, app_json, ...)``: GroupInfo for a core ``Group`` (``{id, apps, groups, pods,
  dependencies, version}``), which ``GET /v2/groups`` and the plan renderer share. It never emits
  ``enforceRole``: the released marathon-python 0.13.0 parses groups (``MarathonGroup``) and plan states
  (``MarathonDeployment{Original,Target}State``) with exactly ``apps, dependencies, groups, id, pods,
  version`` and raises ``TypeError`` on any other key.
- ``steps_json(plan)``: ``[{"actions": [{"action", "app"}]}]`` (``/v2/deployments``, dry runs, events).
- ``plan_json(plan, app_json)``, ``stored_app_json`` and ``HeavyPlans``: the pre-1.7 "heavy" plan of the
  deployment events, ``{id, version, steps, original, target}`` with both roots rendered in full.
  marathon-python's ``MarathonDeploymentPlan`` requires ``original`` and ``target`` and accepts no other
  key, so nothing else is added here.
- ``minimal_app_json(app, dependencies)``: what can be said about an app from its ``AppSpec`` alone, for
  apps whose stored definition is gone (the runtime drops a removed app's definitions when the deployment
  that removes it starts, so a plan's ``original`` may name apps nobody can look up any more).

Apps inside a rendered plan are their stored definitions (as ``GET /v2/apps/{id}/versions/{v}`` returns
them) plus ``version``/``versionInfo``; no counts, tasks or deployments (those describe the present, not
the plan). Rendering runs on the runtime's loop (the events are published there), so it is cached twice:
``HeavyPlans`` renders each plan once and reuses it for the plan's later events (``deployment_step_success``,
``deployment_success``), and ``stored_app_json`` renders each (app, version) once, so a plan of a big root
costs a dict lookup per unchanged app (10 000 apps: ~0.4 s the first time, ~15 ms after). Both caches are
bounded. The rendered dicts are shared by every subscriber and every plan: treat them as read-only.

Fails: never raises for a well-formed plan; a definition that cannot be read back falls back to the
minimal rendering.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from api.platform import Platform
from api.schemas.extensions import public_definition
from mesospaas.model import AppId, AppSpec
from mesospaas.model.app import PortDefinition
from mesospaas.model.deployment import DeploymentPlan
from mesospaas.model.group import Group

AppJson = Callable[[AppSpec, frozenset[str]], "dict[str, Any] | None"]
"""Renders one app of a group (``None`` leaves it out); gets the app's declared dependencies."""

DefinitionLookup = Callable[[Platform, AppId, Any], "dict[str, Any] | None"]
"""``(platform, app_id, version) -> stored definition as a dict`` (``Renderer.definition``)."""

PLAN_CACHE_SIZE = 16
APP_CACHE_SIZE = 50_000


def steps_json(plan: DeploymentPlan) -> list[dict[str, Any]]:
    return [{"actions": [{"action": a.name, "app": a.app} for a in step.actions]} for step in plan.steps]


def group_json(group: Group, app_json: AppJson, *, apps: bool = True, groups: bool = True,
               pods: bool = True) -> dict[str, Any]:
    """GroupInfo of ``group``; ``apps``/``groups``/``pods`` say which lists are embedded (Marathon leaves a
    list out, rather than sending it empty, when it is not embedded). Child groups are rendered the same way."""
    out: dict[str, Any] = {"id": group.id}
    if apps:
        rendered = (app_json(app, group.app_dependencies.get(app_id, frozenset()))
                    for app_id, app in group.apps.items())
        out["apps"] = [a for a in rendered if a is not None]
    if groups:
        out["groups"] = [group_json(child, app_json, apps=apps, groups=groups, pods=pods)
                         for child in group.groups.values()]
    if pods:
        out["pods"] = []
    out["dependencies"] = sorted(group.dependencies)
    out["version"] = group.version
    return out


def version_info(app: AppSpec) -> dict[str, str]:
    return {"lastScalingAt": app.version, "lastConfigChangeAt": app.effective_config_version}


def _port_json(port: PortDefinition) -> dict[str, Any]:
    out: dict[str, Any] = {"port": port.port, "protocol": port.protocol}
    if port.name is not None:
        out["name"] = port.name
    if port.labels:
        out["labels"] = dict(port.labels)
    return out


def minimal_app_json(app: AppSpec, dependencies: Iterable[str] = ()) -> dict[str, Any]:
    """The app as far as its ``AppSpec`` tells (no container, checks or fetch details: those live only in the
    stored definition). Keys stay within what marathon-python's ``MarathonApp`` accepts."""
    out: dict[str, Any] = {
        "id": app.id, "cmd": app.cmd, "args": list(app.args) if app.args is not None else None, "user": app.user,
        "env": dict(app.env), "labels": dict(app.labels), "instances": app.instances, "cpus": app.cpus,
        "mem": app.mem, "disk": app.disk, "gpus": app.gpus,
        "constraints": [[c.field, c.operator.value] + ([c.value] if c.value is not None else [])
                        for c in app.constraints],
        "portDefinitions": [_port_json(p) for p in app.port_definitions], "requirePorts": app.require_ports,
        "backoffSeconds": app.backoff_seconds, "backoffFactor": app.backoff_factor,
        "maxLaunchDelaySeconds": app.max_launch_delay_seconds, "killSelection": app.kill_selection.value,
        "role": app.role, "dependencies": sorted(dependencies),
        "upgradeStrategy": {"minimumHealthCapacity": app.upgrade_strategy.minimum_health_capacity,
                            "maximumOverCapacity": app.upgrade_strategy.maximum_over_capacity},
        "version": app.version, "versionInfo": version_info(app),
    }
    return {key: value for key, value in out.items() if value is not None}


def plan_json(plan: DeploymentPlan, app_json: AppJson) -> dict[str, Any]:
    """The heavy plan: ``{id, version, steps, original, target}``, both roots rendered with ``app_json``."""
    return {"id": plan.id, "version": plan.version, "steps": steps_json(plan),
            "original": group_json(plan.original, app_json), "target": group_json(plan.target, app_json)}


def stored_app_json(platform: Platform, definition: DefinitionLookup,
                    cache_size: int = APP_CACHE_SIZE) -> AppJson:
    """Renders an app of a (possibly past) group from its stored definition at the app's version, plus
    ``version``/``versionInfo``; ``minimal_app_json`` when that definition is gone or unreadable.

    An (app, version) is immutable, so its rendering is cached (bounded; cleared when full) and shared by
    every plan that holds it: consecutive plans of a big root re-render only the apps that changed. The
    results are shared: read-only."""
    cache: dict[tuple[AppId, str, frozenset[str]], dict[str, Any]] = {}

    def render(app: AppSpec, dependencies: frozenset[str]) -> dict[str, Any]:
        key = (app.id, app.version, dependencies)
        cached = cache.get(key)
        if cached is not None:
            return cached
        try:
            stored = definition(platform, app.id, app.version)
        except (ValueError, LookupError):  # unreadable stored JSON: say what the spec knows
            stored = None
        if stored is None or stored.get("id") != app.id:
            rendered = minimal_app_json(app, dependencies)
        else:
            rendered = {**public_definition(stored), "version": app.version, "versionInfo": version_info(app)}
        if len(cache) >= cache_size:
            cache.clear()
        cache[key] = rendered
        return rendered

    return render


class HeavyPlans:
    """``platform.plan_json`` for the events: the heavy plan, apps from the stored definitions.

    ``definition(platform, app_id, version)`` returns a stored definition as a dict (or ``None``); the API's
    ``Renderer.definition`` fits, and its cache keeps definitions the runtime has since dropped.
    """

    def __init__(self, platform: Platform, definition: DefinitionLookup) -> None:
        self.app_json = stored_app_json(platform, definition)
        self._rendered: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def __call__(self, plan: DeploymentPlan) -> dict[str, Any]:
        cached = self._rendered.get(plan.id)
        if cached is not None and cached["version"] == plan.version:
            self._rendered.move_to_end(plan.id)
            return cached
        rendered = plan_json(plan, self.app_json)
        self._rendered[plan.id] = rendered
        while len(self._rendered) > PLAN_CACHE_SIZE:
            self._rendered.popitem(last=False)
        return rendered


__all__ = ["HeavyPlans", "stored_app_json", "group_json", "minimal_app_json", "plan_json", "steps_json",
           "version_info"]
