"""Routing: a marathon-lb style HAProxy configuration generator (pure, standard library only).

- ``apps``: the public v2 JSON (``/v2/apps?embed=apps.tasks``) parsed into plain dataclasses.
- ``services``: which apps, ports and tasks become frontends and servers (groups, health gating, draining,
  blue/green deployment groups), and which apps are left out and why.
- ``templates``: marathon-lb's template set (defaults are package data), overridable by file, environment
  and per-port label.
- ``render``: services in, HAProxy configuration text out; stable (same input, same text), with spare
  server slots so server-only changes can go through HAProxy's runtime API.
- ``runtime_plan``: the runtime API commands that turn the servers HAProxy runs into the wanted ones, or
  ``None`` when only a reload can.
- ``blue_green``: the pure decisions of ``mesospaas lb zdd`` (colours, labels, scaling steps, drained tasks).
- ``service_ports``: Marathon's service port assignment (0 = "assign one").

Nothing here does I/O beyond reading its own package data; the shell (``scheduler/lb``) fetches, resolves
host names, validates with ``haproxy -c`` and reloads.
"""

from mesospaas.routing.apps import ParsedApps, RoutedApp, RoutedHealthCheck, RoutedTask, apps_from_json
from mesospaas.routing.render import Rendered, RenderOptions, ServerSlot, TemplateError, render, slot_capacity
from mesospaas.routing.services import Excluded, Server, ServerState, Service, Services, build_services
from mesospaas.routing.templates import Templates, default_templates

__all__ = [
    "Excluded",
    "ParsedApps",
    "Services",
    "TemplateError",
    "slot_capacity",
    "Rendered",
    "RenderOptions",
    "RoutedApp",
    "RoutedHealthCheck",
    "RoutedTask",
    "Server",
    "ServerSlot",
    "ServerState",
    "Service",
    "Templates",
    "apps_from_json",
    "build_services",
    "default_templates",
    "render",
]
