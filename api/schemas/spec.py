"""The scheduler's view of a valid canonical definition: ``to_app_spec(definition) -> AppSpec``.

Owns the one mapping from Marathon JSON to the core's ``AppSpec``. Only called on definitions that passed
``rules.app_violations``; the core's own invariants (``InvalidSpec``) are then a bug, and ``load_app``
turns them into a 422 at ``/`` rather than letting them escape.

Lossy on purpose (the full JSON stays in ``AppDefinition.definition``): env entries that reference secrets
are left out (the core has no secret store); health checks keep every field the scheduler and Mesos use. In bridge and
container networking the spec's port definitions are the port mappings that take a host port: ``port`` is
the mapping's ``hostPort`` and ``require_ports`` is set when any host port is fixed, so placement asks offers
for exactly those host ports (dynamic ones stay 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mesospaas.model.affinity import AffinityMode, AffinityType, AppAffinity
from mesospaas.model.app import (
    AppSpec,
    Canary,
    CanaryPromotion,
    CommandExecutor,
    Container,
    CustomExecutor,
    Executor,
    FetchUri,
    HealthCheckSpec,
    HostVolume,
    KillSelection,
    Network,
    PlacementStrategy,
    PortDefinition,
    PortMapping,
    ReadinessCheckSpec,
    UnreachableDisabled,
    UnreachableEnabled,
    UnreachableStrategy,
    UpgradeStrategy,
)
from mesospaas.model.constraints import Constraint, parse_constraint
from mesospaas.model.ids import AppId


def to_app_spec(app: Mapping[str, Any]) -> AppSpec:
    port_definitions, require_ports = _ports(app)
    return AppSpec(
        id=AppId(app["id"]),
        cmd=app.get("cmd"),
        args=tuple(app["args"]) if "args" in app else None,
        user=app.get("user"),
        env={k: v for k, v in app["env"].items() if isinstance(v, str)},
        labels=dict(app["labels"]),
        instances=app["instances"],
        cpus=app["cpus"],
        mem=app["mem"],
        disk=app["disk"],
        gpus=app["gpus"],
        constraints=tuple(_constraint(c) for c in app["constraints"]),
        port_definitions=port_definitions,
        require_ports=require_ports,
        fetch=tuple(
            FetchUri(a["uri"], a["extract"], a["executable"], a["cache"], a.get("destPath")) for a in app["fetch"]
        ),
        backoff_seconds=float(app["backoffSeconds"]),
        backoff_factor=app["backoffFactor"],
        max_launch_delay_seconds=float(app["maxLaunchDelaySeconds"]),
        kill_selection=KillSelection(app["killSelection"]),
        unreachable_strategy=_unreachable(app["unreachableStrategy"]),
        task_kill_grace_period_seconds=(
            float(app["taskKillGracePeriodSeconds"]) if "taskKillGracePeriodSeconds" in app else None
        ),
        role=app["role"],
        accepted_resource_roles=tuple(app["acceptedResourceRoles"]) if "acceptedResourceRoles" in app else None,
        executor=_executor(app["executor"]),
        container=_container(app.get("container"), app["networks"]),
        upgrade_strategy=_upgrade_strategy(app["upgradeStrategy"]),
        readiness_checks=tuple(_readiness_check(r) for r in app.get("readinessChecks") or ()),
        health_checks=tuple(_health_check(h) for h in app["healthChecks"]),
        affinity=tuple(_affinity(rule) for rule in (app.get("affinity") or {}).get("apps", ())),
        placement_strategy=PlacementStrategy(app.get("placementStrategy", "SPREAD")),
    )


def _constraint(parts: list[str]) -> Constraint:
    parsed = parse_constraint(parts)
    if isinstance(parsed, str):
        raise ValueError(f"invalid constraint {parts!r} reached the spec: {parsed}")
    return parsed


def _ports(app: Mapping[str, Any]) -> tuple[tuple[PortDefinition, ...], bool]:
    if "portDefinitions" in app:
        definitions = tuple(
            PortDefinition(p["port"], p["protocol"], p.get("name"), dict(p.get("labels", {})))
            for p in app["portDefinitions"]
        )
        return definitions, app["requirePorts"]
    mappings = [m for m in (app.get("container") or {}).get("portMappings", ()) if "hostPort" in m]
    definitions = tuple(
        PortDefinition(m["hostPort"], m["protocol"], m.get("name"), dict(m.get("labels", {}))) for m in mappings
    )
    return definitions, any(m["hostPort"] != 0 for m in mappings)


def _unreachable(value: Any) -> UnreachableStrategy:
    if value == "disabled":
        return UnreachableDisabled()
    return UnreachableEnabled(float(value["inactiveAfterSeconds"]), float(value["expungeAfterSeconds"]))


def _executor(value: str) -> Executor:
    return CommandExecutor() if value in ("", "//cmd") else CustomExecutor(value)


def _container(value: Mapping[str, Any] | None, networks: list[Mapping[str, Any]]) -> Container | None:
    """The container as ``mesospaas.launch.container`` maps it (only host volumes reach it: rules reject the
    other kinds)."""
    if value is None:
        return None
    docker = value.get("docker") or {}
    return Container(
        value["type"], docker.get("image"),
        force_pull_image=bool(docker.get("forcePullImage", False)),
        privileged=bool(docker.get("privileged", False)),
        parameters=tuple((p["key"], p["value"]) for p in docker.get("parameters") or ()),
        port_mappings=tuple(
            PortMapping(m["containerPort"], m.get("hostPort"), m["servicePort"], m["protocol"], m.get("name"),
                        dict(m.get("labels", {})), tuple(m.get("networkNames", ())))
            for m in value.get("portMappings") or ()),
        volumes=tuple(HostVolume(v["containerPath"], v["hostPath"], v["mode"])
                      for v in value.get("volumes") or () if "hostPath" in v),
        networks=tuple(Network(n["mode"], n.get("name"), dict(n.get("labels", {}))) for n in networks),
    )


def _health_check(check: Mapping[str, Any]) -> HealthCheckSpec:
    return HealthCheckSpec(
        protocol=check["protocol"],
        path=check.get("path"),
        port_index=None if "port" in check else check.get("portIndex"),
        grace_period_seconds=float(check["gracePeriodSeconds"]),
        interval_seconds=float(check["intervalSeconds"]),
        timeout_seconds=float(check["timeoutSeconds"]),
        max_consecutive_failures=check["maxConsecutiveFailures"],
        delay_seconds=float(check.get("delaySeconds", 15)),
        port=check.get("port"),
        command=(check.get("command") or {}).get("value"),
        ignore_http1xx=bool(check.get("ignoreHttp1xx", False)),
        ip_protocol=check.get("ipProtocol", "IPv4"),
    )


def _upgrade_strategy(upgrade: Mapping[str, Any]) -> UpgradeStrategy:
    canary = upgrade.get("canary")
    return UpgradeStrategy(
        upgrade["minimumHealthCapacity"],
        upgrade["maximumOverCapacity"],
        progress_deadline_seconds=upgrade.get("progressDeadlineSeconds"),
        auto_rollback=bool(upgrade.get("autoRollback", False)),
        canary=Canary(canary["instances"], float(canary["healthySeconds"]), CanaryPromotion(canary["promote"]))
        if canary is not None else None,
    )


def _readiness_check(check: Mapping[str, Any]) -> ReadinessCheckSpec:
    return ReadinessCheckSpec(
        name=check["name"],
        protocol=check["protocol"],
        path=check["path"],
        port_name=check["portName"],
        interval_seconds=float(check["intervalSeconds"]),
        timeout_seconds=float(check["timeoutSeconds"]),
        http_status_codes_for_ready=tuple(check["httpStatusCodesForReady"]),
        preserve_last_response=bool(check["preserveLastResponse"]),
    )


def _affinity(rule: Mapping[str, Any]) -> AppAffinity:
    return AppAffinity(
        app=AppId(rule["app"]),
        type=AffinityType(rule["type"]),
        field=rule["field"],
        mode=AffinityMode(rule["mode"]),
        weight=rule["weight"],
    )
