"""The jobs shell: job state in memory and in the store, job runs in the offer rounds, job task updates.

Owns: ``JobsShell`` (constructed by the runtime, which calls its hooks) and ``JobsBatch`` (the step results of
one runtime event, committed together). The rules are in ``mesospaas.jobs`` (pure); this module turns the
world into step events and step commands into effects:

- Store (both backends, one record each): ``jobs/<jobId>`` the spec; ``job_status/<jobId>`` history,
  schedule cursor, last start, lingering kills and skipped triggers (bounded); ``job_runs/<jobId>@<runId>``
  each unfinished run. Every step's result is committed before its commands are performed: a run is
  persisted before its task is launched (the ``Launched`` record goes in the same commit as the app
  launches of that round, before ACCEPT), and a cron trigger's run is persisted with the moved cursor, so
  a new leader neither loses a run, nor launches a second task for it, nor fires the same trigger again.
- Offers: ``add_pending`` turns launchable runs into one-instance run specs (synthetic app ids under
  ``/_jobs/``, which no app can have) for ``mesospaas.placement.place`` in the same round as the apps; the
  reject diagnostics for them land in ``diagnostics`` (``/v1/queue``). Demand feeds
  ``mesospaas.launch.offer_interest`` through ``with_demand`` (REVIVE when a run is pending).
- Status updates: task ids of the form ``<jobId>_<runId>.<attempt>`` are the jobs' (``owns_task``); the rest
  go to the apps, and unknown ones are killed there.
- Events: ``job_run_<status>`` and ``job_trigger_skipped`` on the event bus, only to subscribers that name
  them in ``event_type=`` (``scheduler.job_events``).
- Quotas: ``quotas`` (the tenants' limits, ``{}`` by default; the process wires it to the API's principals
  file, see ``api.auth.AuthConfig.current_quotas``) holds back the runs a schedule or a dependency would start:
  such a run that would cross its tenant's quota beside the apps and the unfinished runs is recorded FAILED,
  "not started: quota of ... exceeded ..." (``mesospaas.jobs.admission``, ``step``'s ``refusal``), and the
  next due time tries again. ``POST /v1/jobs/{id}/runs`` is checked by the API (a 422) before it gets here.

Fails: ``JobsError`` subclasses for API requests that cannot be done (unknown job, conflicts); store errors
propagate (the runtime stops).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mesospaas.jobs.admission import counted, quota_usage, refusal_in
from mesospaas.jobs.dependencies import dependency_problems, dependents, due_dependents
from mesospaas.jobs.history import JobHistory
from mesospaas.jobs.run import TERMINAL_TASK_STATES, JobRun, RunStatus, RunTask, Trigger, new_run_id, parse_run_task_id
from mesospaas.jobs.spec import ConcurrencyPolicy, JobId, JobSpec, RunId, ScheduleSpec
from mesospaas.jobs.step import (Event, JobsConfig, JobState, KillTask, Launched, Notify, ReplaceSpec, SetSchedules,
                                 SkippedTrigger, StartRun, StopAll, StopRun, TaskUpdate, Tick, delayed_runs,
                                 launchable_runs, step)
from mesospaas.launch.queue import LaunchQueue, QueueEntry
from mesospaas.model import AppId, AppSpec, Instance, InstanceId, Snapshot
from mesospaas.model.ids import TaskId
from mesospaas.model.app import FetchUri
from mesospaas.model.constraints import Constraint, Operator
from mesospaas.placement import AppDiagnostics
from mesospaas.placement.place import Launch
from mesospaas.tenancy.quota import Quota
from scheduler.codecs import decode, encode
from scheduler.job_events import publish_job_event
from scheduler.job_timer import CronTimer
from scheduler.mesos_adapter import AdapterError, StatusFacts, task_info
from scheduler.store import Change, Delete, Put, Store

if TYPE_CHECKING:
    from scheduler.runtime import SchedulerRuntime

log = logging.getLogger(__name__)

JOBS, JOB_STATUS, JOB_RUNS = "jobs", "job_status", "job_runs"
JOB_APP_PREFIX = "/_jobs/"


def no_quotas() -> Mapping[str, Quota]:
    return {}


class JobsError(ValueError):
    """An API request about jobs that cannot be done (a ValueError: the runtime reports it to the caller)."""

    status = 400

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class JobNotFound(JobsError):
    status = 404


class JobConflict(JobsError):
    status = 409


class JobInvalid(JobsError):
    status = 422

    def __init__(self, details: list[tuple[str, str]]) -> None:
        super().__init__("Object is not valid")
        self.details = details


@dataclass(frozen=True)
class JobStatusRecord:
    """What ``job_status/<jobId>`` holds: everything of a ``JobState`` but its spec and unfinished runs."""

    created_at: float = 0.0
    history: JobHistory = JobHistory()
    cursor: float | None = None
    last_started_at: float | None = None
    lingering: tuple[str, ...] = ()
    skipped: tuple[SkippedTrigger, ...] = ()


def _status_of(state: JobState) -> JobStatusRecord:
    return JobStatusRecord(state.created_at, state.history, state.cursor, state.last_started_at, state.lingering,
                           state.skipped)


def store_changes(before: JobState | None, after: JobState | None) -> list[Change]:
    """The store changes that move job ``before`` to ``after`` (None: absent)."""
    changes: list[Change] = []
    if after is None:
        if before is None:
            return changes
        job_id = before.spec.id
        changes += [Delete(JOB_RUNS, f"{job_id}@{r.id}") for r in before.runs]
        return changes + [Delete(JOB_STATUS, job_id), Delete(JOBS, job_id)]
    job_id = after.spec.id
    if before is None or before.spec != after.spec:
        changes.append(Put(JOBS, job_id, encode(after.spec)))
    if before is None or _status_of(before) != _status_of(after):
        changes.append(Put(JOB_STATUS, job_id, encode(_status_of(after))))
    old = {r.id: r for r in before.runs} if before is not None else {}
    new = {r.id: r for r in after.runs}
    changes += [Delete(JOB_RUNS, f"{job_id}@{rid}") for rid in old if rid not in new]
    changes += [Put(JOB_RUNS, f"{job_id}@{rid}", encode(r)) for rid, r in new.items() if old.get(rid) != r]
    return changes


def read_jobs(store: Store) -> dict[JobId, JobState]:
    """Every job in ``store`` (blocking: the runtime calls it in its load thread)."""
    specs = {JobId(k): decode(JobSpec, v) for k, v in store.load(JOBS).items()}
    statuses = {JobId(k): decode(JobStatusRecord, v) for k, v in store.load(JOB_STATUS).items()}
    runs: dict[JobId, list[JobRun]] = {}
    for raw in store.load(JOB_RUNS).values():
        run = decode(JobRun, raw)
        runs.setdefault(run.job_id, []).append(run)
    out: dict[JobId, JobState] = {}
    for job_id, spec in specs.items():
        status = statuses.get(job_id, JobStatusRecord())
        out[job_id] = JobState(spec=spec, created_at=status.created_at,
                               runs=tuple(sorted(runs.get(job_id, []), key=lambda r: (r.created_at, r.id))),
                               history=status.history, cursor=status.cursor, last_started_at=status.last_started_at,
                               lingering=status.lingering, skipped=status.skipped)
    return out


def job_app_id(job_id: JobId) -> AppId:
    return AppId(JOB_APP_PREFIX + job_id)


def run_app(spec: JobSpec, role: str = "*") -> AppSpec:
    """The one-instance run spec a job's runs are placed and launched with (no ports, no health checks), under
    the framework's default Mesos ``role`` (offers of other roles cannot be used for it)."""
    run = spec.run
    constraints = []
    for c in run.constraints:
        if c.value is None:  # Metronome ignores a constraint without a value
            continue
        operator = Operator.IS if c.operator in ("IS", "EQ") else Operator(c.operator)
        constraints.append(Constraint(c.attribute, operator, c.value))
    return AppSpec(id=job_app_id(spec.id), cmd=run.cmd, args=run.args, user=run.user, env=run.env,
                   labels=spec.labels, cpus=run.cpus, mem=run.mem, disk=run.disk, gpus=run.gpus,
                   constraints=tuple(constraints), port_definitions=(),
                   fetch=tuple(FetchUri(a.uri, a.extract, a.executable, a.cache) for a in run.artifacts),
                   task_kill_grace_period_seconds=run.task_kill_grace_period_seconds, role=role)


def _run_instance(state: JobState, run: JobRun, app: AppSpec) -> Instance:
    return Instance(id=InstanceId(f"{run.job_id}_{run.id}"), app_id=app.id, app_version=app.version,
                    incarnation=len(run.tasks), since=run.created_at)


@dataclass
class JobsBatch:
    """The step results of one runtime event: ``changes`` go into the runtime's commit; ``done`` performs."""

    shell: JobsShell
    now: float
    working: dict[JobId, JobState | None] = field(default_factory=dict)
    commands: list[tuple[JobId, Any]] = field(default_factory=list)

    def current(self, job_id: JobId) -> JobState | None:
        if job_id in self.working:
            return self.working[job_id]
        return self.shell.jobs.get(job_id)

    def apply(self, job_id: JobId, event: Event) -> JobState | None:
        state = self.current(job_id)
        if state is None:
            return None
        result = step(state, event, self.now, self.shell.config)
        if result.state != state:
            self.working[job_id] = result.state
        self.commands += [(job_id, c) for c in result.commands]
        return result.state

    def put(self, state: JobState | None, job_id: JobId) -> None:
        self.working[job_id] = state

    @property
    def changes(self) -> list[Change]:
        out: list[Change] = []
        for job_id, after in self.working.items():
            out += store_changes(self.shell.jobs.get(job_id), after)
        return out

    async def done(self) -> None:
        """After the commit: memory, then kills and events, then offer interest for new demand."""
        new_demand = False
        for job_id, after in self.working.items():
            before = self.shell.jobs.get(job_id)
            if after is None:
                self.shell.jobs.pop(job_id, None)
                self.shell.timer.forget(job_id)
                self.shell.diagnostics.pop(job_app_id(job_id), None)
                self.shell.forget_app(job_id)
            else:
                self.shell.jobs[job_id] = after
                if launchable_runs(after, self.now) and (before is None or
                                                         {r.id for r in launchable_runs(before, self.now)} !=
                                                         {r.id for r in launchable_runs(after, self.now)}):
                    new_demand = True
        runtime = self.shell.runtime
        for job_id, command in self.commands:
            if isinstance(command, KillTask):
                if runtime._driver is not None:
                    await runtime._kill(TaskId(command.task_id), self.now)
            elif isinstance(command, Notify):
                publish_job_event(runtime.events, job_id, command, self.now)
        self.working = {}
        self.commands = []
        if new_demand:
            await runtime._decide_offer_interest()


class _Admission:
    """One tick's quota decisions: the usage under each quota prefix is read once (the apps, the unfinished
    runs), on the first run that asks; each run the tick starts (or stops) is counted in it."""

    def __init__(self, shell: JobsShell, batch: JobsBatch) -> None:
        self.shell, self.batch = shell, batch
        self.limits = shell.quotas()
        self.usage: dict[str, Any] | None = None

    def refusal(self, state: JobState, *, replacing: bool) -> str | None:
        if not self.limits:
            return None
        if self.usage is None:
            current = {j: s for j in self.shell.jobs if (s := self.batch.current(j)) is not None}
            self.usage = quota_usage(self.limits, self.shell.runtime.state.apps.values(), current)
        refusal = refusal_in(self.limits, self.usage, state.spec, replacing_runs=len(state.runs) if replacing else 0)
        if refusal is not None:
            log.warning("job %s: a run is not started: %s", state.spec.id, refusal)
        return refusal

    def started(self, before: JobState, after: JobState | None) -> None:
        if self.usage is not None and after is not None and len(after.runs) != len(before.runs):
            self.usage = counted(self.limits, self.usage, before.spec, len(after.runs) - len(before.runs))


class JobsShell:
    def __init__(self, runtime: SchedulerRuntime, config: JobsConfig | None = None) -> None:
        self.runtime = runtime
        self.config = config or JobsConfig()
        self.jobs: dict[JobId, JobState] = {}
        self.timer = CronTimer()
        self.diagnostics: dict[AppId, AppDiagnostics] = {}
        self._launching: dict[InstanceId, tuple[JobId, JobRun]] = {}
        self._round: JobsBatch | None = None
        self._apps: dict[JobId, tuple[JobSpec, AppSpec]] = {}
        self._starts: list[tuple[JobId, asyncio.Future[JobRun]]] = []
        self.quotas: Callable[[], Mapping[str, Quota]] = no_quotas
        """The tenants' quotas now (re-read on every use: SIGHUP may change them)."""

    def app_of(self, spec: JobSpec) -> AppSpec:
        """The run spec of ``spec`` (cached per job while its spec holds)."""
        cached = self._apps.get(spec.id)
        if cached is None or cached[0] is not spec:
            cached = (spec, run_app(spec, self.runtime.framework.role))
            self._apps[spec.id] = cached
        return cached[1]

    def forget_app(self, job_id: JobId) -> None:
        self._apps.pop(job_id, None)

    # -- runtime hooks --------------------------------------------------------------------------------
    def load(self, store: Store) -> None:
        self.jobs = read_jobs(store)
        log.info("loaded %d jobs, %d unfinished runs", len(self.jobs), sum(len(s.runs) for s in self.jobs.values()))

    def batch(self, now: float) -> JobsBatch:
        return JobsBatch(self, now)

    def _pending(self, now: float) -> list[tuple[AppSpec, Instance, JobId, JobRun]]:
        out = []
        for job_id, state in self.jobs.items():
            runs = launchable_runs(state, now)
            if runs:
                app = self.app_of(state.spec)
                out += [(app, _run_instance(state, r, app), job_id, r) for r in runs]
        return out

    def add_pending(self, snapshot: Snapshot, pending: Iterable[Instance], now: float,
                    limit: int) -> tuple[Snapshot, tuple[Instance, ...]]:
        """The offer round's snapshot and pending list with the launchable job runs added after the apps'."""
        items = tuple(pending)
        jobs = self._pending(now)[: max(0, limit - len(items))]
        self._launching = {instance.id: (job_id, run) for _, instance, job_id, run in jobs}
        if not jobs:
            return snapshot, items
        apps = dict(snapshot.apps)
        apps.update({app.id: app for app, _, _, _ in jobs})
        return (Snapshot(apps=apps, instances=snapshot.instances, now=snapshot.now, app_versions=snapshot.app_versions),
                items + tuple(instance for _, instance, _, _ in jobs))

    def take_diagnostics(self, diagnostics: Any) -> dict[AppId, AppDiagnostics]:
        """Keeps the job runs' placement diagnostics; returns the apps'."""
        rest: dict[AppId, AppDiagnostics] = {}
        for app_id, diag in diagnostics.items():
            if str(app_id).startswith(JOB_APP_PREFIX):
                self.diagnostics[app_id] = diag
            else:
                rest[app_id] = diag
        return rest

    def task_info(self, launch: Launch, snapshot: Snapshot, allocation_role: str | None, now: float
                  ) -> dict[str, Any] | None:
        """The TaskInfo of a placed job run (None: not a job run); records ``Launched`` for the round's commit."""
        owner = self._launching.get(launch.instance_id)
        if owner is None:
            return None
        job_id, run = owner
        task = run.next_task_id
        try:
            info = task_info(replace(launch, task_id=TaskId(task)),
                             snapshot.spec_for(launch.app_id, launch.app_version), allocation_role)
        except AdapterError as exc:
            log.error("cannot launch job run %s/%s: %s", job_id, run.id, exc)
            return {}
        info["name"] = job_id
        if self._round is None:
            self._round = self.batch(now)
        self._round.apply(job_id, Launched(run.id, task, launch.agent.agent_id, launch.agent.hostname))
        return info

    def round_batch(self, now: float) -> JobsBatch:
        """The ``Launched`` records of this offer round (commit them with the app launches, before ACCEPT)."""
        batch, self._round = self._round or self.batch(now), None
        self._launching = {}
        return batch

    def with_demand(self, queue: LaunchQueue, now: float) -> LaunchQueue:
        """``queue`` plus the job runs waiting for offers (delayed ones with their retry time)."""
        entries = list(queue.entries)
        for job_id, state in self.jobs.items():
            ready, delayed = launchable_runs(state, now), delayed_runs(state, now)
            if not ready and not delayed:
                continue
            app = self.app_of(state.spec)
            if ready:
                entries.append(QueueEntry(app.id, app.role, tuple(_run_instance(state, r, app) for r in ready)))
            if delayed:
                entries.append(QueueEntry(app.id, app.role, tuple(_run_instance(state, r, app) for r in delayed),
                                          min(r.next_attempt_at or now for r in delayed)))
        return LaunchQueue(tuple(entries))

    def owns_task(self, task_id: str) -> bool:
        parsed = parse_run_task_id(task_id)
        if parsed is None:
            return False
        state = self.jobs.get(parsed[0])
        if state is None:
            return False
        return task_id in state.lingering or state.run(parsed[1]) is not None

    def on_status(self, batch: JobsBatch, facts: StatusFacts) -> None:
        parsed = parse_run_task_id(facts.task_id)
        if facts.state in TERMINAL_TASK_STATES:
            self.runtime._kills_sent.pop(TaskId(facts.task_id), None)
        if parsed is not None:
            batch.apply(parsed[0], TaskUpdate(facts.task_id, facts.state, facts.reason, facts.message))

    def after_statuses(self, batch: JobsBatch) -> None:
        """Dependencies: jobs whose parents all just succeeded start a run (in the same batch)."""
        if not any(isinstance(c, Notify) and c.event_type == "job_run_success" for _, c in batch.commands):
            return
        current = {j: s for j in self.jobs if (s := batch.current(j)) is not None}
        admission = _Admission(self, batch)
        for job_id in due_dependents(current):
            before = current[job_id]
            batch.apply(job_id, StartRun(self.new_run_id(batch.now), Trigger.DEPENDENCY,
                                         admission.refusal(before, replacing=False)))
            admission.started(before, batch.current(job_id))

    def live_task_ids(self) -> list[str]:
        """Tasks to reconcile explicitly after a (re)subscription."""
        out = []
        for state in self.jobs.values():
            out += list(state.lingering)
            out += [r.current_task.id for r in state.runs if r.has_live_task and r.current_task is not None]
        return out

    async def tick(self, now: float) -> None:
        batch = self.batch(now)
        admission = _Admission(self, batch)
        for job_id, state in list(self.jobs.items()):
            if self.timer.due(state, now):
                refusal = None
                if self.timer.fires(state, now):
                    replacing = state.schedule is not None and \
                        state.schedule.concurrency_policy is ConcurrencyPolicy.REPLACE
                    refusal = admission.refusal(state, replacing=replacing)
                batch.apply(job_id, Tick(self.new_run_id(now), refusal))
                admission.started(state, batch.current(job_id))
        if batch.working or batch.commands:
            await self.runtime._commit(batch.changes)
            await batch.done()

    def new_run_id(self, now: float) -> RunId:
        return new_run_id(now, self.runtime.rng)

    # -- API commands (run on the runtime's task) -----------------------------------------------------
    async def _run(self, fn: Any) -> Any:
        return await self.runtime.submit(fn)

    async def _commit_batch(self, batch: JobsBatch) -> None:
        await self.runtime._commit(batch.changes)
        await batch.done()

    def _validate_graph(self, spec: JobSpec) -> None:
        if not spec.dependencies:  # no parents: no unknown parent, no cycle through it, nothing to check
            return
        problems = dependency_problems(spec, {j: s.spec for j, s in self.jobs.items()})
        if problems:
            raise JobInvalid(problems)

    async def create(self, spec: JobSpec) -> JobState:
        async def run() -> JobState:
            if spec.id in self.jobs:
                raise JobConflict("Job with this id already exists")
            self._validate_graph(spec)
            now = self.runtime.clock()
            state = JobState(spec=replace(spec, schedules=()), created_at=now)
            batch = self.batch(now)
            batch.put(state, spec.id)
            batch.apply(spec.id, SetSchedules(spec.schedules))
            await self._commit_batch(batch)
            return self.jobs[spec.id]
        result: JobState = await self._run(run)
        return result

    async def replace_spec(self, spec: JobSpec, *, with_schedules: bool = False) -> JobState:
        """PUT /v1/jobs/{id} (schedules kept), or PUT /v0/scheduled-jobs/{id} (schedules replaced)."""
        async def run() -> JobState:
            current = self._get(spec.id)
            self._validate_graph(spec if with_schedules else replace(spec, schedules=current.spec.schedules))
            batch = self.batch(self.runtime.clock())
            batch.apply(spec.id, ReplaceSpec(spec))
            if with_schedules:
                batch.apply(spec.id, SetSchedules(spec.schedules))
            await self._commit_batch(batch)
            return self.jobs[spec.id]
        result: JobState = await self._run(run)
        return result

    async def delete(self, job_id: JobId, *, stop_current: bool) -> JobState:
        async def run() -> JobState:
            state = self._get(job_id)
            children = dependents(job_id, {j: s.spec for j, s in self.jobs.items()})
            if children:
                raise JobConflict(f"Job {job_id} cannot be deleted: jobs depend on it: {', '.join(children)}")
            if state.runs and not stop_current:
                raise JobConflict("There are active job runs. Override with stopCurrentJobRuns=true")
            batch = self.batch(self.runtime.clock())
            stopped = batch.apply(job_id, StopAll("job deleted"))
            await self._commit_batch(batch)
            # The job's record goes; killed tasks not yet confirmed are killed again as unknown tasks.
            batch = self.batch(self.runtime.clock())
            batch.put(None, job_id)
            await self._commit_batch(batch)
            return stopped or state
        result: JobState = await self._run(run)
        return result

    def _get(self, job_id: JobId) -> JobState:
        state = self.jobs.get(job_id)
        if state is None:
            raise JobNotFound("Job not found", id=job_id)
        return state

    async def start_run(self, job_id: JobId) -> JobRun:
        """POST /v1/jobs/{id}/runs. Starts requested together are committed together (one store write)."""
        future: asyncio.Future[JobRun] = asyncio.get_running_loop().create_future()
        self._starts.append((job_id, future))

        async def run() -> None:
            starts, self._starts = self._starts, []
            if not starts:
                return  # an earlier command took this one's start along
            now = self.runtime.clock()
            batch = self.batch(now)
            started: list[tuple[asyncio.Future[JobRun], JobId, RunId]] = []
            for wanted, waiting in starts:
                if batch.current(wanted) is None:
                    waiting.set_exception(JobNotFound("Job not found", id=wanted))
                    continue
                run_id = self.new_run_id(now)
                batch.apply(wanted, StartRun(run_id, Trigger.MANUAL))
                started.append((waiting, wanted, run_id))
            try:
                await self._commit_batch(batch)
            except BaseException as exc:
                for waiting, _, _ in started:
                    waiting.set_exception(exc)
                raise
            for waiting, wanted, run_id in started:
                run = self.jobs[wanted].run(run_id)
                assert run is not None
                waiting.set_result(run)
        await self._run(run)
        return await future

    async def stop_run(self, job_id: JobId, run_id: str) -> JobRun:
        async def run() -> JobRun:
            state = self._get(job_id)
            active = state.run(run_id)
            if active is None:
                raise JobNotFound("Job Run not found", jobSpec=job_id, id=run_id)
            batch = self.batch(self.runtime.clock())
            batch.apply(job_id, StopRun(run_id, "stopped"))
            await self._commit_batch(batch)
            stopped = self.finished_run(job_id, run_id)
            return stopped or active
        result: JobRun = await self._run(run)
        return result

    def finished_run(self, job_id: JobId, run_id: str) -> JobRun | None:
        """A run that just finished, rebuilt from the history (for the stop response)."""
        state = self.jobs.get(job_id)
        if state is None:
            return None
        for entry in (*state.history.failed_runs, *state.history.successful_runs):
            if entry.id == run_id:
                return JobRun(id=entry.id, job_id=job_id, created_at=entry.created_at, status=entry.status,
                              trigger=entry.trigger, completed_at=entry.finished_at, reason=entry.reason,
                              tasks=tuple(RunTask(t.id, t.status, started_at=t.started_at,
                                                  completed_at=t.completed_at, exit_code=t.exit_code,
                                                  agent_id=t.agent_id)
                                          for t in entry.tasks))
        return None

    async def set_schedules(self, job_id: JobId, schedules: tuple[ScheduleSpec, ...]) -> JobState:
        async def run() -> JobState:
            self._get(job_id)
            candidate = replace(self.jobs[job_id].spec, schedules=schedules)
            self._validate_graph(candidate)
            batch = self.batch(self.runtime.clock())
            batch.apply(job_id, SetSchedules(schedules))
            await self._commit_batch(batch)
            return self.jobs[job_id]
        result: JobState = await self._run(run)
        return result

    # -- reads ----------------------------------------------------------------------------------------
    def get(self, job_id: JobId) -> JobState | None:
        return self.jobs.get(job_id)

    def queued(self) -> list[tuple[JobId, list[JobRun]]]:
        """``/v1/queue``: runs waiting to launch, per job."""
        out = []
        for job_id, state in sorted(self.jobs.items()):
            waiting = [r for r in state.runs if not r.has_live_task]
            if waiting:
                out.append((job_id, waiting))
        return out


__all__ = ["JOBS", "JOB_RUNS", "JOB_STATUS", "JobConflict", "JobInvalid", "JobNotFound", "JobsBatch", "JobsError",
           "JobsShell", "RunStatus", "job_app_id", "read_jobs", "run_app", "store_changes"]
