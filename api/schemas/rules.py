"""Marathon's semantic rules for a completed app definition, as values.

Owns ``app_violations(definition)``: the cross-field checks of Marathon's ``AppValidation`` /
``AppDefinition`` validators (reference §2-§5), run on the canonical definition after defaults are filled
and an update is merged. Each returns a ``Violation`` with Marathon's path and wording; per-field type and
range checks live on the schema fields instead (``api.schemas.app``).

Where the reference quotes a message it is used verbatim; where Marathon's wording comes from its
validation library (Accord) it is Accord's (``got 2, expected 1 or less``, ``must not be empty``,
``not defined``, ``is not one of (a,b)``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from api.errors import Violation, join_path
from api.schemas.app import EXECUTOR_PATTERN, MARATHON_HEALTH_PROTOCOLS, MESOS_HEALTH_PROTOCOLS
from api.schemas.fields import scala_number
from api.schemas.normalize import SINGLE_INSTANCE_LABEL, is_resident, uri_is_valid
from api.schemas.paths import app_path_problem
from mesospaas.executor_protocol import COMMAND_EXECUTOR_PATHS, EXECUTOR_PATH, label_problems
from mesospaas.model.constraints import parse_constraint

MSG_CMD_ARGS_CONTAINER = "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."
MSG_EMPTY_CMD = "must not be an empty string"
MSG_GPU_DOCKER = "GPU resources only work with the Mesos containerizer"
MSG_PORT_INDEX = (
    "Health check port indices must address an element of the ports array or container port mappings."
)
PORT_MESOS_HEALTH_PROTOCOLS = ("MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP")
MSG_ONE_MESOS_CHECK = "AppDefinition can contain at most one Mesos health check"
MSG_IPV6 = "IPv6 can only be used for container type DOCKER and Mesos http/https/tcp health checks"
MSG_COMMAND_REQUIRED = "A command is required when using the COMMAND health check protocol."
MSG_PORT_NAMES = "Port names must be unique."
MSG_PORTS = "Ports must be unique."
MSG_NETWORK_NAME_FOR_HOST_PORT = (
    "networkNames must be a single item list when hostPort is specified and more than 1 container network "
    "is defined"
)
MSG_DOCKER_ONE_CONTAINER_NETWORK = "may only specify a single container network when using the Docker container engine"
MSG_NETWORK_NAME_REQUIRED = "Network name must be specified when container network is selected."
MSG_RESIDENCY = "App must contain persistent volumes and define residency"
MSG_RESIDENT_UNREACHABLE = "unreachableStrategy must be disabled for resident tasks"
MSG_MIGRATION = (
    "DCOS_PACKAGE_FRAMEWORK_NAME and DCOS_MIGRATION_API_PATH must be defined when using "
    "DCOS_MIGRATION_API_VERSION"
)


def app_violations(app: Mapping[str, Any]) -> list[Violation]:
    """Every semantic problem of a completed definition (empty when it is valid)."""
    return list(_all(app))


def _all(app: Mapping[str, Any]) -> Iterator[Violation]:
    yield from _identity(app)
    yield from _command(app)
    yield from _constraints(app)
    yield from _ports(app)
    yield from _networks(app)
    yield from _container(app)
    yield from _health_checks(app)
    yield from _readiness_checks(app)
    yield from _environment(app)
    yield from _roles(app)
    yield from _strategies(app)
    yield from _artifacts(app)
    yield from _affinity(app)
    yield from _limits(app)
    yield from _executor(app)


def _identity(app: Mapping[str, Any]) -> Iterator[Violation]:
    problem = app_path_problem(app["id"])
    if problem is not None:
        yield Violation("/id", problem)
    for index, dependency in enumerate(app["dependencies"]):
        problem = app_path_problem(dependency)
        if problem is not None:
            yield Violation(f"/dependencies({index})", problem)


def _command(app: Mapping[str, Any]) -> Iterator[Violation]:
    cmd = "cmd" in app
    args = bool(app.get("args"))
    container = app.get("container")
    # Only a container with an image counts (Marathon: docker defined, for either engine).
    has_image_container = container is not None and container.get("docker") is not None
    if not ((cmd != args) or (not (cmd and args) and has_image_container)):
        yield Violation("/", MSG_CMD_ARGS_CONTAINER)
    if cmd and len(app["cmd"]) <= 1:
        # Marathon's check is ``length > 1`` although its message speaks of the empty string.
        yield Violation("/", MSG_EMPTY_CMD)
    if app["gpus"] > 0 and container is not None and container["type"] == "DOCKER":
        yield Violation("/", MSG_GPU_DOCKER)


def _constraints(app: Mapping[str, Any]) -> Iterator[Violation]:
    for index, constraint in enumerate(app["constraints"]):
        parsed = parse_constraint(constraint)
        if isinstance(parsed, str):
            yield Violation(f"/constraints({index})", parsed)


def _ports(app: Mapping[str, Any]) -> Iterator[Violation]:
    definitions = app.get("portDefinitions") or ()
    names = [p["name"] for p in definitions if "name" in p]
    if len(set(names)) != len(names):
        yield Violation("/portDefinitions", MSG_PORT_NAMES)
    fixed = [p["port"] for p in definitions if p["port"] != 0]
    if len(set(fixed)) != len(fixed):
        yield Violation("/portDefinitions", MSG_PORTS)


def _networks(app: Mapping[str, Any]) -> Iterator[Violation]:
    networks = app["networks"]
    modes = [n["mode"] for n in networks]
    if any(n["mode"] == "host" and (n.get("name") or n.get("labels")) for n in networks):
        yield Violation("/networks", "Host networks may not have names or labels")
    if any(n["mode"] == "container/bridge" and n.get("name") for n in networks):
        yield Violation("/networks", "Bridge networks may not have names")
    unnamed = sum(1 for n in networks if n["mode"] == "container" and "name" not in n)
    named = [n["name"] for n in networks if "name" in n]
    if unnamed > 1 or len(set(named)) != len(named):
        yield Violation("/networks", "Duplicate networks are not allowed")
    hosts, bridges, containers = modes.count("host"), modes.count("container/bridge"), modes.count("container")
    if not (
        (hosts <= 1 and bridges == 0 and containers == 0)
        or (hosts == 0 and bridges <= 1 and containers == 0)
        or (hosts == 0 and bridges == 0 and containers > 0)
    ):
        yield Violation("/networks", "May specify a single host network, single bridge network, or else 1-to-n "
                                     "container networks")
    if unnamed:
        yield Violation("/networks", MSG_NETWORK_NAME_REQUIRED)
    container = app.get("container")
    if container is not None and container["type"] == "DOCKER" and containers > 1:
        yield Violation("/", MSG_DOCKER_ONE_CONTAINER_NETWORK)


def _container(app: Mapping[str, Any]) -> Iterator[Violation]:
    container = app.get("container")
    if container is None:
        return
    docker = container.get("docker")
    secrets = app["secrets"]
    if container["type"] == "DOCKER":
        if docker is None:
            yield Violation("/container/docker", "not defined")
        else:
            if not docker.get("image"):
                yield Violation("/container/docker/image", "must not be empty")
            if "pullConfig" in docker:
                yield Violation("/container/docker/pullConfig", "pullConfig is not supported with Docker containerizer")
    elif docker is not None:
        if not docker.get("image"):
            yield Violation("/container/docker/image", "must not be empty")
        pull = docker.get("pullConfig")
        if pull is not None and pull["secret"] not in secrets:
            yield Violation("/container/docker/pullConfig", "pullConfig.secret must refer to an existing secret")
        if pull is not None:  # -- containers (issue 16): no secret store yet
            yield Violation("/container/docker/pullConfig", MSG_PULL_CONFIG)
    mappings = container.get("portMappings") or ()
    names = [m["name"] for m in mappings if "name" in m]
    if len(set(names)) != len(names):
        yield Violation("/container/portMappings", MSG_PORT_NAMES)
    network_names = [n["name"] for n in app["networks"] if "name" in n]
    container_networks = sum(1 for n in app["networks"] if n["mode"] == "container")
    for index, mapping in enumerate(mappings):
        path = f"/container/portMappings({index})"
        if container_networks > 1 and "hostPort" in mapping and len(mapping.get("networkNames") or ()) != 1:
            yield Violation(path, MSG_NETWORK_NAME_FOR_HOST_PORT)
        for name_index, name in enumerate(mapping.get("networkNames") or ()):
            if name not in network_names:
                yield Violation(f"{path}/networkNames({name_index})", f"is not one of ({','.join(network_names)})")
    yield from _volumes(app, container)


def _volumes(app: Mapping[str, Any], container: Mapping[str, Any]) -> Iterator[Violation]:
    volumes = container["volumes"]
    external_names = [v["external"]["name"] for v in volumes if "external" in v and "name" in v["external"]]
    if len(set(external_names)) != len(external_names):
        yield Violation("/container/volumes", "Volume names must be unique")
    for index, volume in enumerate(volumes):
        path = f"/container/volumes({index})"
        if "persistent" in volume:
            container_path = volume.get("containerPath", "")
            if container_path in ("", ".", ".."):
                yield Violation(f"{path}/containerPath",
                                "must not be empty" if not container_path else "can not be one of (.,..)")
            elif "/" in container_path:
                yield Violation(f"{path}/containerPath", 'value must not contain "/"')
            if volume["mode"] != "RW":
                yield Violation(f"{path}/mode", f"got {volume['mode']}, expected RW")
            info = volume["persistent"]
            if info["size"] <= 0:
                yield Violation(f"{path}/persistent/size", f"got {info['size']}, expected more than 0")
            if "maxSize" in info and info["type"] != "mount":
                yield Violation(f"{path}/persistent", "Only mount volumes can have maxSize")
            if "maxSize" in info and info["maxSize"] <= info["size"]:
                yield Violation(f"{path}/persistent", "Max size must be larger than size")
            if info["type"] == "root" and info["constraints"]:
                yield Violation(f"{path}/persistent", "Constraints on root volumes are not supported")
        elif "external" in volume:
            if not volume.get("containerPath"):
                yield Violation(f"{path}/containerPath", "must not be empty")
            external = volume["external"]
            if not external.get("name"):
                yield Violation(f"{path}/external/name", "not defined")
            if not external.get("provider"):
                yield Violation(f"{path}/external/provider", "not defined")
        elif "secret" in volume:
            if volume["secret"] not in app["secrets"]:
                yield Violation(path, "volume.secret must refer to an existing secret")
        else:
            if not volume.get("containerPath"):
                yield Violation(f"{path}/containerPath", "must not be empty")
            if not volume.get("hostPath"):
                yield Violation(f"{path}/hostPath", "must not be empty")


    # -- containers (issue 16): only host-path and sandbox-path volumes reach Mesos so far
    for index, volume in enumerate(volumes):
        for kind in ("persistent", "external", "secret"):
            if kind in volume:
                yield Violation(f"/container/volumes({index})/{kind}", MSG_VOLUME_KIND.format(kind=kind))


MSG_PULL_CONFIG = "pullConfig is not supported yet: mesospaas has no secret store to read registry credentials from"
MSG_VOLUME_KIND = ("{kind} volumes are not supported yet: only host volumes (hostPath, absolute or relative to "
                   "the sandbox) are")
MSG_EXECUTOR_CONTAINER = ("a container is not supported with the mesospaas executor yet: use the command "
                          "executor (\"\" or //cmd) for apps with a container")


def _port_count(app: Mapping[str, Any]) -> int:
    mappings = (app.get("container") or {}).get("portMappings")
    if mappings:
        return len(mappings)
    return len(app.get("portDefinitions") or ())


def _health_checks(app: Mapping[str, Any]) -> Iterator[Violation]:
    ports = _port_count(app)
    container = app.get("container")
    docker = container is not None and container["type"] == "DOCKER"
    mesos_checks = 0
    command_checks = 0
    for index, check in enumerate(app["healthChecks"]):
        path = f"/healthChecks({index})"
        protocol = check["protocol"]
        if protocol == "COMMAND":
            command_checks += 1
            if "command" not in check:
                yield Violation(f"{path}/command", MSG_COMMAND_REQUIRED)
        if protocol in MESOS_HEALTH_PROTOCOLS:
            mesos_checks += 1
        if protocol in MARATHON_HEALTH_PROTOCOLS or protocol in PORT_MESOS_HEALTH_PROTOCOLS:
            if "portIndex" in check:
                valid = 0 <= check["portIndex"] < ports
            else:
                valid = "port" in check or ports == 1
            if not valid:
                yield Violation(path, MSG_PORT_INDEX)
        if check.get("ipProtocol", "IPv4") != "IPv4" and not (
            protocol in ("MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP") and docker
        ):
            yield Violation(path, MSG_IPV6)
    # Apps saved by older Marathons may hold several COMMAND checks; only other Mesos checks count.
    if mesos_checks - command_checks > 1:
        yield Violation("/", MSG_ONE_MESOS_CHECK)


def _readiness_checks(app: Mapping[str, Any]) -> Iterator[Violation]:
    checks = app["readinessChecks"]
    if len(checks) > 1:
        yield Violation("/readinessChecks/size", f"got {len(checks)}, expected 1 or less")
    mappings = (app.get("container") or {}).get("portMappings")
    sources = mappings if mappings else app.get("portDefinitions") or ()
    port_names = {p["name"] for p in sources if "name" in p}
    for index, check in enumerate(checks):
        path = f"/readinessChecks({index})"
        if check["portName"] not in port_names:
            yield Violation(f"{path}/portName", f"No port definition reference for portName {check['portName']}")
        if check["timeoutSeconds"] >= check["intervalSeconds"]:
            yield Violation(f"{path}/timeoutSeconds",
                            f"got {check['timeoutSeconds']}, expected less than {check['intervalSeconds']}")


def _environment(app: Mapping[str, Any]) -> Iterator[Violation]:
    secrets = app["secrets"]
    for name, value in app["env"].items():
        if isinstance(value, Mapping) and value["secret"] not in secrets:
            yield Violation(join_path(join_path("/env", name), "secret"), "references an undefined secret")
    for name, secret in secrets.items():
        if not name:
            yield Violation("/secrets", "must not be empty")
        if not secret["source"]:
            yield Violation(join_path(join_path("/secrets", name), "source"), "must not be empty")


def _roles(app: Mapping[str, Any]) -> Iterator[Violation]:
    if "acceptedResourceRoles" in app and not app["acceptedResourceRoles"]:
        yield Violation("/acceptedResourceRoles", "must not be empty")
    if not app["role"]:
        yield Violation("/role", "must not be empty")


def _strategies(app: Mapping[str, Any]) -> Iterator[Violation]:
    if ("residency" in app) != is_resident(app):
        yield Violation("/", MSG_RESIDENCY)
    unreachable = app["unreachableStrategy"]
    if isinstance(unreachable, Mapping) and unreachable["inactiveAfterSeconds"] > unreachable["expungeAfterSeconds"]:
        yield Violation(
            "/unreachableStrategy",
            f"inactiveAfterSeconds ({unreachable['inactiveAfterSeconds']}) must be less or equal to "
            f"expungeAfterSeconds, which is {unreachable['expungeAfterSeconds']}",
        )
    upgrade = app["upgradeStrategy"]
    if "residency" in app:
        if unreachable != "disabled":
            yield Violation("/", MSG_RESIDENT_UNREACHABLE)
        if upgrade["maximumOverCapacity"] != 0.0:
            yield Violation("/upgradeStrategy/maximumOverCapacity",
                            f"got {scala_number(upgrade['maximumOverCapacity'], double=True)}, expected 0.0")
    labels = app["labels"]
    if labels.get(SINGLE_INSTANCE_LABEL) == "true":
        if app["instances"] > 1:
            yield Violation("/instances", f"got {app['instances']}, expected between 0 and 1")
        for key in ("minimumHealthCapacity", "maximumOverCapacity"):
            if upgrade[key] != 0.0:
                yield Violation(f"/upgradeStrategy/{key}", f"got {scala_number(upgrade[key], double=True)}, expected 0.0")
    if "DCOS_MIGRATION_API_VERSION" in labels and labels["DCOS_MIGRATION_API_VERSION"]:
        if not (
            labels["DCOS_MIGRATION_API_VERSION"] == "v1"
            and labels.get("DCOS_PACKAGE_FRAMEWORK_NAME")
            and labels.get("DCOS_MIGRATION_API_PATH")
        ):
            yield Violation("/", MSG_MIGRATION)


def _artifacts(app: Mapping[str, Any]) -> Iterator[Violation]:
    for index, artifact in enumerate(app["fetch"]):
        if not uri_is_valid(artifact["uri"]):
            yield Violation(f"/fetch({index})/uri", "URI has invalid syntax.")


def _affinity(app: Mapping[str, Any]) -> Iterator[Violation]:
    for index, rule in enumerate((app.get("affinity") or {}).get("apps") or ()):
        problem = app_path_problem(rule["app"])
        if problem is not None:
            yield Violation(f"/affinity/apps({index})/app", problem)


def _limits(app: Mapping[str, Any]) -> Iterator[Violation]:
    limits = app.get("resourceLimits") or {}
    for key in ("cpus", "mem"):
        limit = limits.get(key)
        if isinstance(limit, float | int) and limit < app[key]:
            yield Violation(
                f"/resourceLimits/{key}",
                f"got {scala_number(limit, double=True)}, expected {scala_number(app[key], double=True)} or more",
            )


MSG_EXECUTOR = ("custom executor {path!r} is not supported: use \"\" or //cmd (the Mesos command executor) or "
                f"{EXECUTOR_PATH} (the mesospaas executor)")


def _executor(app: Mapping[str, Any]) -> Iterator[Violation]:
    """Only the executors mesospaas can launch; the mesospaas executor's labels must be usable."""
    path = app.get("executor", "")
    if path == EXECUTOR_PATH and app.get("container") is not None:  # -- containers (issue 16)
        yield Violation("/container", MSG_EXECUTOR_CONTAINER)
    if path == EXECUTOR_PATH:
        for problem in label_problems(app.get("labels") or {}):
            yield Violation("/labels", problem)
    elif path not in COMMAND_EXECUTOR_PATHS and re.fullmatch(EXECUTOR_PATTERN, path):  # else: the field says
        yield Violation("/executor", MSG_EXECUTOR.format(path=path))
