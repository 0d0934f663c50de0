"""Metronome's job JSON <-> ``mesospaas.jobs`` specs, with Metronome's validation (marshmallow).

Owns: ``load_job`` (a JobSpec body, schedules optional), ``load_schedule`` and the JSON renderers
(``job_json``, ``schedule_json``, ``run_json``, ``history_json``).

Validation, as Metronome's three layers fail (all 422 ``{"message": "Object is not valid", "details": [...]}``):
unknown fields are rejected on the job, ``run``, ``restart``, ``placement``, constraints, artifacts, docker and
schedules; ``id`` must match the job id pattern, schedule ids theirs; ``run`` needs ``cpus``, ``mem`` and
``disk`` (``mem`` >= 32, ``cpus`` >= 0.01) and one of ``cmd``, ``args`` or ``docker.image``;
``maxLaunchDelay`` >= 1; the cron must parse and name dates that exist (``0 0 30 2 *`` is refused);
``timezone`` must be an IANA zone; ``startingDeadlineSeconds`` >= 60; at most one schedule; constraint
operators IS/EQ/LIKE/UNLIKE (LIKE/UNLIKE values must be regular expressions).
Fails: ``JobBodyInvalid`` (an ``ApiError``, 422) with Metronome's details.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates, validates_schema

from api.errors import ApiError, group_details, violations_from_messages
from mesospaas.jobs.cron import CronError, cron_problem, zone
from mesospaas.jobs.spec import (MIN_STARTING_DEADLINE, Artifact, ConcurrencyPolicy, JobConstraint, JobId, JobSpec,
                                 RestartPolicy, RunSpec, ScheduleSpec, job_id_problem, schedule_id_problem)

OBJECT_NOT_VALID = "Object is not valid"


class JobBodyInvalid(ApiError):
    status = 422

    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__(OBJECT_NOT_VALID)
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "details": self.details}


def invalid(path: str, message: str) -> JobBodyInvalid:
    return JobBodyInvalid([{"path": path, "errors": [message]}])


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class JobRestartSchema(_Strict):
    policy = fields.String(load_default="NEVER", validate=validate.OneOf([p.value for p in RestartPolicy]))
    activeDeadlineSeconds = fields.Integer(load_default=None, allow_none=True, strict=True,
                                           validate=validate.Range(min=1))


class JobConstraintSchema(_Strict):
    attribute = fields.String(required=True, validate=validate.Length(min=1))
    operator = fields.String(required=True, validate=validate.OneOf(["IS", "EQ", "LIKE", "UNLIKE"]))
    value = fields.String(load_default=None, allow_none=True)

    @validates_schema
    def _regex(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("operator") in ("LIKE", "UNLIKE") and data.get("value") is not None:
            try:
                re.compile(data["value"])
            except re.error as exc:
                raise ValidationError(f"'{data['value']}' is not a valid regular expression: {exc}", "value")


class JobPlacementSchema(_Strict):
    constraints = fields.List(fields.Nested(JobConstraintSchema), load_default=list)


class JobArtifactSchema(_Strict):
    uri = fields.String(required=True, validate=validate.Length(min=1))
    extract = fields.Boolean(load_default=True)
    executable = fields.Boolean(load_default=False)
    cache = fields.Boolean(load_default=False)


class JobDockerSchema(_Strict):
    image = fields.String(required=True, validate=validate.Length(min=1))
    forcePullImage = fields.Boolean(load_default=False)
    privileged = fields.Boolean(load_default=False)
    parameters = fields.List(fields.Dict(), load_default=list)


class JobRunSpecSchema(_Strict):
    cmd = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1))
    args = fields.List(fields.String(), load_default=None, allow_none=True)
    cpus = fields.Float(required=True, allow_nan=False, validate=validate.Range(min=0.01))
    mem = fields.Float(required=True, allow_nan=False, validate=validate.Range(min=32))
    disk = fields.Float(required=True, allow_nan=False, validate=validate.Range(min=0))
    gpus = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0))
    user = fields.String(load_default=None, allow_none=True)
    env = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    placement = fields.Nested(JobPlacementSchema, load_default=None, allow_none=True)
    artifacts = fields.List(fields.Nested(JobArtifactSchema), load_default=list)
    maxLaunchDelay = fields.Integer(load_default=3600, strict=True, validate=validate.Range(min=1))
    docker = fields.Nested(JobDockerSchema, load_default=None, allow_none=True)
    restart = fields.Nested(JobRestartSchema, load_default=None, allow_none=True)
    taskKillGracePeriodSeconds = fields.Integer(load_default=None, allow_none=True, strict=True,
                                                validate=validate.Range(min=0))

    @validates_schema
    def _command(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("cmd") and not data.get("args") and not data.get("docker"):
            raise ValidationError("Cmd, Docker or UCR image must be specified")


class JobScheduleSchema(_Strict):
    id = fields.String(required=True)
    cron = fields.String(required=True)
    timezone = fields.String(load_default="UTC")
    startingDeadlineSeconds = fields.Integer(load_default=900, strict=True)
    concurrencyPolicy = fields.String(load_default="ALLOW",
                                      validate=validate.OneOf([p.value for p in ConcurrencyPolicy]))
    enabled = fields.Boolean(load_default=True)
    nextRunAt = fields.String(load_default=None, allow_none=True)
    """Accepted and ignored: clients send back what they read."""

    @validates("id")
    def _id(self, value: str, **_: Any) -> None:
        problem = schedule_id_problem(value)
        if problem is not None:
            raise ValidationError(problem)

    @validates("cron")
    def _cron(self, value: str, **_: Any) -> None:
        problem = cron_problem(value)
        if problem is not None:
            raise ValidationError(problem)

    @validates("timezone")
    def _zone(self, value: str, **_: Any) -> None:
        try:
            zone(value)
        except CronError as exc:
            raise ValidationError(str(exc))

    @validates("startingDeadlineSeconds")
    def _deadline(self, value: int, **_: Any) -> None:
        if value < MIN_STARTING_DEADLINE:
            raise ValidationError(f"must be greater than or equal to {int(MIN_STARTING_DEADLINE)}")


class JobDependencySchema(_Strict):
    id = fields.String(required=True)


class JobSchema(_Strict):
    id = fields.String(required=True)
    description = fields.String(load_default=None, allow_none=True)
    labels = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    run = fields.Nested(JobRunSpecSchema, required=True)
    schedules = fields.List(fields.Nested(JobScheduleSchema), load_default=list)
    dependencies = fields.List(fields.Nested(JobDependencySchema), load_default=list)

    @validates("id")
    def _id(self, value: str, **_: Any) -> None:
        problem = job_id_problem(value)
        if problem is not None:
            raise ValidationError(problem)

    @validates("schedules")
    def _one(self, value: list[Any], **_: Any) -> None:
        if len(value) > 1:
            raise ValidationError("Only one schedule supported at the moment")


def _load(schema: Schema, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid("/", "expected a JSON object")
    try:
        loaded: dict[str, Any] = schema.load(body)
    except ValidationError as exc:
        raise JobBodyInvalid(group_details(violations_from_messages(exc.messages))) from None
    return loaded


def schedule_from(data: dict[str, Any]) -> ScheduleSpec:
    return ScheduleSpec(id=data["id"], cron=data["cron"], timezone=data["timezone"],
                        starting_deadline_seconds=float(data["startingDeadlineSeconds"]),
                        concurrency_policy=ConcurrencyPolicy(data["concurrencyPolicy"]), enabled=data["enabled"])


def load_schedule(body: Any) -> ScheduleSpec:
    return schedule_from(_load(JobScheduleSchema(), body))


def load_job(body: Any) -> JobSpec:
    data = _load(JobSchema(), body)
    run = data["run"]
    restart = run.get("restart") or {"policy": "NEVER", "activeDeadlineSeconds": None}
    placement = run.get("placement") or {"constraints": []}
    try:
        spec = RunSpec(cmd=run.get("cmd"), args=tuple(run["args"]) if run.get("args") else None, cpus=run["cpus"],
                       mem=run["mem"], disk=run["disk"], gpus=run["gpus"], user=run.get("user"), env=run["env"],
                       constraints=tuple(JobConstraint(c["attribute"], c["operator"], c.get("value"))
                                         for c in placement["constraints"]),
                       artifacts=tuple(Artifact(a["uri"], a["extract"], a["executable"], a["cache"])
                                       for a in run["artifacts"]),
                       max_launch_delay=float(run["maxLaunchDelay"]),
                       restart_policy=RestartPolicy(restart["policy"]),
                       active_deadline_seconds=float(restart["activeDeadlineSeconds"])
                       if restart.get("activeDeadlineSeconds") is not None else None,
                       task_kill_grace_period_seconds=float(run["taskKillGracePeriodSeconds"])
                       if run.get("taskKillGracePeriodSeconds") is not None else None,
                       docker_image=(run.get("docker") or {}).get("image"))
    except ValueError as exc:
        raise invalid("/run", str(exc)) from None
    if spec.docker_image is not None and not spec.cmd and not spec.args:
        raise invalid("/run/docker", "Docker images are not supported by this scheduler yet; give a cmd")
    return JobSpec(id=JobId(data["id"]), run=spec, description=data.get("description"), labels=data["labels"],
                   dependencies=tuple(JobId(d["id"]) for d in data["dependencies"]),
                   schedules=tuple(schedule_from(s) for s in data["schedules"]))


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def run_spec_json(run: RunSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"cpus": _number(run.cpus), "mem": _number(run.mem), "disk": _number(run.disk),
                           "gpus": run.gpus, "maxLaunchDelay": _number(run.max_launch_delay),
                           "restart": {"policy": run.restart_policy.value},
                           "placement": {"constraints": [
                               {"attribute": c.attribute, "operator": c.operator,
                                **({"value": c.value} if c.value is not None else {})} for c in run.constraints]},
                           "artifacts": [{"uri": a.uri, "extract": a.extract, "executable": a.executable,
                                          "cache": a.cache} for a in run.artifacts],
                           "env": dict(run.env)}
    if run.active_deadline_seconds is not None:
        out["restart"]["activeDeadlineSeconds"] = _number(run.active_deadline_seconds)
    if run.cmd is not None:
        out["cmd"] = run.cmd
    if run.args is not None:
        out["args"] = list(run.args)
    if run.user is not None:
        out["user"] = run.user
    if run.task_kill_grace_period_seconds is not None:
        out["taskKillGracePeriodSeconds"] = _number(run.task_kill_grace_period_seconds)
    if run.docker_image is not None:
        out["docker"] = {"image": run.docker_image}
    return out


__all__ = ["JobArtifactSchema", "JobConstraintSchema", "JobRunSpecSchema", "JobSchema", "JobScheduleSchema",
           "JobBodyInvalid", "OBJECT_NOT_VALID", "invalid", "load_job", "load_schedule", "run_spec_json"]
