"""From a loaded body to Marathon's canonical app definition: deprecated fields translated, defaults filled.

Owns the two halves of Marathon's ``AppNormalization``:

- ``canonicalize(body)``: the deprecated API becomes the canonical one (``uris`` -> ``fetch``, ``ports`` ->
  ``portDefinitions``, ``ipAddress`` / ``container.docker.network`` -> ``networks``,
  ``container.docker.portMappings`` -> ``container.portMappings``), after checking the old-API rules that
  only make sense on the body as typed ("cannot specify both ports and port definitions", ...). No
  defaults: an update body keeps only what it names, so it can be merged (``merge``).
- ``complete(app)``: every default filled in, in the canonical shape GET returns (§2.1, §2.2, §4.2, §4.4):
  host networking by default; in host mode one dynamic port named ``default`` and no port mappings; in
  bridge/container mode no port definitions and at least one port mapping (bridge host ports default to 0);
  resident apps (persistent volumes) get ``residency``, ``upgradeStrategy {0.5, 0}`` and
  ``unreachableStrategy "disabled"``; ``MARATHON_SINGLE_INSTANCE_APP`` apps get ``{0, 0}``.

Invariant: ``complete`` is idempotent (``complete(complete(x)) == complete(x)``), which is what makes
load -> dump -> load the identity. Both functions are pure; problems come back as ``Violation`` values.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from api.errors import Violation
from api.schemas.extensions import keep_upgrade_extensions
from api.schemas.paths import resolve

DEFAULT_PORT_DEFINITIONS: tuple[Mapping[str, Any], ...] = ({"port": 0, "protocol": "tcp", "name": "default"},)
DEFAULT_NETWORKS: tuple[Mapping[str, Any], ...] = ({"mode": "host"},)
MESOS_BRIDGE_NAME = "mesos-bridge"
SINGLE_INSTANCE_LABEL = "MARATHON_SINGLE_INSTANCE_APP"
EXTRACTABLE = (".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip")

# The order keys appear in in a completed definition (and so in responses), Marathon's where it has one.
KEY_ORDER = (
    "id", "cmd", "args", "user", "env", "instances", "cpus", "mem", "disk", "gpus", "executor",
    "constraints", "fetch", "storeUrls", "backoffSeconds", "backoffFactor", "maxLaunchDelaySeconds",
    "container", "healthChecks", "readinessChecks", "dependencies", "upgradeStrategy", "labels",
    "acceptedResourceRoles", "residency", "secrets", "taskKillGracePeriodSeconds", "requirePorts",
    "portDefinitions", "networks", "killSelection", "unreachableStrategy", "role", "tty", "resourceLimits",
    "affinity", "placementStrategy",
)

# Java's java.net.URI rejects these outright; a "%" must start a two-digit hex escape.
_URI_FORBIDDEN = set(' "<>\\^`{|}') | {chr(c) for c in range(0x20)} | {chr(0x7F)}


def uri_is_valid(uri: str) -> bool:
    """Close to ``new java.net.URI(uri)`` succeeding (Marathon's "URI has invalid syntax.")."""
    if any(ch in _URI_FORBIDDEN for ch in uri):
        return False
    index = uri.find("%")
    while index != -1:
        escape = uri[index + 1:index + 3]
        if len(escape) != 2 or any(c not in "0123456789abcdefABCDEF" for c in escape):
            return False
        index = uri.find("%", index + 1)
    scheme, colon, rest = uri.partition(":")
    if colon and not scheme:
        return False  # ":foo" has an empty scheme
    return True


def is_extract(uri: str) -> bool:
    return uri.lower().endswith(EXTRACTABLE)


def _non_empty(value: Any) -> bool:
    return value is not None and len(value) > 0


MSG_APPC = "appc images are not supported (deprecated in Mesos): use container.docker.image with type MESOS"


def canonicalize(body: Mapping[str, Any], *, is_update: bool) -> tuple[dict[str, Any], list[Violation]]:
    """Translate the deprecated API of a loaded body; return the canonical body and old-API violations."""
    problems: list[Violation] = []
    out = copy.deepcopy(dict(body))
    container = out.get("container")
    docker = container.get("docker") if container is not None else None
    docker_network = docker.get("network") if docker is not None else None
    ip_address = out.pop("ipAddress", None)
    networks = out.get("networks")
    ports = out.pop("ports", None)
    port_definitions = out.get("portDefinitions")
    uris = out.pop("uris", None)
    fetch = out.get("fetch")

    if docker_network is not None and _non_empty(networks):
        problems.append(Violation("/", "must not specify both container.docker.network and networks"))
    if ip_address is not None and _non_empty(networks):
        problems.append(Violation("/", "must not specify both networks and ipAddress"))
    if ports is not None:
        fixed = [p for p in ports if p != 0]
        if len(set(fixed)) != len(fixed):
            problems.append(Violation("/", "ports must be unique"))
    if ip_address is not None and (_non_empty(ports) or _non_empty(port_definitions)):
        problems.append(Violation("/", "cannot specify both an IP address and port"))
    if ports and port_definitions:
        if [p.get("port", 0) for p in port_definitions] != list(ports):
            problems.append(Violation("/", "cannot specify both ports and port definitions"))
    if uris is not None:
        for index, uri in enumerate(uris):
            if not uri_is_valid(uri):
                problems.append(Violation(f"/uris({index})", "URI has invalid syntax."))
        if uris and _non_empty(fetch):
            problems.append(Violation("/uris", "may not be set in conjunction with fetch"))
    container_type = container.get("type", "DOCKER") if container is not None else None
    if ip_address is not None and ip_address.get("discovery") is not None and container_type == "DOCKER":
        problems.append(Violation("/ipAddress", "ipAddress/discovery is not allowed for Docker containers"))
    if docker is not None:
        docker_mappings = docker.get("portMappings")
        if container_type == "MESOS":
            if docker_network is not None:
                problems.append(Violation("/container/docker/network", "must be empty"))
            if _non_empty(docker.get("parameters")):
                problems.append(Violation("/container/docker/parameters", "must be empty"))
            if _non_empty(docker_mappings):
                problems.append(Violation("/container/docker/portMappings", "must be empty"))
        if docker_mappings is not None:
            names = [m["name"] for m in docker_mappings if "name" in m]
            if len(set(names)) != len(names):
                problems.append(Violation("/container/docker/portMappings", "Port names must be unique."))
            if _non_empty(docker_mappings) and _non_empty(container.get("portMappings") if container else None):
                problems.append(Violation("/", "cannot specify both portMappings and docker.portMappings"))
    if container is not None and "appc" in container:  # -- containers (issue 16)
        problems.append(Violation("/container/appc", MSG_APPC))
    if docker_network == "NONE":
        problems.append(Violation("/", "unsupported docker network type NONE"))
    discovery_ports = (ip_address.get("discovery") or {}).get("ports") if ip_address is not None else None
    if _non_empty(discovery_ports) and container is not None and _non_empty(container.get("portMappings")):
        problems.append(Violation("/", "container.portMappings and ipAddress.discovery.ports must not both be set"))
    if problems:
        return out, problems

    if uris:
        out["fetch"] = [{"uri": uri, "extract": is_extract(uri)} for uri in uris]

    translated = _translate_networks(ip_address, docker_network)
    if translated is not None:
        out["networks"] = translated

    if container is None and ip_address is not None:
        container = {"type": "MESOS"}
    if container is not None:
        if docker is not None:
            docker_mappings = docker.pop("portMappings", None)
            docker.pop("network", None)
            if docker_mappings is not None and not container.get("portMappings"):
                container["portMappings"] = docker_mappings
        if _non_empty(discovery_ports):
            container["portMappings"] = [
                {key: value for key, value in (
                    ("containerPort", port["number"]), ("name", port["name"]),
                    ("protocol", port.get("protocol", "tcp")), ("labels", port.get("labels")),
                ) if value is not None}
                for port in discovery_ports or ()
            ]
        out["container"] = container

    if ports is not None and port_definitions is None:
        out["portDefinitions"] = [{"port": port} for port in ports]

    if is_update:
        modes = [n.get("mode", "container") for n in out.get("networks") or ()]
        mappings = (out.get("container") or {}).get("portMappings")
        if "host" in modes and _non_empty(mappings):
            problems.append(Violation("/", "portMappings are not allowed with host-networking"))
        if any(m != "host" for m in modes) and _non_empty(out.get("portDefinitions")):
            problems.append(Violation("/", "portDefinitions are only allowed with host-networking"))
    return out, problems


def _translate_networks(ip_address: Mapping[str, Any] | None, docker_network: str | None) -> list[dict[str, Any]] | None:
    """Marathon's ``NetworkTranslation`` (only called when the canonical ``networks`` is absent)."""
    labels = (ip_address or {}).get("labels") or None
    if docker_network is not None:
        if docker_network == "HOST":
            return [{"mode": "host"}]
        if docker_network == "BRIDGE":
            return [_drop_none({"mode": "container/bridge", "labels": labels})]
        if docker_network == "USER":
            return [_drop_none({"mode": "container", "name": (ip_address or {}).get("networkName"), "labels": labels})]
        return None
    if ip_address is not None:
        name = ip_address.get("networkName")
        if name == MESOS_BRIDGE_NAME:
            return [_drop_none({"mode": "container/bridge", "labels": labels})]
        return [_drop_none({"mode": "container", "name": name, "labels": labels})]
    return None


def _drop_none(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}


def merge(existing: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Marathon's partial update: every top-level field named in ``update`` replaces the existing one."""
    merged = copy.deepcopy(dict(existing))
    for key, value in update.items():
        if key in ("id", "version", "versionInfo"):
            continue
        merged[key] = copy.deepcopy(value)
    # Our extensions inside upgradeStrategy survive an update that does not name them (a Marathon client
    # sends back the app it read, which does not show them).
    if isinstance(update.get("upgradeStrategy"), Mapping) and isinstance(existing.get("upgradeStrategy"), Mapping):
        merged["upgradeStrategy"] = keep_upgrade_extensions(existing["upgradeStrategy"], merged["upgradeStrategy"])
    return merged


def is_resident(app: Mapping[str, Any]) -> bool:
    volumes = (app.get("container") or {}).get("volumes") or ()
    return any("persistent" in volume for volume in volumes)


def complete(app: Mapping[str, Any], *, base_path: str, default_role: str,
             default_network_name: str | None = None) -> dict[str, Any]:
    """Fill every default; the result is the canonical definition (``id`` must already be resolved)."""
    out: dict[str, Any] = {}
    if "id" in app:
        out["id"] = app["id"]
    for key in ("cmd", "user"):
        if key in app:
            out[key] = app[key]
    if app.get("args"):
        out["args"] = list(app["args"])
    out["env"] = dict(app.get("env") or {})
    out["instances"] = app.get("instances", 1)
    out["cpus"] = float(app.get("cpus", 1.0))
    out["mem"] = float(app.get("mem", 128.0))
    out["disk"] = float(app.get("disk", 0.0))
    out["gpus"] = app.get("gpus", 0)
    out["executor"] = app.get("executor", "")
    out["constraints"] = _constraints(app.get("constraints") or ())
    out["fetch"] = [_artifact(a) for a in app.get("fetch") or ()]
    out["storeUrls"] = list(app.get("storeUrls") or ())
    out["backoffSeconds"] = app.get("backoffSeconds", 1)
    out["backoffFactor"] = float(app.get("backoffFactor", 1.15))
    out["maxLaunchDelaySeconds"] = app.get("maxLaunchDelaySeconds", 300)

    networks = [_network(n, default_network_name) for n in app.get("networks") or ()] or [
        dict(n) for n in DEFAULT_NETWORKS
    ]
    modes = [n["mode"] for n in networks]
    non_host = any(mode != "host" for mode in modes)
    bridge = "container/bridge" in modes
    migrated_port_definitions = app.get("portDefinitions")
    port_definitions: list[dict[str, Any]] | None = None
    if not non_host:
        source = migrated_port_definitions if migrated_port_definitions is not None else DEFAULT_PORT_DEFINITIONS
        port_definitions = [_port_definition(p) for p in source]

    container = app.get("container")
    if container is None and non_host:
        container = {"type": "MESOS"}
    if container is not None:
        out["container"] = _container(container, non_host=non_host, bridge=bridge,
                                      pad_to=len(migrated_port_definitions or ()))
    has_ports = bool(port_definitions) or bool((out.get("container") or {}).get("portMappings"))
    out["healthChecks"] = [_health_check(h, has_ports) for h in app.get("healthChecks") or ()]
    out["readinessChecks"] = [_readiness_check(r) for r in app.get("readinessChecks") or ()]
    out["dependencies"] = _unique([resolve(d, base_path) for d in app.get("dependencies") or ()])

    labels = dict(app.get("labels") or {})
    resident = "residency" in app or is_resident(app)
    single_instance = labels.get(SINGLE_INSTANCE_LABEL) == "true"
    if resident:
        upgrade_default = {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.0}
    elif single_instance:
        upgrade_default = {"minimumHealthCapacity": 0.0, "maximumOverCapacity": 0.0}
    else:
        upgrade_default = {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0}
    given_upgrade = app.get("upgradeStrategy") or {}
    out["upgradeStrategy"] = {key: float(given_upgrade.get(key, value)) for key, value in upgrade_default.items()}
    out["upgradeStrategy"].update(_upgrade_extensions(given_upgrade))
    out["labels"] = labels
    if "acceptedResourceRoles" in app:
        out["acceptedResourceRoles"] = _unique(list(app["acceptedResourceRoles"]))
    if resident:
        residency = app.get("residency") or {}
        out["residency"] = {
            "relaunchEscalationTimeoutSeconds": residency.get("relaunchEscalationTimeoutSeconds", 3600),
            "taskLostBehavior": residency.get("taskLostBehavior", "WAIT_FOREVER"),
        }
    out["secrets"] = {name: {"source": secret["source"]} for name, secret in (app.get("secrets") or {}).items()}
    if "taskKillGracePeriodSeconds" in app:
        out["taskKillGracePeriodSeconds"] = app["taskKillGracePeriodSeconds"]
    out["requirePorts"] = bool(app.get("requirePorts", False)) and not non_host
    if port_definitions is not None:
        out["portDefinitions"] = port_definitions
    out["networks"] = networks
    out["killSelection"] = app.get("killSelection", "YOUNGEST_FIRST")
    unreachable = app.get("unreachableStrategy")
    if unreachable == "disabled" or (unreachable is None and resident):
        out["unreachableStrategy"] = "disabled"
    else:
        given = unreachable or {}
        out["unreachableStrategy"] = {
            "inactiveAfterSeconds": given.get("inactiveAfterSeconds", 0),
            "expungeAfterSeconds": given.get("expungeAfterSeconds", 0),
        }
    out["role"] = app.get("role", default_role)
    for key in ("tty", "resourceLimits", "placementStrategy"):
        if key in app:
            out[key] = copy.deepcopy(app[key])
    rules = [_affinity_rule(rule, base_path) for rule in (app.get("affinity") or {}).get("apps") or ()]
    if rules:
        out["affinity"] = {"apps": rules}
    return {key: out[key] for key in KEY_ORDER if key in out}


def _unique(items: Sequence[Any]) -> list[Any]:
    seen: list[Any] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _constraints(constraints: Sequence[Sequence[str]]) -> list[list[str]]:
    # Marathon keeps constraints in a set: duplicates collapse (after the operator is upper-cased).
    canonical = [
        [c[0], c[1].upper(), *c[2:]] if len(c) >= 2 else list(c)
        for c in constraints
    ]
    return _unique(canonical)


def _artifact(artifact: Mapping[str, Any]) -> dict[str, Any]:
    out = {
        "uri": artifact["uri"],
        "extract": artifact.get("extract", True),
        "executable": artifact.get("executable", False),
        "cache": artifact.get("cache", False),
    }
    if "destPath" in artifact:
        out["destPath"] = artifact["destPath"]
    return out


def _network(network: Mapping[str, Any], default_name: str | None) -> dict[str, Any]:
    mode = network.get("mode", "container")
    out: dict[str, Any] = {"mode": mode}
    name = network.get("name")
    if name is None and mode == "container":
        name = default_name
    if name is not None:
        out["name"] = name
    if network.get("labels"):
        out["labels"] = dict(network["labels"])
    return out


def _port_definition(port: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"port": port.get("port", 0), "protocol": port.get("protocol", "tcp")}
    if "name" in port:
        out["name"] = port["name"]
    if port.get("labels"):
        out["labels"] = dict(port["labels"])
    return out


def _port_mapping(mapping: Mapping[str, Any], *, bridge: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"containerPort": mapping.get("containerPort", 0)}
    if "hostPort" in mapping:
        out["hostPort"] = mapping["hostPort"]
    elif bridge:
        out["hostPort"] = 0  # backwards compatibility: bridge mode always takes a host port
    out["servicePort"] = mapping.get("servicePort", 0)
    out["protocol"] = mapping.get("protocol", "tcp")
    if "name" in mapping:
        out["name"] = mapping["name"]
    if mapping.get("labels"):
        out["labels"] = dict(mapping["labels"])
    if mapping.get("networkNames"):
        out["networkNames"] = list(mapping["networkNames"])
    return out


def _container(container: Mapping[str, Any], *, non_host: bool, bridge: bool, pad_to: int) -> dict[str, Any]:
    out: dict[str, Any] = {"type": container.get("type", "DOCKER")}
    docker = container.get("docker")
    if docker is not None:
        normalized: dict[str, Any] = {}
        if "image" in docker:
            normalized["image"] = docker["image"]
        normalized["privileged"] = docker.get("privileged", False)
        normalized["parameters"] = [dict(p) for p in docker.get("parameters") or ()]
        normalized["forcePullImage"] = docker.get("forcePullImage", False)
        if "pullConfig" in docker:
            normalized["pullConfig"] = dict(docker["pullConfig"])
        out["docker"] = normalized
    if non_host:
        mappings = container.get("portMappings")
        if mappings is None:
            mappings = [{"name": "default"}]
        mappings = list(mappings) + [{} for _ in range(pad_to - len(mappings))]
        out["portMappings"] = [_port_mapping(m, bridge=bridge) for m in mappings]
    out["volumes"] = [_volume(v) for v in container.get("volumes") or ()]
    return out


def _volume(volume: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "containerPath" in volume:
        out["containerPath"] = volume["containerPath"]
    if "secret" in volume and "persistent" not in volume and "external" not in volume and "hostPath" not in volume:
        out["secret"] = volume["secret"]
        return out
    if "hostPath" in volume:
        out["hostPath"] = volume["hostPath"]
    out["mode"] = volume.get("mode", "RW")
    if "persistent" in volume:
        persistent = volume["persistent"]
        info: dict[str, Any] = {"type": persistent.get("type", "root"), "size": persistent["size"]}
        if "maxSize" in persistent:
            info["maxSize"] = persistent["maxSize"]
        info["constraints"] = [list(c) for c in persistent.get("constraints") or ()]
        if "profileName" in persistent:
            info["profileName"] = persistent["profileName"]
        out["persistent"] = info
    if "external" in volume:
        external = dict(volume["external"])
        if "options" in external:
            external["options"] = dict(external["options"])
        out["external"] = external
    return out


def _health_check(check: Mapping[str, Any], has_ports: bool) -> dict[str, Any]:
    protocol = "COMMAND" if "command" in check else check.get("protocol", "HTTP")
    out: dict[str, Any] = {"protocol": protocol}
    if protocol == "COMMAND":
        if "command" in check:
            out["command"] = {"value": check["command"]["value"]}
    else:
        if protocol in ("HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"):
            path = check.get("path", "/")
            out["path"] = path if path.startswith("/") else "/" + path
        if "portIndex" in check:
            out["portIndex"] = check["portIndex"]
        elif "port" not in check and has_ports:
            out["portIndex"] = 0
        if "port" in check:
            out["port"] = check["port"]
    out["gracePeriodSeconds"] = check.get("gracePeriodSeconds", 300)
    out["intervalSeconds"] = check.get("intervalSeconds", 60)
    out["timeoutSeconds"] = check.get("timeoutSeconds", 20)
    out["maxConsecutiveFailures"] = check.get("maxConsecutiveFailures", 3)
    out["delaySeconds"] = check.get("delaySeconds", 15)
    if protocol in ("HTTP", "HTTPS"):
        out["ignoreHttp1xx"] = check.get("ignoreHttp1xx", False)
    if protocol.startswith("MESOS_") or check.get("ipProtocol", "IPv4") != "IPv4":
        out["ipProtocol"] = check.get("ipProtocol", "IPv4")
    return out


def _upgrade_extensions(given: Mapping[str, Any]) -> dict[str, Any]:
    """Our ``upgradeStrategy`` extensions (``api.schemas.extensions``), kept only when given."""
    out: dict[str, Any] = {}
    if "progressDeadlineSeconds" in given:
        out["progressDeadlineSeconds"] = float(given["progressDeadlineSeconds"])
    if "autoRollback" in given:
        out["autoRollback"] = bool(given["autoRollback"])
    if "canary" in given:
        canary = given["canary"] or {}
        out["canary"] = {"instances": canary.get("instances", 1),
                         "healthySeconds": float(canary.get("healthySeconds", 60)),
                         "promote": canary.get("promote", "AUTO")}
    return out


def _readiness_check(check: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": check.get("name", "readinessCheck"),
        "protocol": check.get("protocol", "HTTP"),
        "path": check.get("path", "/"),
        "portName": check.get("portName", "http-api"),
        "intervalSeconds": check.get("intervalSeconds", 30),
        "timeoutSeconds": check.get("timeoutSeconds", 10),
        "httpStatusCodesForReady": _unique(list(check.get("httpStatusCodesForReady") or [200])),
        "preserveLastResponse": check.get("preserveLastResponse", False),
    }


def _affinity_rule(rule: Mapping[str, Any], base_path: str) -> dict[str, Any]:
    return {
        "app": resolve(rule["app"], base_path),
        "type": rule["type"],
        "field": rule.get("field", "hostname"),
        "mode": rule.get("mode", "REQUIRED"),
        "weight": rule.get("weight", 50),
    }
