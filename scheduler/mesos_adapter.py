"""Mesos v1 JSON <-> core types. The only module that knows both vocabularies.

Owns: ``offer_from_mesos`` (a Mesos offer -> ``mesospaas.model.Offer``), ``task_info`` (a placement ``Launch``
of an ``AppSpec`` -> the ``TaskInfo`` JSON to ACCEPT, with the environment Marathon gives tasks, the resources
and ports taken, the kill policy, fetch URIs and labels), and ``status_facts`` (the parts of a TaskStatus the
runtime uses). Resources in a TaskInfo copy the ``allocation_info`` of the offer they come from, as a real
master requires of MULTI_ROLE frameworks.

Fails: ``AdapterError`` for offer JSON it cannot read (the runtime declines such an offer and logs it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mesospaas.launch.environment import task_environment
from mesospaas.model import (AgentId, AgentInfo, AppSpec, Attribute, ItemSet, Offer, OfferId, Ranges, Scalar,
                             Text)
from mesospaas.model.app import CommandExecutor
from mesospaas.model.offer import Unavailability
from mesospaas.model.resources import PORTS, SCALAR_NAMES, Resource
from mesospaas.placement import Launch


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


def task_info(launch: Launch, app: AppSpec, allocation_role: str | None) -> dict[str, Any]:
    """The TaskInfo that runs ``launch`` of ``app`` with the Mesos command executor."""
    if not isinstance(app.executor, CommandExecutor):
        raise AdapterError(f"{app.id}: custom executors are not supported yet")
    env = task_environment(app, launch.task_id, launch.agent.hostname, launch.host_ports)
    command: dict[str, Any] = {"environment": {"variables": [{"name": k, "value": v}
                                                             for k, v in env.items()]}}
    if app.cmd is not None:
        command.update(value=app.cmd, shell=True)
    elif app.args:
        command.update(value=app.args[0], arguments=list(app.args), shell=False)
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
    if app.task_kill_grace_period_seconds is not None:
        info["kill_policy"] = {"grace_period": {"nanoseconds": int(app.task_kill_grace_period_seconds * 1e9)}}
    check = mesos_health_check(app, launch.host_ports)
    if check is not None:
        info["health_check"] = check
    if launch.host_ports:
        info["discovery"] = {"visibility": "FRAMEWORK", "name": info["name"], "ports": {"ports": [
            {"number": port, "protocol": d.protocol, **({"name": d.name} if d.name else {})}
            for d, port in zip(app.port_definitions, launch.host_ports)]}}
    return info


MESOS_CHECKS = {"MESOS_HTTP": ("HTTP", "http"), "MESOS_HTTPS": ("HTTP", "https"), "MESOS_TCP": ("TCP", None)}


def mesos_health_check(app: AppSpec, host_ports: tuple[int, ...]) -> dict[str, Any] | None:
    """The Mesos-native health check (run by the agent's executor) for the app's first MESOS_* health check.

    Marathon-level checks (HTTP, HTTPS, TCP run by the scheduler) are not Mesos' business: not sent here.
    Mesos takes one health check per task, so only the first MESOS_* one is used, as Marathon does.
    """
    for spec in app.health_checks:
        kind = MESOS_CHECKS.get(spec.protocol)
        if kind is None:
            continue
        index = spec.port_index or 0
        if index >= len(host_ports):
            return None
        port = host_ports[index]
        check: dict[str, Any] = {"type": kind[0], "delay_seconds": 0.0,
                                 "interval_seconds": float(spec.interval_seconds),
                                 "timeout_seconds": float(spec.timeout_seconds),
                                 "consecutive_failures": int(spec.max_consecutive_failures),
                                 "grace_period_seconds": float(spec.grace_period_seconds)}
        if kind[0] == "HTTP":
            check["http"] = {"scheme": kind[1], "port": port, "path": spec.path or "/"}
        else:
            check["tcp"] = {"port": port}
        return check
    return None


@dataclass(frozen=True)
class StatusFacts:
    task_id: str
    state: str
    reason: str | None
    message: str | None
    agent_id: str | None
    healthy: bool | None
    acknowledge: bool


def status_facts(status: dict[str, Any]) -> StatusFacts:
    try:
        return StatusFacts(task_id=str(status["task_id"]["value"]), state=str(status["state"]),
                           reason=status.get("reason"), message=status.get("message"),
                           agent_id=(status.get("agent_id") or {}).get("value"),
                           healthy=status.get("healthy"), acknowledge="uuid" in status)
    except (KeyError, TypeError) as exc:
        raise AdapterError(f"unreadable status update: {exc!r}") from exc
