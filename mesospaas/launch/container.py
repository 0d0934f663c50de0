"""What Marathon puts into a Mesos TaskInfo for an app's ``container``, ``networks`` and ports, as plain dicts.

Owns: ``container_info`` (the ``ContainerInfo``), ``discovery_info`` (the ``DiscoveryInfo``),
``mapping_host_ports`` (which host port each port mapping got), ``port_requests`` (what the ``PORT*``
environment is built from) and ``probe_ports`` (the ports a Mesos-run health check probes). The Mesos v1 JSON
field names are the protos' (``include/mesos/v1/mesos.proto``); the shapes are Marathon's (``TaskBuilder``,
``ContainerSerializer``, ``PortDiscovery``):

- ``DOCKER``: ``docker {image, network HOST|BRIDGE|USER, port_mappings, privileged, parameters,
  force_pull_image}``; a ``label=MESOS_TASK_ID=<task id>`` parameter is appended; port mappings only for
  mappings with a host port, one per protocol (``udp,tcp`` gives two); a ``USER`` network's name goes in
  ``network_infos [{name}]``.
- ``MESOS`` with an image: ``mesos.image {type DOCKER, docker {name}, cached = not forcePullImage}``; without
  one an empty ``mesos {}``. Every non-host network becomes a ``NetworkInfo {ip_addresses [{}], labels, name,
  port_mappings}``: ``container/bridge`` is named ``mesos-bridge``; a mapping goes to a network when it has
  a host port and names no other network.
- Volumes: host paths (absolute, or relative to the sandbox) as ``{container_path, host_path, mode}``.
- ``DiscoveryInfo {visibility FRAMEWORK, name <app id reversed, dot-separated>, ports}``: host networking gives
  one port per port definition and protocol (the task's host port); bridge/container networking one per
  mapping and protocol, labelled ``network-scope: host`` (number = host port) or, without a host port,
  ``network-scope: container`` plus ``network-name`` for each container network (number = container port).

Port order: ``host_ports`` is what placement took, in the order of ``AppSpec.port_definitions``, which for an
app with port mappings holds exactly the mappings that take a host port (``api.schemas.spec``).
A ``containerPort`` of 0 means "the host port". Standard library only; pure.
Fails: ``ValueError`` when the host ports do not fit the mappings (a bug upstream).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mesospaas.model.app import AppSpec, Container, PortMapping

MESOS_BRIDGE_NAME = "mesos-bridge"
"""Marathon's default ``--mesos_bridge_name``: the CNI network UCR bridge networking joins."""

DOCKER_NETWORKS = {"host": "HOST", "container/bridge": "BRIDGE", "container": "USER"}


def uses_port_mappings(app: AppSpec) -> bool:
    """Bridge or container networking: ports come from ``container.portMappings``, not port definitions."""
    container = app.container
    return container is not None and any(n.mode != "host" for n in container.networks)


def mapping_host_ports(container: Container, host_ports: Sequence[int]) -> tuple[int | None, ...]:
    """The host port each of the container's port mappings got (None for mappings that take none)."""
    wanted = sum(1 for m in container.port_mappings if m.host_port is not None)
    if wanted != len(host_ports):
        raise ValueError(f"{len(host_ports)} host ports for {wanted} port mappings with a host port")
    ports = iter(host_ports)
    return tuple(next(ports) if m.host_port is not None else None for m in container.port_mappings)


def _bound(container: Container, host_ports: Sequence[int]) -> list[tuple[PortMapping, int]]:
    """Marathon's bound port mappings: (mapping, host port) for mappings with a host port; container port 0
    becomes the host port."""
    out = []
    for mapping, port in zip(container.port_mappings, mapping_host_ports(container, host_ports)):
        if port is not None:
            out.append((mapping, port))
    return out


def _labels(labels: Mapping[str, str]) -> dict[str, Any]:
    """A Mesos ``Labels`` message (empty: ``{}``, as protobuf JSON writes an unset repeated field)."""
    return {"labels": [{"key": k, "value": v} for k, v in labels.items()]} if labels else {}


def container_info(app: AppSpec, task_id: str, host_ports: Sequence[int]) -> dict[str, Any] | None:
    """The ContainerInfo of a task of ``app`` with ``host_ports``; None when the app has no container."""
    container = app.container
    if container is None:
        return None
    bound = _bound(container, host_ports) if uses_port_mappings(app) else []
    info: dict[str, Any]
    if container.type == "DOCKER":
        docker: dict[str, Any] = {"image": container.docker_image or ""}
        networks = [DOCKER_NETWORKS[n.mode] for n in container.networks if n.mode in DOCKER_NETWORKS]
        if networks:
            docker["network"] = networks[-1]
        mappings = [{"host_port": port, "container_port": mapping.container_port or port, "protocol": protocol}
                    for mapping, port in bound for protocol in mapping.protocol.split(",")]
        if mappings:
            docker["port_mappings"] = mappings
        docker["privileged"] = container.privileged
        docker["parameters"] = [{"key": k, "value": v} for k, v in container.parameters] + [
            {"key": "label", "value": f"MESOS_TASK_ID={task_id}"}]
        docker["force_pull_image"] = container.force_pull_image
        info = {"type": "DOCKER", "docker": docker}
        user_networks = [n for n in container.networks if n.mode == "container" and n.name]
        if user_networks:
            info["network_infos"] = [{"name": user_networks[0].name}]
    else:
        mesos: dict[str, Any] = {}
        if container.docker_image:
            mesos["image"] = {"type": "DOCKER", "docker": {"name": container.docker_image},
                              "cached": not container.force_pull_image}
        info = {"type": "MESOS", "mesos": mesos}
        network_infos = []
        for network in container.networks:
            if network.mode == "host":
                continue
            name = MESOS_BRIDGE_NAME if network.mode == "container/bridge" else (network.name or "")
            port_mappings = [
                {"host_port": port, "container_port": mapping.container_port or port, "protocol": mapping.protocol}
                for mapping, port in bound if all(n == name for n in mapping.network_names)]
            entry: dict[str, Any] = {"ip_addresses": [{}], "labels": _labels(network.labels), "name": name}
            if port_mappings:
                entry["port_mappings"] = port_mappings
            network_infos.append(entry)
        if network_infos:
            info["network_infos"] = network_infos
    if container.volumes:
        info["volumes"] = [{"container_path": v.container_path, "host_path": v.host_path, "mode": v.mode}
                           for v in container.volumes]
    return info


def discovery_name(app: AppSpec) -> str:
    """Marathon's ``PathId.toHostname``: the id's segments in reverse order, joined by dots."""
    return ".".join(reversed([part for part in app.id.split("/") if part]))


def _port(number: int, protocol: str, name: str | None, labels: Mapping[str, str]) -> dict[str, Any]:
    port: dict[str, Any] = {"number": number, "protocol": protocol}
    if name:
        port["name"] = name
    if labels:
        port["labels"] = _labels(labels)
    return port


def discovery_info(app: AppSpec, host_ports: Sequence[int]) -> dict[str, Any]:
    """The DiscoveryInfo Marathon gives every task (Mesos-DNS style discovery of named ports)."""
    ports: list[dict[str, Any]] = []
    container = app.container
    if container is not None and uses_port_mappings(app):
        network_names = [n.name for n in container.networks if n.mode == "container" and n.name]
        for mapping, port in zip(container.port_mappings, mapping_host_ports(container, host_ports)):
            for protocol in mapping.protocol.split(","):
                if port is not None:
                    ports.append(_port(port, protocol, mapping.name,
                                       {**mapping.labels, "network-scope": "host"}))
                    continue
                for network in mapping.network_names or tuple(network_names):
                    ports.append(_port(mapping.container_port, protocol, mapping.name,
                                       {**mapping.labels, "network-scope": "container", "network-name": network}))
    else:
        for definition, port in zip(app.port_definitions, host_ports):
            for protocol in definition.protocol.split(","):
                ports.append(_port(port, protocol, definition.name, definition.labels))
    return {"visibility": "FRAMEWORK", "name": discovery_name(app), "ports": {"ports": ports}}


def port_requests(app: AppSpec, host_ports: Sequence[int]) -> list[tuple[str | None, int, int | None]]:
    """(name, requested port, effective host port) per port of the task, Marathon's ``PortRequest`` list: the
    port mappings (requested = container port) in bridge/container networking, else the port definitions."""
    container = app.container
    if container is not None and uses_port_mappings(app):
        return [(m.name, m.container_port, port)
                for m, port in zip(container.port_mappings, mapping_host_ports(container, host_ports))]
    return [(d.name, d.port, port) for d, port in zip(app.port_definitions, host_ports)]


def probe_ports(app: AppSpec, host_ports: Sequence[int]) -> tuple[int, ...]:
    """The port a Mesos-run check at each port index probes: Mesos enters the container's network, so with
    port mappings it is the container port (the host port when that is 0), else the host port."""
    container = app.container
    if container is None or not uses_port_mappings(app):
        return tuple(host_ports)
    return tuple(m.container_port or (port or 0)
                 for m, port in zip(container.port_mappings, mapping_host_ports(container, host_ports)))
