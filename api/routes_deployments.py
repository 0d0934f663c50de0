"""``/v2/deployments``: Marathon's list and cancel, plus our detail and continue routes.

Owns:

- ``GET /v2/deployments``: Marathon's DeploymentInfo items, exactly its keys (the released ``marathon``
  client rejects any other), with ``currentActions[].readinessCheckResults`` from the readiness probes.
- ``DELETE /v2/deployments/{id}``: cancel with a rollback (200 and the new deployment), or with
  ``force=true`` only stop (202).
- ``GET /v2/deployments/{id}`` (ours; Marathon had none, and its 409 for a locked app already points here):
  the DeploymentInfo plus ``state`` (running, paused, rolling back; succeeded, failed, canceled for recently
  finished ones), ``reason``, ``canaries`` (their progress), ``progressDeadlineSeconds`` and
  ``lastProgressAt``, ``failedTasks``, and the links between a failed deployment and its rollback.
- ``POST /v2/deployments/{id}/continue`` (ours): promote held canaries and end a pause (200 with the detail;
  409 when there is nothing to continue).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.errors import Conflict, deployment_not_found
from api.platform import Platform
from api.routes_apps import PLATFORM, deployment_result, flag, iso, respond
from api.schemas.readiness import readiness_json
from mesospaas.deploy.supervision import canary_reports, deadline, state_of
from mesospaas.model.deployment import DeploymentId
from mesospaas.model.ids import AppId


def _platform(request: web.Request) -> Platform:
    return request.app[PLATFORM]  # type: ignore[return-value]


def readiness_of(platform: Platform, app_id: AppId) -> list[dict[str, Any]]:
    return [readiness_json(r) for r in platform.readiness_results(app_id)]


def deployment_json(platform: Platform, deployment_id: DeploymentId) -> dict[str, Any]:
    """Marathon's DeploymentInfo of a running deployment."""
    running = platform.state.deployments[deployment_id]
    plan = running.plan
    steps = [{"actions": [{"action": a.name, "app": a.app} for a in step.actions]} for step in plan.steps]
    index = min(running.step_index, len(steps) - 1) if steps else 0
    current = [{**a, "readinessCheckResults": readiness_of(platform, AppId(a["app"]))}
               for a in steps[index]["actions"]] if steps else []
    return {"id": plan.id, "version": plan.version, "affectedApps": sorted(plan.affected_apps), "affectedPods": [],
            "steps": steps, "currentActions": current, "currentStep": index + 1, "totalSteps": len(steps)}


def deployment_detail(platform: Platform, deployment_id: DeploymentId) -> dict[str, Any] | None:
    """Our detail of a running or recently finished deployment, or ``None`` when it is unknown."""
    running = platform.state.deployments.get(deployment_id)
    if running is not None:
        supervision = running.supervision
        instances = {a: platform.instances_of(a) for a in running.plan.affected_apps}
        limit = deadline(running.plan)
        out = deployment_json(platform, deployment_id)
        out.update({
            "state": state_of(supervision).value,
            "reason": None,
            "startedAt": iso(supervision.started_at),
            "lastProgressAt": iso(supervision.last_progress_at),
            "progressDeadlineSeconds": limit,
            "failedTasks": supervision.failed_tasks,
            "canaries": [{"app": c.app, "instances": c.instances, "healthy": c.healthy,
                          "healthySince": iso(c.healthy_since), "healthySeconds": c.healthy_seconds,
                          "promote": c.promote.value, "promoted": c.promoted}
                         for c in canary_reports(running.plan, supervision, instances)],
            "rollbackOf": supervision.rollback_of,
            "rollbackId": None,
        })
        return out
    finished = platform.state.finished.get(deployment_id)
    if finished is None:
        return None
    return {"id": finished.id, "version": finished.version, "affectedApps": list(finished.affected_apps),
            "affectedPods": [], "state": finished.state.value, "reason": finished.reason,
            "finishedAt": iso(finished.finished_at), "rollbackOf": finished.rollback_of,
            "rollbackId": finished.rollback_id}


async def list_deployments(request: web.Request) -> web.Response:
    platform = _platform(request)
    return respond([deployment_json(platform, d) for d in platform.state.deployments])


def _deployment_id(request: web.Request) -> DeploymentId:
    return DeploymentId(request.match_info["deployment_id"])


async def get_deployment(request: web.Request) -> web.Response:
    platform = _platform(request)
    deployment_id = _deployment_id(request)
    detail = deployment_detail(platform, deployment_id)
    if detail is None:
        raise deployment_not_found(deployment_id)
    return respond(detail)


async def cancel_deployment(request: web.Request) -> web.Response:
    platform = _platform(request)
    deployment_id = _deployment_id(request)
    if deployment_id not in platform.state.deployments:
        raise deployment_not_found(deployment_id)
    force = flag(request, "force")
    rollback = await platform.cancel_deployment(deployment_id, rollback=not force)
    if rollback is None:
        return web.Response(status=202)
    return deployment_result(rollback)


async def continue_deployment(request: web.Request) -> web.Response:
    platform = _platform(request)
    deployment_id = _deployment_id(request)
    if deployment_id not in platform.state.deployments:
        raise deployment_not_found(deployment_id)
    try:
        moved = await platform.continue_deployment(deployment_id)
    except KeyError:  # it finished between the check and the command
        raise deployment_not_found(deployment_id) from None
    if not moved:
        raise Conflict(f"Deployment {deployment_id} is neither paused nor holding canaries: nothing to continue")
    detail = deployment_detail(platform, deployment_id)
    return respond(detail if detail is not None else {"id": deployment_id})


def register(app: web.Application) -> None:
    r = app.router
    r.add_get("/v2/deployments", list_deployments)
    r.add_get("/v2/deployments/{deployment_id}", get_deployment)
    r.add_delete("/v2/deployments/{deployment_id}", cancel_deployment)
    r.add_post("/v2/deployments/{deployment_id}/continue", continue_deployment)


__all__ = ["deployment_detail", "deployment_json", "readiness_of", "register"]
