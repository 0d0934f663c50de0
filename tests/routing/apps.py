"""Builders for v2 app and task JSON as ``/v2/apps?embed=apps.tasks`` returns it (the renderer's input)."""

from __future__ import annotations

from typing import Any


def task(task_id: str, host: str, *ports: int, state: str = "TASK_RUNNING", alive: bool | None = None,
         ip: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": task_id, "host": host, "ports": list(ports), "state": state,
                           "ipAddresses": [{"ipAddress": ip or host, "protocol": "IPv4"}]}
    if alive is not None:
        out["healthCheckResults"] = [{"alive": alive, "consecutiveFailures": 0 if alive else 1}]
    return out


def http_check(path: str = "/", port_index: int = 0, **extra: Any) -> dict[str, Any]:
    return {"protocol": "HTTP", "path": path, "portIndex": port_index, "gracePeriodSeconds": 10,
            "intervalSeconds": 2, "timeoutSeconds": 10, "maxConsecutiveFailures": 10, **extra}


def tcp_check(port_index: int = 0) -> dict[str, Any]:
    return {"protocol": "TCP", "portIndex": port_index, "gracePeriodSeconds": 10, "intervalSeconds": 5,
            "timeoutSeconds": 3, "maxConsecutiveFailures": 2}


def app(app_id: str, *service_ports: int, labels: dict[str, str] | None = None, tasks: list[dict[str, Any]] | None = None,
        checks: list[dict[str, Any]] | None = None, instances: int | None = None, **extra: Any) -> dict[str, Any]:
    given = tasks or []
    return {"id": app_id, "labels": {"HAPROXY_GROUP": "external", **(labels or {})},
            "portDefinitions": [{"port": p, "protocol": "tcp"} for p in service_ports],
            "healthChecks": checks or [], "instances": len(given) if instances is None else instances,
            "tasks": given, **extra}
