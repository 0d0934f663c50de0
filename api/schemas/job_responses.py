"""Response shapes of the jobs API, for ``/openapi.json`` (the renderers are in ``api.routes_jobs``).

Owns the marshmallow schemas that describe (never load) job run, history, queue and file-read bodies. The
job definition itself is described by ``api.schemas.job.JobSchema`` (the schema that validates it); embedded
parts (``activeRuns``, ``history``, ``historySummary``) appear only when asked for with ``embed``.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from api.schemas.job import JobRunSpecSchema, JobScheduleSchema


class JobRunTaskSchema(Schema):
    """A task of a run: ``status`` is the last Mesos state; ``exitCode`` once Mesos reported it."""

    id = fields.String(required=True)
    startedAt = fields.String(allow_none=True)
    completedAt = fields.String(allow_none=True)
    status = fields.String(required=True)
    exitCode = fields.Integer()


class JobRunSchema(Schema):
    """A job run (``INITIAL``, ``STARTING``, ``ACTIVE``, ``SUCCESS``, ``FAILED``)."""

    id = fields.String(required=True)
    jobId = fields.String(required=True)
    status = fields.String(required=True)
    createdAt = fields.String(required=True)
    completedAt = fields.String(allow_none=True)
    tasks = fields.List(fields.Nested(JobRunTaskSchema), required=True)


class JobFinishedTaskSchema(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True)
    exitCode = fields.Integer(allow_none=True)
    startedAt = fields.String(allow_none=True)
    completedAt = fields.String(allow_none=True)


class JobFinishedRunSchema(Schema):
    """A finished run in the history: ``tasks`` holds task ids (Metronome), ``taskDetails`` their outcomes."""

    id = fields.String(required=True)
    createdAt = fields.String(required=True)
    finishedAt = fields.String(required=True)
    tasks = fields.List(fields.String(), required=True)
    taskDetails = fields.List(fields.Nested(JobFinishedTaskSchema))
    reason = fields.String()


class JobHistorySummarySchema(Schema):
    successCount = fields.Integer(required=True)
    failureCount = fields.Integer(required=True)
    lastSuccessAt = fields.String(allow_none=True)
    lastFailureAt = fields.String(allow_none=True)


class JobHistorySchema(JobHistorySummarySchema):
    successfulFinishedRuns = fields.List(fields.Nested(JobFinishedRunSchema), required=True)
    failedFinishedRuns = fields.List(fields.Nested(JobFinishedRunSchema), required=True)


class JobInfoSchema(Schema):
    """A job as the API answers it: ``schedules`` always, the rest when embedded."""

    id = fields.String(required=True)
    description = fields.String()
    labels = fields.Dict(keys=fields.String(), values=fields.String())
    run = fields.Nested(JobRunSpecSchema, required=True)
    dependencies = fields.List(fields.Dict())
    schedules = fields.List(fields.Nested(JobScheduleSchema), required=True)
    activeRuns = fields.List(fields.Nested(JobRunSchema))
    history = fields.Nested(JobHistorySchema)
    historySummary = fields.Nested(JobHistorySummarySchema)


class JobQueueRunSchema(Schema):
    runId = fields.String(required=True)


class JobQueueEntrySchema(Schema):
    """A job with runs waiting for an offer; ``processedOffersSummary`` explains the last offer round."""

    jobId = fields.String(required=True)
    runs = fields.List(fields.Nested(JobQueueRunSchema), required=True)
    processedOffersSummary = fields.Dict()


class JobFileChunkSchema(Schema):
    """A chunk of a run's stdout or stderr, as the agent's ``/files/read`` returns it."""

    taskId = fields.String(required=True)
    data = fields.String(required=True)
    offset = fields.Integer(required=True)


__all__ = ["JobFileChunkSchema", "JobInfoSchema", "JobQueueEntrySchema", "JobRunSchema"]
