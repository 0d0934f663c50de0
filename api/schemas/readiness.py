"""Readiness results as Marathon's JSON: ``readinessCheckResults`` items (``/v2/deployments`` and
``embed=apps.readiness``): ``{name, taskId, ready, lastResponse?: {status, contentType, body}}``."""

from __future__ import annotations

from typing import Any

from mesospaas.deploy.readiness import ReadinessResult


def readiness_json(result: ReadinessResult) -> dict[str, Any]:
    out: dict[str, Any] = {"name": result.name, "taskId": result.task_id, "ready": result.ready}
    if result.last_response is not None:
        out["lastResponse"] = {"status": result.last_response.status,
                               "contentType": result.last_response.content_type,
                               "body": result.last_response.body}
    return out


__all__ = ["readiness_json"]
