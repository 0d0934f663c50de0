"""Response shapes of the Marathon v2 API (reference §1.3), as marshmallow schemas for the OpenAPI document.

Owns the envelopes (``{"app": ...}``, ``{"apps": [...]}``, ``{"tasks": [...]}``), ``DeploymentResult``,
``DeploymentInfo``, ``Task``, queue items and the error bodies. Responses are built as plain dicts by
``dump_app``/``dump_group`` and the routes; these schemas describe them (and the App part *is*
``AppSchema``), so the document cannot drift from the definition the API validates.

Only keys the marathon-python 0.13 models accept are listed (reference §10.1).
"""

from __future__ import annotations

from marshmallow import fields

from api.schemas.app import AppSchema, StrictSchema, meta
from api.schemas.fields import JsonBoolean, JsonInteger, JsonList, JsonNested, JsonNumber, JsonString
from api.schemas.group import GroupSchema


class DeploymentRefSchema(StrictSchema):
    id = JsonString(metadata=meta("Deployment id (uuid)."))


class IpAddressInfoSchema(StrictSchema):
    ipAddress = JsonString(metadata=meta("Task IP address."))
    protocol = JsonString(metadata=meta("IPv4 or IPv6."))


class HealthCheckResultSchema(StrictSchema):
    alive = JsonBoolean(metadata=meta("All checks passed most recently."))
    consecutiveFailures = JsonInteger(metadata=meta("Failures in a row."))
    firstSuccess = JsonString(metadata=meta("ISO-8601 timestamp or null."))
    lastSuccess = JsonString(metadata=meta("ISO-8601 timestamp or null."))
    lastFailure = JsonString(metadata=meta("ISO-8601 timestamp or null."))
    lastFailureCause = JsonString(metadata=meta("Why the last check failed."))
    instanceId = JsonString(metadata=meta("Instance id."))


class TaskSchema(StrictSchema):
    id = JsonString(metadata=meta("Task id."))
    appId = JsonString(metadata=meta("App path."))
    host = JsonString(metadata=meta("Agent hostname."))
    slaveId = JsonString(metadata=meta("Agent id."))
    state = JsonString(metadata=meta("Mesos task state, e.g. TASK_RUNNING."))
    stagedAt = JsonString(metadata=meta("ISO-8601 (...Z)."))
    startedAt = JsonString(metadata=meta("ISO-8601 (...Z)."))
    version = JsonString(metadata=meta("App version the task runs."))
    ports = JsonList(JsonInteger(), metadata=meta("Host ports, in port order."))
    servicePorts = JsonList(JsonInteger(), metadata=meta("Service ports of the app."))
    ipAddresses = JsonList(JsonNested(IpAddressInfoSchema), metadata=meta("Task IP addresses."))
    healthCheckResults = JsonList(JsonNested(HealthCheckResultSchema), metadata=meta("One per health check."))
    localVolumes = JsonList(fields.Dict(), metadata=meta("Persistent volumes of the task."))
    region = JsonString(metadata=meta("Fault-domain region."))
    zone = JsonString(metadata=meta("Fault-domain zone."))
    role = JsonString(metadata=meta("Role of the task's resources."))


class TaskFailureSchema(StrictSchema):
    appId = JsonString()
    host = JsonString()
    message = JsonString()
    state = JsonString()
    taskId = JsonString()
    instanceId = JsonString()
    slaveId = JsonString()
    timestamp = JsonString()
    version = JsonString()


class ReadinessCheckResultSchema(StrictSchema):
    name = JsonString()
    taskId = JsonString()
    ready = JsonBoolean()
    lastResponse = fields.Dict(metadata=meta("{status, contentType, body} when preserveLastResponse is set."))


class AppInfoSchema(AppSchema):
    """An app as GET returns it: the definition with defaults, plus counts and embedded objects."""

    tasksStaged = JsonInteger(metadata=meta("Tasks staging."))
    tasksRunning = JsonInteger(metadata=meta("Tasks running."))
    tasksHealthy = JsonInteger(metadata=meta("Running tasks whose health checks all pass."))
    tasksUnhealthy = JsonInteger(metadata=meta("Running tasks with a failing health check."))
    deployments = JsonList(JsonNested(DeploymentRefSchema), metadata=meta("Deployments affecting the app."))
    tasks = JsonList(JsonNested(TaskSchema), metadata=meta("Tasks (embed=app.tasks; always on single GET)."))
    lastTaskFailure = JsonNested(TaskFailureSchema, metadata=meta("The last task failure."))
    readinessCheckResults = JsonList(JsonNested(ReadinessCheckResultSchema), metadata=meta("embed=app.readiness."))


class AppResponseSchema(StrictSchema):
    app = JsonNested(AppInfoSchema)


class AppListResponseSchema(StrictSchema):
    apps = JsonList(JsonNested(AppInfoSchema))


class TaskListResponseSchema(StrictSchema):
    tasks = JsonList(JsonNested(TaskSchema))


class TaskResponseSchema(StrictSchema):
    task = JsonNested(TaskSchema)


class TaskIdsSchema(StrictSchema):
    ids = JsonList(JsonString(), metadata=meta("Task ids to kill."))


class VersionListResponseSchema(StrictSchema):
    versions = JsonList(JsonString(), metadata=meta("Stored versions, newest first."))


class DeploymentResultSchema(StrictSchema):
    deploymentId = JsonString(metadata=meta("The deployment started (also in the Marathon-Deployment-Id header)."))
    version = JsonString(metadata=meta("The new version."))


class DeploymentActionSchema(StrictSchema):
    action = JsonString(metadata=meta("StartApplication, StopApplication, ScaleApplication, RestartApplication."))
    app = JsonString(metadata=meta("App path."))
    readinessCheckResults = JsonList(JsonNested(ReadinessCheckResultSchema))


class DeploymentStepSchema(StrictSchema):
    actions = JsonList(JsonNested(DeploymentActionSchema))


class DeploymentInfoSchema(StrictSchema):
    id = JsonString()
    version = JsonString()
    affectedApps = JsonList(JsonString())
    affectedPods = JsonList(JsonString())
    steps = JsonList(JsonNested(DeploymentStepSchema))
    currentActions = JsonList(JsonNested(DeploymentActionSchema))
    currentStep = JsonInteger(metadata=meta("1-based."))
    totalSteps = JsonInteger()


class CanaryProgressSchema(StrictSchema):
    app = JsonString()
    instances = JsonInteger(metadata=meta("Canaries the restart starts first."))
    healthy = JsonInteger(metadata=meta("Canaries healthy and ready now."))
    healthySince = JsonString(allow_none=True, metadata=meta("Since when all of them have been healthy."))
    healthySeconds = JsonNumber()
    promote = JsonString(metadata=meta("AUTO or MANUAL."))
    promoted = JsonBoolean(metadata=meta("The canary phase is over: the rollout goes on."))


class DeploymentDetailSchema(DeploymentInfoSchema):
    """``GET /v2/deployments/{id}`` (mesospaas): a running deployment's DeploymentInfo plus its supervision,
    or what is left of a recently finished one (no steps then)."""

    state = JsonString(metadata=meta("running, paused, rolling back (running); succeeded, failed, canceled."))
    reason = JsonString(allow_none=True, metadata=meta("Why it failed or was canceled, for people."))
    startedAt = JsonString()
    finishedAt = JsonString()
    lastProgressAt = JsonString(metadata=meta("Last time a new instance became healthy and ready or an old one "
                                              "stopped as planned."))
    progressDeadlineSeconds = JsonNumber(allow_none=True, metadata=meta("No progress for this long fails it."))
    failedTasks = JsonInteger(metadata=meta("Failed tasks of the new version so far (3 fail the deployment)."))
    canaries = JsonList(JsonNested(CanaryProgressSchema))
    rollbackOf = JsonString(allow_none=True, metadata=meta("This is the automatic rollback of that deployment."))
    rollbackId = JsonString(allow_none=True, metadata=meta("The automatic rollback started when it failed."))


class QueueDelaySchema(StrictSchema):
    timeLeftSeconds = JsonInteger()
    overdue = JsonBoolean()


class QueueItemSchema(StrictSchema):
    app = JsonNested(AppInfoSchema)
    count = JsonInteger(metadata=meta("Instances left to launch."))
    delay = JsonNested(QueueDelaySchema)
    since = JsonString()
    processedOffersSummary = fields.Dict(metadata=meta("Offer counts and reject reasons (rejectSummary...)."))
    lastUnusedOffers = JsonList(fields.Dict(), metadata=meta("embed=lastUnusedOffers."))


class QueueResponseSchema(StrictSchema):
    queue = JsonList(JsonNested(QueueItemSchema))


class LeaderResponseSchema(StrictSchema):
    leader = JsonString(metadata=meta("host:port of the leader."))


class ScaleGroupSchema(StrictSchema):
    scaleBy = JsonNumber(metadata=meta("Factor for the instances of every app below the group."))


class MessageSchema(StrictSchema):
    """Error body: 404, 409 (exists), 403, 500, 503."""

    message = JsonString(metadata=meta("What went wrong."))


class ValidationDetailSchema(StrictSchema):
    path = JsonString(metadata=meta("/field/sub(0)/... ; / is the whole object."))
    errors = JsonList(JsonString(), metadata=meta("Messages at this path."))


class ValidationErrorSchema(StrictSchema):
    """422 "Object is not valid" or "Invalid JSON" (a value of the wrong JSON type), with Marathon's paths."""

    message = JsonString(metadata=meta("\"Object is not valid\" or \"Invalid JSON\"."))
    details = JsonList(JsonNested(ValidationDetailSchema))


class InvalidJsonSchema(StrictSchema):
    """400 for a body that is not JSON at all: ``details`` is the parser's message (a string)."""

    message = JsonString(metadata=meta("\"Invalid JSON\"."))
    details = JsonString(metadata=meta("What the JSON parser reported."))


class LockedErrorSchema(StrictSchema):
    """409 when a running deployment locks the object (``deployments`` tells it from "already exists")."""

    message = JsonString()
    deployments = JsonList(JsonNested(DeploymentRefSchema))


__all__ = [
    "AppInfoSchema",
    "AppListResponseSchema",
    "AppResponseSchema",
    "DeploymentInfoSchema",
    "DeploymentResultSchema",
    "GroupSchema",
    "LeaderResponseSchema",
    "LockedErrorSchema",
    "MessageSchema",
    "QueueResponseSchema",
    "ScaleGroupSchema",
    "TaskIdsSchema",
    "TaskListResponseSchema",
    "TaskResponseSchema",
    "TaskSchema",
    "ValidationErrorSchema",
    "VersionListResponseSchema",
]
