"""Mesos v1 JSON <-> core types. The only module that knows both vocabularies.

Owns: ``offer_from_mesos`` (a Mesos offer -> ``mesospaas.model.Offer``), ``task_info`` (a placement ``Launch``
of an ``AppSpec`` -> the ``TaskInfo`` JSON to ACCEPT, with the environment Marathon gives tasks, the resources
and ports taken, the kill policy, fetch URIs and labels), and ``status_facts`` (the parts of a TaskStatus the
runtime uses). Resources in a TaskInfo copy the ``allocation_info`` of the offer they come from, as a real
master requires of MULTI_ROLE frameworks.

Fails: ``AdapterError`` for offer JSON it cannot read (the runtime declines such an offer and logs it).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mesospaas.launch.container import container_info, discovery_info, probe_ports
from mesospaas.launch.environment import task_environment
from mesospaas.model import (AgentId, AgentInfo, AppSpec, Attribute, ItemSet, Offer, OfferId, Ranges, Scalar,
                             Text)
from mesospaas.model.app import HealthCheckSpec
from mesospaas.model.offer import Unavailability
from mesospaas.model.resources import PORTS, SCALAR_NAMES, Resource
from mesospaas.placement import Launch
from scheduler.executor_info import (ExecutorConfigError, ExecutorSettings, unsupported_executor,
                                     uses_mesospaas_executor, with_mesospaas_executor)


class AdapterError(ValueError):
    """Mesos JSON that does not have the shape the v1 API promises."""


def _attribute(item: dict[str, Any]) -> Attribute:
    kind = item.get("type")
    name = str(item["name"])
    if kind == "TEXT":
        return Attribute(name, Text(str(item["text"]["value"])))
    if kind == "SCALAR":
        return Attribute(name, Scalar(float(item["scalar"]["value"])))
    if kind == "RANGES":
        return Attribute(name, Ranges(tuple((int(r["begin"]), int(r["end"]))
                                            for r in item["ranges"].get("range", []))))
    if kind == "SET":
        return Attribute(name, ItemSet(tuple(str(i) for i in item["set"].get("item", []))))
    raise AdapterError(f"attribute {name} has unknown type {kind!r}")


def _role(item: dict[str, Any]) -> str:
    reservations = item.get("reservations")
    if reservations:
        return str(reservations[-1].get("role", "*"))
    return str(item.get("role", "*"))


def offer_from_mesos(offer: dict[str, Any]) -> Offer:
    try:
        domain = ((offer.get("domain") or {}).get("fault_domain") or {})
        agent = AgentInfo(AgentId(offer["agent_id"]["value"]), str(offer["hostname"]),
                          attributes=tuple(_attribute(a) for a in offer.get("attributes") or []),
                          region=(domain.get("region") or {}).get("name"),
                          zone=(domain.get("zone") or {}).get("name"))
        resources = []
        for item in offer.get("resources") or []:
            name = item.get("name")
            if name in SCALAR_NAMES and item.get("type") == "SCALAR":
                resources.append(Resource(name, scalar=float(item["scalar"]["value"]), role=_role(item)))
            elif name == PORTS and item.get("type") == "RANGES":
                ranges = tuple((int(r["begin"]), int(r["end"])) for r in item["ranges"].get("range", []))
                resources.append(Resource(PORTS, ranges=ranges, role=_role(item)))
        unavailability = None
        if offer.get("unavailability"):
            u = offer["unavailability"]
            duration = u.get("duration", {}).get("nanoseconds")
            unavailability = Unavailability(start=int(u["start"]["nanoseconds"]) / 1e9,
                                            duration=int(duration) / 1e9 if duration is not None else None)
        allocation = (offer.get("allocation_info") or {}).get("role")
        return Offer(OfferId(offer["id"]["value"]), agent, tuple(resources), allocation_role=allocation,
                     unavailability=unavailability)
    except (KeyError, TypeError, ValueError) as exc:
        raise AdapterError(f"unreadable offer: {exc!r}") from exc


def _resources_json(resources: tuple[Resource, ...], allocation_role: str | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in resources:
        item: dict[str, Any] = {"name": r.name}
        if r.ranges:
            item["type"] = "RANGES"
            item["ranges"] = {"range": [{"begin": b, "end": e} for b, e in r.ranges]}
        else:
            if r.scalar <= 0:
                continue
            item["type"] = "SCALAR"
            item["scalar"] = {"value": r.scalar}
        if allocation_role is not None:
            item["allocation_info"] = {"role": allocation_role}
        else:
            item["role"] = r.role
        out.append(item)
    return out


def task_info(launch: Launch, app: AppSpec, allocation_role: str | None,
              executor: ExecutorSettings | None = None, secret_env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The TaskInfo that runs ``launch`` of ``app`` with the Mesos command executor, or with the mesospaas
    executor (``executor: "//mesospaas"``, started as ``executor`` says: ``scheduler.executor_info``)."""
    problem = unsupported_executor(app)
    if problem is not None:
        raise AdapterError(f"{app.id}: {problem}")
    env = task_environment(app, launch.task_id, launch.agent.hostname, launch.host_ports)
    command: dict[str, Any] = {"environment": {"variables": [{"name": k, "value": v}
                                                             for k, v in env.items()]}}
    for name, value in sorted((secret_env or {}).items()):  # issue 17: never a plain value, so no Mesos view shows it
        command["environment"]["variables"].append({"name": name, "type": "SECRET", "secret": {
            "type": "VALUE", "value": {"data": base64.b64encode(value.encode()).decode()}}})
    if app.cmd is not None:
        command.update(value=app.cmd, shell=True)
    elif app.args:
        # As Marathon: with an image the args go to the image's entrypoint (no value).
        command.update(arguments=list(app.args), shell=False)
        if app.container is None or not app.container.docker_image:
            command["value"] = app.args[0]
    elif app.container is not None and app.container.docker_image:
        command["shell"] = False  # the image's own entrypoint and command
    else:
        raise AdapterError(f"{app.id}: neither cmd nor args")
    if app.user:
        command["user"] = app.user
    if app.fetch:
        command["uris"] = [{"value": f.uri, "extract": f.extract, "executable": f.executable, "cache": f.cache,
                            **({"output_file": f.dest_path} if f.dest_path else {})} for f in app.fetch]
    info: dict[str, Any] = {
        "name": app.id.strip("/").replace("/", "."), "task_id": {"value": launch.task_id},
        "agent_id": {"value": launch.agent.agent_id},
        "resources": _resources_json(launch.resources, allocation_role), "command": command,
        "labels": {"labels": [{"key": k, "value": v} for k, v in sorted(app.labels.items())]},
    }
    policy = kill_policy(app)
    if policy is not None:
        info["kill_policy"] = policy
    check = mesos_health_check(app, probe_ports(app, launch.host_ports), env)
    if check is not None:
        info["health_check"] = check
    container = container_info(app, launch.task_id, launch.host_ports)  # mesospaas.launch.container
    if container is not None:
        info["container"] = container
    info["discovery"] = discovery_info(app, launch.host_ports)
    if uses_mesospaas_executor(app):
        try:
            info = with_mesospaas_executor(info, app, executor or ExecutorSettings())
        except ExecutorConfigError as exc:
            raise AdapterError(f"{app.id}: {exc}") from exc
    return info


MESOS_CHECKS = {"MESOS_HTTP": ("HTTP", "http"), "MESOS_HTTPS": ("HTTP", "https"), "MESOS_TCP": ("TCP", None),
                "COMMAND": ("COMMAND", None)}


def mesos_check_index(app: AppSpec) -> int | None:
    """The index of the app's check that Mesos runs (the first COMMAND / MESOS_* one), if any."""
    for index, spec in enumerate(app.health_checks):
        if spec.protocol in MESOS_CHECKS:
            return index
    return None


def check_port(spec: HealthCheckSpec, host_ports: tuple[int, ...]) -> int | None:
    """The port a check probes: its literal ``port``, else the host port at ``portIndex`` (default 0)."""
    if spec.port is not None:
        return spec.port
    index = spec.port_index or 0
    return host_ports[index] if 0 <= index < len(host_ports) else None


def kill_policy(app: AppSpec | None) -> dict[str, Any] | None:
    """The KillPolicy of the app's tasks (``taskKillGracePeriodSeconds``), for TaskInfo and for KILL calls."""
    if app is None or app.task_kill_grace_period_seconds is None:
        return None
    return {"grace_period": {"nanoseconds": int(app.task_kill_grace_period_seconds * 1e9)}}


def mesos_health_check(app: AppSpec, host_ports: tuple[int, ...],
                       env: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The Mesos HealthCheck (run by the agent's executor) for the app's first Mesos-level check.

    Marathon-level checks (HTTP, HTTPS, TCP run by the scheduler) are not Mesos' business: not sent here.
    Mesos takes one health check per task, so only the first COMMAND / MESOS_* one is used, as Marathon does.
    Every field goes: ``delay_seconds`` and ``consecutive_failures`` as given (Marathon sends 0 as 0; the agent
    treats it as 1). ``MESOS_HTTP`` is Marathon's name: Mesos' type is ``HTTP`` with an ``http.scheme``.
    A COMMAND check runs with the task's environment (``$HOST``, ``$PORT0``...).
    """
    index = mesos_check_index(app)
    if index is None:
        return None
    spec = app.health_checks[index]
    kind, scheme = MESOS_CHECKS[spec.protocol]
    check: dict[str, Any] = {"type": kind, "delay_seconds": float(spec.delay_seconds),
                             "interval_seconds": float(spec.interval_seconds),
                             "timeout_seconds": float(spec.timeout_seconds),
                             "consecutive_failures": int(spec.max_consecutive_failures),
                             "grace_period_seconds": float(spec.grace_period_seconds)}
    if kind == "COMMAND":
        if spec.command is None:
            return None
        command: dict[str, Any] = {"value": spec.command, "shell": True}
        if env:
            command["environment"] = {"variables": [{"name": k, "value": v} for k, v in env.items()]}
        check["command"] = command
        return check
    port = check_port(spec, host_ports)
    if port is None:
        return None
    protocol = {"protocol": spec.ip_protocol} if spec.ip_protocol != "IPv4" else {}
    if kind == "HTTP":
        check["http"] = {"scheme": scheme, "port": port, "path": spec.path or "/", **protocol}
    else:
        check["tcp"] = {"port": port, **protocol}
    return check


@dataclass(frozen=True)
class StatusFacts:
    task_id: str
    state: str
    reason: str | None
    message: str | None
    agent_id: str | None
    healthy: bool | None
    acknowledge: bool
    ip_addresses: tuple[str, ...] = ()
    """From ``container_status.network_infos[].ip_addresses[].ip_address`` (Marathon's task ``ipAddresses``)."""


def status_facts(status: dict[str, Any]) -> StatusFacts:
    try:
        return StatusFacts(task_id=str(status["task_id"]["value"]), state=str(status["state"]),
                           reason=status.get("reason"), message=status.get("message"),
                           agent_id=(status.get("agent_id") or {}).get("value"),
                           healthy=status.get("healthy"), acknowledge="uuid" in status,
                           ip_addresses=tuple(str(a["ip_address"]) for n in
                                              (status.get("container_status") or {}).get("network_infos") or ()
                                              for a in n.get("ip_addresses") or () if a.get("ip_address")))
    except (KeyError, TypeError) as exc:
        raise AdapterError(f"unreadable status update: {exc!r}") from exc
