"""Metronome's v1 API (and ``/v0/scheduled-jobs``) on the same app and port as the Marathon API.

Owns the job routes, their status codes and bodies (reference §7): ``/v1/jobs`` (list, create 201), one job
(GET with ``embed=activeRuns|schedules|history|historySummary``, PUT keeping schedules, DELETE with
``stopCurrentJobRuns``), runs (POST 201 start now, GET active, GET one, POST ``actions/stop``), schedules
(at most one per job), ``/v1/queue`` and ``/v0/scheduled-jobs`` (create or replace a job with its
schedules). Timestamps are Metronome's ``yyyy-MM-dd'T'HH:mm:ss.SSS+0000``.

Our addition, for logs: ``GET /v1/jobs/{jobId}/runs/{runId}/files/{stdout|stderr}`` reads the file from the
sandbox of the run's current (or, with ``task=``, a given) task on its agent, while the sandbox exists:
``?offset=N&length=M`` reads from ``offset`` (default 0, length default 64 KiB, at most 1 MiB), ``?tail=N``
the last N bytes. Answers ``{"data": "...", "offset": N}`` (``offset`` = where ``data`` starts) as the agent's
``/files/read`` does; 404 when the run, task or sandbox is unknown, 502 when the agent cannot be reached.
A finished run is found in the job's history.

Fails: 404/409/422 in Metronome's shapes; nothing else changes state on a refused request.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from api.errors import ApiError, UnparseableJson, parse_json
from api.openapi import QueryParam, RouteSpec
from api.mesos_master import mesos_master_of
from api.platform import JobsRefusal, JobsView
from api.routes_apps import platform_of
from api.sandbox_files import SandboxError, SandboxFiles, SandboxNotFound
from api.schemas.job import JobBodyInvalid, JobSchema, JobScheduleSchema, invalid, load_job, load_schedule, run_spec_json
from api.schemas.job_responses import JobFileChunkSchema, JobInfoSchema, JobQueueEntrySchema, JobRunSchema
from mesospaas.jobs.history import FinishedRun, JobHistory
from mesospaas.jobs.run import JobRun
from mesospaas.jobs.spec import JobId, JobSpec, ScheduleSpec
from mesospaas.jobs.step import JobState, next_run_at

SANDBOX = web.AppKey("job_sandbox_files", SandboxFiles)
EMBEDS = frozenset({"activeRuns", "schedules", "history", "historySummary"})
DEFAULT_READ = 64 * 1024


def metronome_time(at: float | None) -> str | None:
    if at is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int((at % 1) * 1000):03d}+0000"


def respond(payload: Any, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, dumps=lambda p: json.dumps(p, separators=(",", ":")))


def _shell(request: web.Request) -> JobsView:
    jobs: JobsView = platform_of(request).jobs
    return jobs


async def _body(request: web.Request) -> Any:
    try:
        return parse_json(await request.read())
    except UnparseableJson as exc:
        raise JobBodyInvalid([{"path": "/", "errors": [exc.message]}]) from None


def _raise(exc: JobsRefusal) -> ApiError:
    details = getattr(exc, "details", None)
    if exc.status == 422 and details is not None:
        return JobBodyInvalid([{"path": p, "errors": [m]} for p, m in details])
    return _error(exc.status, exc.message, **exc.extra)


# -- rendering -------------------------------------------------------------------------------------------
def schedule_json(schedule: ScheduleSpec, state: JobState | None, now: float) -> dict[str, Any]:
    out: dict[str, Any] = {"id": schedule.id, "cron": schedule.cron, "timezone": schedule.timezone,
                           "startingDeadlineSeconds": int(schedule.starting_deadline_seconds),
                           "concurrencyPolicy": schedule.concurrency_policy.value, "enabled": schedule.enabled}
    nxt = next_run_at(state, now) if state is not None else None
    if nxt is not None:
        out["nextRunAt"] = metronome_time(nxt)
    return out


def run_json(run: JobRun) -> dict[str, Any]:
    return {"id": run.id, "jobId": run.job_id, "status": run.status.value,
            "createdAt": metronome_time(run.created_at), "completedAt": metronome_time(run.completed_at),
            "tasks": [{"id": t.id, "startedAt": metronome_time(t.started_at or t.launched_at or None),
                       "completedAt": metronome_time(t.completed_at), "status": t.status,
                       **({"exitCode": t.exit_code} if t.exit_code is not None else {})} for t in run.tasks]}


def _finished_json(entry: FinishedRun) -> dict[str, Any]:
    return {"id": entry.id, "createdAt": metronome_time(entry.created_at),
            "finishedAt": metronome_time(entry.finished_at), "tasks": [t.id for t in entry.tasks],
            "taskDetails": [{"id": t.id, "status": t.status, "exitCode": t.exit_code,
                             "startedAt": metronome_time(t.started_at), "completedAt": metronome_time(t.completed_at)}
                            for t in entry.tasks],
            **({"reason": entry.reason} if entry.reason else {})}


def summary_json(history: JobHistory) -> dict[str, Any]:
    return {"successCount": history.success_count, "failureCount": history.failure_count,
            "lastSuccessAt": metronome_time(history.last_success_at),
            "lastFailureAt": metronome_time(history.last_failure_at)}


def history_json(history: JobHistory) -> dict[str, Any]:
    return {**summary_json(history), "successfulFinishedRuns": [_finished_json(e) for e in history.successful_runs],
            "failedFinishedRuns": [_finished_json(e) for e in history.failed_runs]}


def job_json(state: JobState, now: float, embeds: frozenset[str] = frozenset()) -> dict[str, Any]:
    spec: JobSpec = state.spec
    out: dict[str, Any] = {"id": spec.id, "labels": dict(spec.labels), "run": run_spec_json(spec.run)}
    if spec.description is not None:
        out["description"] = spec.description
    if spec.dependencies:
        out["dependencies"] = [{"id": d} for d in spec.dependencies]
    out["schedules"] = [schedule_json(s, state, now) for s in spec.schedules]
    if "activeRuns" in embeds:
        out["activeRuns"] = [run_json(r) for r in state.runs]
    if "history" in embeds:
        out["history"] = history_json(state.history)
    if "historySummary" in embeds:
        out["historySummary"] = summary_json(state.history)
    return out


def _embeds(request: web.Request) -> frozenset[str]:
    asked = {e for value in request.query.getall("embed", []) for e in value.split(",") if e}
    unknown = asked - EMBEDS
    if unknown:
        raise invalid("/embed", f"Unknown embed: {', '.join(sorted(unknown))}")
    return frozenset(asked)


def _job_id(request: web.Request) -> JobId:
    return JobId(request.match_info["job_id"])


def _job(request: web.Request) -> JobState:
    state = _shell(request).get(_job_id(request))
    if state is None:
        raise _error(404, "Job not found", id=_job_id(request))
    return state


def _error(status: int, message: str, **extra: Any) -> ApiError:
    error = ApiError(message, status=status)
    error.body = lambda: {**extra, "message": message}  # type: ignore[method-assign]
    return error


# -- handlers --------------------------------------------------------------------------------------------
async def list_jobs(request: web.Request) -> web.Response:
    embeds, now = _embeds(request), platform_of(request).clock()
    shell = _shell(request)
    return respond([job_json(s, now, embeds) for _, s in sorted(shell.jobs.items())])


async def create_job(request: web.Request) -> web.Response:
    spec = load_job(await _body(request))
    state = await _shell(request).create(spec)
    return respond(job_json(state, platform_of(request).clock()), 201)


async def get_job(request: web.Request) -> web.Response:
    embeds = _embeds(request)
    return respond(job_json(_job(request), platform_of(request).clock(), embeds))


async def put_job(request: web.Request) -> web.Response:
    spec = load_job(await _body(request))
    if spec.id != _job_id(request):
        raise invalid("/id", f"Job id {spec.id} does not match the path's {_job_id(request)}")
    state = await _shell(request).replace_spec(spec)
    return respond(job_json(state, platform_of(request).clock()))


async def delete_job(request: web.Request) -> web.Response:
    stop = request.query.get("stopCurrentJobRuns", "false").lower() == "true"
    state = await _shell(request).delete(_job_id(request), stop_current=stop)
    return respond(job_json(state, platform_of(request).clock()))


async def list_runs(request: web.Request) -> web.Response:
    return respond([run_json(r) for r in _job(request).runs])


async def start_run(request: web.Request) -> web.Response:
    run = await _shell(request).start_run(_job_id(request))
    return respond(run_json(run), 201)


def _run(request: web.Request) -> JobRun:
    state = _job(request)
    run_id = request.match_info["run_id"]
    run = state.run(run_id)
    if run is None:
        raise _error(404, "Job Run not found", jobSpec=state.spec.id, id=run_id)
    return run


async def get_run(request: web.Request) -> web.Response:
    return respond(run_json(_run(request)))


async def stop_run(request: web.Request) -> web.Response:
    _run(request)
    run = await _shell(request).stop_run(_job_id(request), request.match_info["run_id"])
    return respond(run_json(run))


def _any_run_tasks(request: web.Request) -> list[tuple[str, str | None]]:
    """(task id, agent id) of the run's tasks, newest last: an active run or one in the history."""
    state = _job(request)
    run_id = request.match_info["run_id"]
    run = state.run(run_id)
    if run is not None:
        return [(t.id, t.agent_id) for t in run.tasks]
    finished = _shell(request).finished_run(state.spec.id, run_id)
    if finished is None:
        raise _error(404, "Job Run not found", jobSpec=state.spec.id, id=run_id)
    return [(t.id, t.agent_id) for t in finished.tasks]


async def run_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in ("stdout", "stderr"):
        raise _error(404, f"No file {name}: only stdout and stderr are served")
    tasks = _any_run_tasks(request)
    wanted = request.query.get("task")
    chosen = [t for t in tasks if wanted is None or t[0] == wanted]
    if not chosen:
        raise _error(404, "The run has no such task")
    task_id, agent_id = chosen[-1]
    try:
        offset = int(request.query.get("offset", "0"))
        length = int(request.query.get("length", str(DEFAULT_READ)))
        tail = int(request.query["tail"]) if "tail" in request.query else None
    except ValueError:
        raise invalid("/offset", "offset, length and tail must be integers") from None
    if offset < 0 or length < 0 or (tail is not None and tail < 0):
        raise invalid("/offset", "offset, length and tail must not be negative")
    platform = platform_of(request)
    reader = request.app[SANDBOX]
    framework_id = platform.state.framework_id or ""
    try:
        if agent_id is None:
            raise SandboxNotFound("the run's agent is not known any more")
        sandbox = await reader.find(agent_id, framework_id, task_id)
        chunk = await (reader.tail(sandbox, name, tail) if tail is not None else reader.read(sandbox, name, offset,
                                                                                              length))
    except SandboxNotFound as exc:
        raise _error(404, f"Sandbox of task {task_id} not available: {exc}") from None
    except SandboxError as exc:
        raise _error(502, f"The agent did not serve the file: {exc}") from None
    return respond({"taskId": task_id, "data": chunk.data, "offset": chunk.offset})


async def list_schedules(request: web.Request) -> web.Response:
    state = _job(request)
    now = platform_of(request).clock()
    return respond([schedule_json(s, state, now) for s in state.spec.schedules])


async def create_schedule(request: web.Request) -> web.Response:
    state = _job(request)
    schedule = load_schedule(await _body(request))
    if state.spec.schedule(schedule.id) is not None:
        raise _error(409, f"A schedule with id {schedule.id} already exists")
    if state.spec.schedules:
        raise _error(409, "Only one schedule supported at the moment")
    after = await _shell(request).set_schedules(state.spec.id, (*state.spec.schedules, schedule))
    return respond(schedule_json(schedule, after, platform_of(request).clock()), 201)


def _schedule(request: web.Request) -> tuple[JobState, ScheduleSpec]:
    state = _job(request)
    schedule = state.spec.schedule(request.match_info["schedule_id"])
    if schedule is None:
        raise _error(404, "Schedule not found", id=request.match_info["schedule_id"])
    return state, schedule


async def get_schedule(request: web.Request) -> web.Response:
    state, schedule = _schedule(request)
    return respond(schedule_json(schedule, state, platform_of(request).clock()))


async def put_schedule(request: web.Request) -> web.Response:
    state, old = _schedule(request)
    schedule = load_schedule(await _body(request))
    if schedule.id != old.id:
        raise invalid("/id", f"Schedule id {schedule.id} does not match the path's {old.id}")
    after = await _shell(request).set_schedules(
        state.spec.id, tuple(schedule if s.id == old.id else s for s in state.spec.schedules))
    return respond(schedule_json(schedule, after, platform_of(request).clock()))


async def delete_schedule(request: web.Request) -> web.Response:
    state, old = _schedule(request)
    await _shell(request).set_schedules(state.spec.id, tuple(s for s in state.spec.schedules if s.id != old.id))
    return respond(schedule_json(old, None, platform_of(request).clock()))


async def queue(request: web.Request) -> web.Response:
    shell = _shell(request)
    out = []
    for job_id, runs in shell.queued():
        state = shell.get(job_id)
        diagnostics = shell.diagnostics.get(shell.app_of(state.spec).id) if state is not None else None
        summary = None
        if diagnostics is not None:
            summary = {"processedOffersCount": diagnostics.processed_offers,
                       "unusedOffersCount": diagnostics.processed_offers - diagnostics.used_offers,
                       "rejectSummaryLastOffers": [{"reason": line.reason.value, "declined": line.declined,
                                                    "processed": line.processed}
                                                   for line in diagnostics.reject_summary()]}
        out.append({"jobId": job_id, "runs": [{"runId": r.id} for r in runs],
                    **({"processedOffersSummary": summary} if summary is not None else {})})
    return respond(out)


async def post_scheduled_job(request: web.Request) -> web.Response:
    """``POST /v0/scheduled-jobs``: the same as ``POST /v1/jobs`` (whose body may carry the schedule too)."""
    return await create_job(request)


async def put_scheduled_job(request: web.Request) -> web.Response:
    spec = load_job(await _body(request))
    if spec.id != _job_id(request):
        raise invalid("/id", f"Job id {spec.id} does not match the path's {_job_id(request)}")
    state = await _shell(request).replace_spec(spec, with_schedules=True)
    return respond(job_json(state, platform_of(request).clock()))


Handler = Callable[[web.Request], Awaitable[web.Response]]


def jobs_errors(handler: Handler) -> Handler:
    """Turns the jobs shell's refusals (``api.platform.JobsRefusal``) into Metronome's error bodies."""
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except ValueError as exc:
            if not isinstance(exc, JobsRefusal):
                raise
            raise _raise(exc) from None
    return wrapped


def register(app: web.Application) -> None:
    async def reader_lifecycle(app: web.Application) -> Any:
        app[SANDBOX] = SandboxFiles(lambda: mesos_master_of(app))
        yield
        await app[SANDBOX].close()

    app.cleanup_ctx.append(reader_lifecycle)
    r = app.router
    r.add_get("/v1/jobs", jobs_errors(list_jobs))
    r.add_post("/v1/jobs", jobs_errors(create_job))
    r.add_get("/v1/jobs/{job_id}", jobs_errors(get_job))
    r.add_put("/v1/jobs/{job_id}", jobs_errors(put_job))
    r.add_delete("/v1/jobs/{job_id}", jobs_errors(delete_job))
    r.add_get("/v1/jobs/{job_id}/runs", jobs_errors(list_runs))
    r.add_post("/v1/jobs/{job_id}/runs", jobs_errors(start_run))
    r.add_get("/v1/jobs/{job_id}/runs/{run_id}", jobs_errors(get_run))
    r.add_post("/v1/jobs/{job_id}/runs/{run_id}/actions/stop", jobs_errors(stop_run))
    r.add_get("/v1/jobs/{job_id}/runs/{run_id}/files/{name}", jobs_errors(run_file))
    r.add_get("/v1/jobs/{job_id}/schedules", jobs_errors(list_schedules))
    r.add_post("/v1/jobs/{job_id}/schedules", jobs_errors(create_schedule))
    r.add_get("/v1/jobs/{job_id}/schedules/{schedule_id}", jobs_errors(get_schedule))
    r.add_put("/v1/jobs/{job_id}/schedules/{schedule_id}", jobs_errors(put_schedule))
    r.add_delete("/v1/jobs/{job_id}/schedules/{schedule_id}", jobs_errors(delete_schedule))
    r.add_get("/v1/queue", jobs_errors(queue))
    r.add_post("/v0/scheduled-jobs", jobs_errors(post_scheduled_job))
    r.add_put("/v0/scheduled-jobs/{job_id}", jobs_errors(put_scheduled_job))


JOB_EMBED = QueryParam("embed", repeated=True, enum=tuple(sorted(EMBEDS)), description=(
    "activeRuns, schedules (always there), history, historySummary; repeatable or comma-separated."))
JOB_ID = {"job_id": "Job id (dot-separated segments: prod.example.app)."}
RUN_ID = {"run_id": "Run id (yyyyMMddHHmmss + 5 random characters)."}
_JOB_TAGS = ("jobs",)
JOB_ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("GET", "/v1/jobs", "List jobs (Metronome)", response=JobInfoSchema(many=True), status_codes=(200, 422),
              tags=_JOB_TAGS, query=(JOB_EMBED,)),
    RouteSpec("POST", "/v1/jobs", "Create a job, optionally with its schedule", request=JobSchema,
              response=JobInfoSchema, status_codes=(201, 409, 413, 422), tags=_JOB_TAGS,
              description="422 for an invalid body (unknown fields, id pattern, cron, startingDeadlineSeconds < 60, "
                          "unknown or cyclic dependencies, dependencies with schedules); 409 when the id exists."),
    RouteSpec("GET", "/v1/jobs/{job_id}", "One job", response=JobInfoSchema, status_codes=(200, 404, 422),
              tags=_JOB_TAGS, query=(JOB_EMBED,), path_descriptions=JOB_ID),
    RouteSpec("PUT", "/v1/jobs/{job_id}", "Replace a job's definition (its schedules are kept)", request=JobSchema,
              response=JobInfoSchema, status_codes=(200, 404, 413, 422), tags=_JOB_TAGS, path_descriptions=JOB_ID),
    RouteSpec("DELETE", "/v1/jobs/{job_id}", "Delete a job", response=JobInfoSchema, status_codes=(200, 404, 409),
              tags=_JOB_TAGS, path_descriptions=JOB_ID,
              query=(QueryParam("stopCurrentJobRuns", type="boolean", default=False,
                                description="Stop active runs (409 otherwise)."),),
              description="409 while runs are active (without stopCurrentJobRuns=true) or other jobs depend on it."),
    RouteSpec("GET", "/v1/jobs/{job_id}/runs", "Active runs", response=JobRunSchema(many=True),
              status_codes=(200, 404), tags=_JOB_TAGS, path_descriptions=JOB_ID),
    RouteSpec("POST", "/v1/jobs/{job_id}/runs", "Start a run now (concurrency policies do not apply)",
              response=JobRunSchema, status_codes=(201, 404), tags=_JOB_TAGS, path_descriptions=JOB_ID),
    RouteSpec("GET", "/v1/jobs/{job_id}/runs/{run_id}", "One active run", response=JobRunSchema,
              status_codes=(200, 404), tags=_JOB_TAGS, path_descriptions={**JOB_ID, **RUN_ID}),
    RouteSpec("POST", "/v1/jobs/{job_id}/runs/{run_id}/actions/stop", "Stop a run: its task is killed, it FAILs",
              response=JobRunSchema, status_codes=(200, 404), tags=_JOB_TAGS, path_descriptions={**JOB_ID, **RUN_ID}),
    RouteSpec("GET", "/v1/jobs/{job_id}/runs/{run_id}/files/{name}", "Read a run's stdout or stderr (mesospaas)",
              response=JobFileChunkSchema, status_codes=(200, 404, 422, 502), tags=_JOB_TAGS,
              path_descriptions={**JOB_ID, **RUN_ID, "name": "stdout or stderr"},
              query=(QueryParam("offset", type="integer", description="Byte offset to read from (default 0)."),
                     QueryParam("length", type="integer", description="Bytes to read (default 65536, max 1 MiB)."),
                     QueryParam("tail", type="integer", description="Read the last N bytes instead."),
                     QueryParam("task", description="A task of the run (default: its latest).")),
              description="From the agent's /files/read while the sandbox exists (active and finished runs)."),
    RouteSpec("GET", "/v1/jobs/{job_id}/schedules", "A job's schedules", response=JobScheduleSchema(many=True),
              status_codes=(200, 404), tags=_JOB_TAGS, path_descriptions=JOB_ID),
    RouteSpec("POST", "/v1/jobs/{job_id}/schedules", "Add the job's schedule (at most one)",
              request=JobScheduleSchema, response=JobScheduleSchema, status_codes=(201, 404, 409, 413, 422),
              tags=_JOB_TAGS, path_descriptions=JOB_ID),
    RouteSpec("GET", "/v1/jobs/{job_id}/schedules/{schedule_id}", "One schedule", response=JobScheduleSchema,
              status_codes=(200, 404), tags=_JOB_TAGS, path_descriptions=JOB_ID),
    RouteSpec("PUT", "/v1/jobs/{job_id}/schedules/{schedule_id}", "Replace a schedule", request=JobScheduleSchema,
              response=JobScheduleSchema, status_codes=(200, 404, 413, 422), tags=_JOB_TAGS, path_descriptions=JOB_ID),
    RouteSpec("DELETE", "/v1/jobs/{job_id}/schedules/{schedule_id}", "Delete a schedule",
              response=JobScheduleSchema, status_codes=(200, 404), tags=_JOB_TAGS, path_descriptions=JOB_ID),
    RouteSpec("GET", "/v1/queue", "Job runs waiting for an offer, with the last round's reject summary",
              response=JobQueueEntrySchema(many=True), tags=_JOB_TAGS),
    RouteSpec("POST", "/v0/scheduled-jobs", "Create a job with its schedules", request=JobSchema,
              response=JobInfoSchema, status_codes=(201, 409, 413, 422), tags=_JOB_TAGS),
    RouteSpec("PUT", "/v0/scheduled-jobs/{job_id}", "Replace a job and its schedules", request=JobSchema,
              response=JobInfoSchema, status_codes=(200, 404, 413, 422), tags=_JOB_TAGS, path_descriptions=JOB_ID),
)
"""The jobs routes for ``/openapi.json`` (``api.routes_docs`` adds them to its table)."""


__all__ = ["JOB_ROUTES", "history_json", "job_json", "metronome_time", "register", "run_json", "schedule_json"]
