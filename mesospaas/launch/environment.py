"""The environment a task gets, as Marathon gives it; the shell copies it into the Mesos ``TaskInfo``.

Owns: ``task_environment`` and ``env_name``. For a task of ``app`` placed on ``host`` with ``host_ports``
(in port-definition order):

- ``HOST``; ``PORT0``..``PORTn-1`` (host ports), ``PORT`` (= ``PORT0``), ``PORTS`` (comma-separated);
- ``PORT_<NAME>`` for each named port definition and ``PORT_<servicePort>`` for each non-zero one
  (e.g. ``PORT_HTTP=31002``, ``PORT_10000=31002``);
- ``MARATHON_APP_ID``, ``MARATHON_APP_VERSION``, ``MARATHON_APP_DOCKER_IMAGE`` (only with a Docker image),
  ``MARATHON_APP_RESOURCE_CPUS/MEM/DISK`` (Java ``Double.toString``: ``1.0``, ``128.0``) and ``..._GPUS``
  (an integer), ``MARATHON_APP_LABELS`` (the label names, space-separated) and ``MARATHON_APP_LABEL_<NAME>``
  per label whose key and value are shorter than 512 characters;
- ``MESOS_TASK_ID``;
- in bridge/container networking the ``PORT*`` variables come from the port mappings instead
  (``_mapping_ports_env``, Marathon's ``portsEnv`` over container ports);
- then the app's own ``env``, which wins on a clash (the user asked for it explicitly).

Names pass through ``env_name``: upper-cased, every character outside ``[A-Z0-9_]`` becomes ``_``.
Fails: ``ValueError`` when the number of host ports differs from the number of port definitions (a bug).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mesospaas.launch.container import port_requests, uses_port_mappings
from mesospaas.model.app import AppSpec
from mesospaas.model.ids import TaskId

_NOT_ENV = re.compile(r"[^A-Z0-9_]")
MAX_LABEL_LENGTH = 512


def env_name(text: str) -> str:
    return _NOT_ENV.sub("_", text.upper())


def java_double(number: float) -> str:
    """Java's ``Double.toString`` for the values resources take (``1.0``, ``0.5``, ``128.0``, ``1.0E-4``)."""
    if number == 0:
        return "0.0"
    magnitude = abs(number)
    if 1e-3 <= magnitude < 1e7:
        text = repr(float(number))
        return text if "." in text or "e" in text else text + ".0"
    mantissa, exponent = f"{number:.16e}".split("e")
    digits = mantissa.rstrip("0")
    if digits.endswith("."):
        digits += "0"
    return f"{float(digits)!r}E{int(exponent)}"


def task_environment(app: AppSpec, task: TaskId, host: str, host_ports: Sequence[int]) -> dict[str, str]:
    if len(host_ports) != len(app.port_definitions):
        raise ValueError(f"{app.id}: {len(host_ports)} host ports for {len(app.port_definitions)} port definitions")
    env: dict[str, str] = {"HOST": host}
    if uses_port_mappings(app):
        env.update(_mapping_ports_env(app, host_ports))
    for index, port in enumerate(() if uses_port_mappings(app) else host_ports):
        env[f"PORT{index}"] = str(port)
    if host_ports and not uses_port_mappings(app):
        env["PORT"] = str(host_ports[0])
        env["PORTS"] = ",".join(str(p) for p in host_ports)
    for definition, port in zip(() if uses_port_mappings(app) else app.port_definitions, host_ports):
        if definition.port != 0:
            env[f"PORT_{definition.port}"] = str(port)
        if definition.name:
            env[f"PORT_{env_name(definition.name)}"] = str(port)
    env["MARATHON_APP_ID"] = app.id
    env["MARATHON_APP_VERSION"] = app.version
    image = app.docker_image
    if image:
        env["MARATHON_APP_DOCKER_IMAGE"] = image
    env["MARATHON_APP_RESOURCE_CPUS"] = java_double(app.cpus)
    env["MARATHON_APP_RESOURCE_MEM"] = java_double(app.mem)
    env["MARATHON_APP_RESOURCE_DISK"] = java_double(app.disk)
    env["MARATHON_APP_RESOURCE_GPUS"] = str(app.gpus)
    labels = {
        env_name(key): value
        for key, value in app.labels.items()
        if len(key) < MAX_LABEL_LENGTH and len(value) < MAX_LABEL_LENGTH
    }
    env["MARATHON_APP_LABELS"] = " ".join(labels)
    for key, value in labels.items():
        env[f"MARATHON_APP_LABEL_{key}"] = value
    env["MESOS_TASK_ID"] = task
    env.update(app.env)
    return env


def _mapping_ports_env(app: AppSpec, host_ports: Sequence[int]) -> dict[str, str]:
    """Marathon's ``EnvironmentHelper.portsEnv`` over the port mappings (bridge/container networking).

    ``PORT<i>`` is the host port of mapping ``i``, or its container port when it takes no host port;
    ``PORT_<containerPort>`` (``PORT_<hostPort>`` for container port 0) and ``PORT_<NAME>`` point at the same
    port; ``PORT``/``PORTS`` list the host ports. A mapping without host port and with container port 0
    (Marathon picks a random port for it) gets no variable: the core draws no random numbers here.
    """
    requests = port_requests(app, host_ports)
    env: dict[str, str] = {}
    if not requests:
        return env
    for index, (_, requested, effective) in enumerate(requests):
        if effective is not None:
            env[f"PORT{index}"] = str(effective)
        elif requested != 0:
            env[f"PORT{index}"] = str(requested)
    for _, requested, effective in requests:
        if effective is not None:
            env[f"PORT_{requested or effective}"] = str(effective)
        elif requested != 0:
            env[f"PORT_{requested}"] = str(requested)
    for name, requested, effective in requests:
        if name and (effective is not None or requested != 0):
            env[f"PORT_{env_name(name)}"] = str(effective if effective is not None else requested)
    assigned = [effective for _, _, effective in requests if effective is not None]
    if assigned:
        env["PORT"] = str(assigned[0])
    env["PORTS"] = ",".join(str(p) for p in assigned)
    return env
