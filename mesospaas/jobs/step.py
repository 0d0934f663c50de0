"""The job step: ``step(job state, event, now, config) -> StepResult(state, commands)``, pure.

Owns: ``JobState`` (one job: its spec, its unfinished runs, its history, its schedule cursor), the events a
job reacts to, the commands it gives the shell (``KillTask``, ``Notify``), and the queries the shell places
runs from (``launchable_runs``, ``delayed_runs``).

Rules:

- A run goes INITIAL -> STARTING (a task was sent) -> ACTIVE (the task reported staging/starting/running)
  -> SUCCESS (TASK_FINISHED) or FAILED. A finished run leaves ``runs`` for the history and is never launched
  again; a late update for its task changes nothing.
- Task failure: restart NEVER -> FAILED. ON_FAILURE -> a new attempt after a backoff of 1 s, doubling with
  each failure, capped by ``maxLaunchDelay``; FAILED instead once ``activeDeadlineSeconds`` have passed since
  the run was created (checked on the failure and on every tick while the run waits).
  A task Mesos never heard of (reconciliation says LOST/UNKNOWN/DROPPED/GONE with
  ``REASON_RECONCILIATION`` before any other report: the ACCEPT was lost, e.g. in a failover) is not a
  failure: the run is simply launched again (it had no task).
- ``startingDeadlineSeconds`` (scheduled runs): FAILED ("starting deadline exceeded") if not ACTIVE in time.
  A task still staging ``task_launch_timeout`` after its launch is killed on each tick (as apps' are).
- Stop: FAILED (reason given, e.g. ``stopped``); its live task is killed with the job's kill grace period.
  Killed tasks of finished runs stay in ``lingering`` (kills are re-sent every tick) until Mesos confirms.
- Schedules (at most one per job, as Metronome): on each ``Tick`` the fire times in ``(cursor, now]`` are
  due. Catch-up policy (missed triggers while no leader was up, or any backlog): only the most recent due
  time may run, and only if ``now`` is still within ``startingDeadlineSeconds`` of it; every other due
  time is skipped and recorded in ``skipped``. The cursor moves to the newest due time in the same result,
  so a trigger is acted on once even across a crash (the shell persists both together).
  A disabled schedule does not fire; enabling or changing a schedule restarts its cursor at ``now``.
- Concurrency at a scheduled trigger: ALLOW starts a run; FORBID skips it (recorded) while a run is
  unfinished; REPLACE stops the unfinished runs (FAILED, reason ``replaced``, tasks killed) and starts the new
  run, which launches only once the killed tasks are gone. Manual and dependency runs ignore the policy.
- Quotas: a ``Tick`` or ``StartRun`` may carry a ``refusal`` (the shell's admission decision, naming the tenant
  quota one more run would cross, ``mesospaas.jobs.admission``). A run it would start is then not started: it
  is recorded at once as FAILED with the reason ``not started: <refusal>`` (history and a ``job_run_failed``
  notification; the trigger counts as acted on, so the next due time tries again). A FORBID skip still wins,
  and a refused REPLACE trigger stops nothing.

Fails: never raises for events about unknown runs or tasks (the result changes nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Union

from mesospaas.jobs.cron import CronError, fires_between, next_fire, parse_cron, zone
from mesospaas.jobs.history import DEFAULT_HISTORY_LIMIT, JobHistory, recorded
from mesospaas.jobs.run import (ACTIVE_TASK_STATES, TERMINAL_TASK_STATES, JobRun, RunStatus, RunTask, Trigger,
                                exit_code, parse_run_task_id)
from mesospaas.jobs.spec import ConcurrencyPolicy, JobSpec, RestartPolicy, RunId, ScheduleSpec

NEVER_REACHED_MESOS = frozenset({"TASK_LOST", "TASK_UNKNOWN", "TASK_DROPPED", "TASK_GONE"})
MAX_CATCH_UP = 1000
"""Due times enumerated per tick at most; a longer backlog is skipped as one record."""


@dataclass(frozen=True, slots=True)
class JobsConfig:
    history_limit: int = DEFAULT_HISTORY_LIMIT
    skipped_limit: int = 100
    task_launch_timeout: float = 300.0
    """A task still staging this long after its launch is killed (its terminal update then decides)."""


@dataclass(frozen=True, slots=True)
class SkippedTrigger:
    schedule_id: str
    scheduled_for: float
    recorded_at: float
    reason: str


@dataclass(frozen=True, slots=True)
class JobState:
    spec: JobSpec
    created_at: float = 0.0
    runs: tuple[JobRun, ...] = ()
    """Unfinished runs, oldest first."""
    history: JobHistory = JobHistory()
    cursor: float | None = None
    """The newest cron time already acted on (fired or skipped) for the job's schedule."""
    last_started_at: float | None = None
    lingering: tuple[str, ...] = ()
    """Killed tasks of finished runs that Mesos has not yet reported gone."""
    skipped: tuple[SkippedTrigger, ...] = ()
    """Newest first, bounded by ``JobsConfig.skipped_limit``."""

    def run(self, run_id: str) -> JobRun | None:
        return next((r for r in self.runs if r.id == run_id), None)

    @property
    def schedule(self) -> ScheduleSpec | None:
        return self.spec.schedules[0] if self.spec.schedules else None


# -- events ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StartRun:
    run_id: RunId
    trigger: Trigger = Trigger.MANUAL
    refusal: str | None = None
    """Why this run may not start (a tenant quota it would cross); None: it may."""


@dataclass(frozen=True, slots=True)
class StopRun:
    run_id: str
    reason: str = "stopped"


@dataclass(frozen=True, slots=True)
class StopAll:
    reason: str = "stopped"


@dataclass(frozen=True, slots=True)
class Launched:
    run_id: str
    task_id: str
    agent_id: str
    hostname: str


@dataclass(frozen=True, slots=True)
class TaskUpdate:
    task_id: str
    state: str
    reason: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Tick:
    run_id: RunId
    """The id a run started by a due schedule gets."""
    refusal: str | None = None
    """Why a run this tick's schedule would start may not start (a tenant quota it would cross); None: it may."""


@dataclass(frozen=True, slots=True)
class ReplaceSpec:
    spec: JobSpec
    """The new definition; the job's schedules are kept (Metronome's PUT)."""


@dataclass(frozen=True, slots=True)
class SetSchedules:
    schedules: tuple[ScheduleSpec, ...]


Event = Union[StartRun, StopRun, StopAll, Launched, TaskUpdate, Tick, ReplaceSpec, SetSchedules]


# -- commands --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KillTask:
    task_id: str
    grace_period_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Notify:
    """A run changed status (``event_type`` = ``job_run_<status>``) or a trigger was skipped."""

    event_type: str
    run: JobRun | None = None
    previous: RunStatus | None = None
    skipped: SkippedTrigger | None = None


Command = Union[KillTask, Notify]


@dataclass(frozen=True, slots=True)
class StepResult:
    state: JobState
    commands: tuple[Command, ...] = ()


@dataclass
class _Work:
    """Scratch space of one step (private, discarded with it)."""

    state: JobState
    now: float
    config: JobsConfig
    commands: list[Command] = field(default_factory=list)

    def put_run(self, run: JobRun, previous: RunStatus | None) -> None:
        runs = [r for r in self.state.runs if r.id != run.id]
        if run.status.is_final:
            self.state = replace(self.state, runs=tuple(runs),
                                 history=recorded(self.state.history, run, self.config.history_limit))
        else:
            index = next((i for i, r in enumerate(self.state.runs) if r.id == run.id), len(runs))
            runs.insert(index, run)
            self.state = replace(self.state, runs=tuple(runs))
        if previous is not run.status:
            self.commands.append(Notify(f"job_run_{run.status.value.lower()}", run, previous))

    def finish(self, run: JobRun, status: RunStatus, reason: str | None) -> None:
        task = run.current_task
        if task is not None and task.status not in TERMINAL_TASK_STATES:
            self.kill(task.id)
        self.put_run(replace(run, status=status, completed_at=self.now, reason=reason, next_attempt_at=None),
                     run.status)

    def kill(self, task_id: str) -> None:
        if task_id not in self.state.lingering:
            self.state = replace(self.state, lingering=(*self.state.lingering, task_id))
        self.commands.append(KillTask(task_id, self.state.spec.run.task_kill_grace_period_seconds))

    def skip(self, schedule: ScheduleSpec, at: float, reason: str) -> None:
        entry = SkippedTrigger(schedule.id, at, self.now, reason)
        self.state = replace(self.state, skipped=(entry, *self.state.skipped)[: self.config.skipped_limit])
        self.commands.append(Notify("job_trigger_skipped", skipped=entry))

    def start(self, run_id: RunId, trigger: Trigger, schedule: ScheduleSpec | None = None,
              at: float | None = None, waits_for: tuple[str, ...] = ()) -> None:
        deadline = at + schedule.starting_deadline_seconds if schedule is not None and at is not None else None
        run = JobRun(id=run_id, job_id=self.state.spec.id, created_at=self.now, trigger=trigger,
                     schedule_id=schedule.id if schedule is not None else None, scheduled_for=at,
                     starting_deadline_at=deadline, waits_for=waits_for)
        self.state = replace(self.state, last_started_at=self.now)
        self.put_run(run, None)

    def refuse(self, run_id: RunId, trigger: Trigger, refusal: str, schedule: ScheduleSpec | None = None,
               at: float | None = None) -> None:
        """The run that may not start, recorded as a FAILED run that never had a task."""
        run = JobRun(id=run_id, job_id=self.state.spec.id, created_at=self.now, status=RunStatus.FAILED,
                     trigger=trigger, schedule_id=schedule.id if schedule is not None else None, scheduled_for=at,
                     completed_at=self.now, reason=f"not started: {refusal}")
        self.state = replace(self.state, last_started_at=self.now)  # the trigger is used up (dependencies)
        self.put_run(run, None)


def retry_delay(failures: int, max_launch_delay: float) -> float:
    """Seconds before attempt ``failures + 1``: 1 s after the first failure, doubling, capped."""
    return float(min(2.0 ** max(0, failures - 1), max(1.0, max_launch_delay)))


def _deadline_passed(spec: JobSpec, run: JobRun, now: float) -> bool:
    deadline = spec.run.active_deadline_seconds
    return deadline is not None and now >= run.created_at + deadline


def _on_task(work: _Work, event: TaskUpdate) -> None:
    parsed = parse_run_task_id(event.task_id)
    if event.state in TERMINAL_TASK_STATES and event.task_id in work.state.lingering:
        work.state = replace(work.state, lingering=tuple(t for t in work.state.lingering if t != event.task_id))
    if parsed is None:
        return
    run = work.state.run(parsed[1])
    if run is None:
        return
    index = next((i for i, t in enumerate(run.tasks) if t.id == event.task_id), None)
    if index is None:
        return
    task = run.tasks[index]
    if task.status in TERMINAL_TASK_STATES or event.state in ("TASK_UNREACHABLE", "TASK_KILLING"):
        return
    terminal = event.state in TERMINAL_TASK_STATES
    updated = replace(task, status=event.state, heard=True, message=event.message or task.message,
                      started_at=task.started_at if task.started_at is not None or event.state != "TASK_RUNNING"
                      else work.now,
                      completed_at=work.now if terminal else None,
                      exit_code=exit_code(event.state, event.message) if terminal else None)
    tasks = run.tasks[:index] + (updated,) + run.tasks[index + 1:]
    after = replace(run, tasks=tasks)
    if index != len(run.tasks) - 1:  # an older attempt: recorded, nothing else
        work.put_run(after, run.status)
        return
    if event.state in ACTIVE_TASK_STATES:
        if run.status in (RunStatus.INITIAL, RunStatus.STARTING):
            after = replace(after, status=RunStatus.ACTIVE)
        work.put_run(after, run.status)
    elif event.state == "TASK_FINISHED":
        work.put_run(replace(after, status=RunStatus.SUCCESS, completed_at=work.now), run.status)
    elif terminal and not task.heard and event.state in NEVER_REACHED_MESOS and \
            event.reason == "REASON_RECONCILIATION":
        # The launch never reached Mesos: relaunch at once; not a failure of the job's command.
        work.put_run(replace(after, status=RunStatus.STARTING, next_attempt_at=work.now), run.status)
    elif terminal:
        failures = run.failures + 1
        spec = work.state.spec
        if spec.run.restart_policy is RestartPolicy.NEVER:
            work.put_run(replace(after, status=RunStatus.FAILED, failures=failures, completed_at=work.now,
                                 reason=f"task {event.state}"), run.status)
        elif _deadline_passed(spec, run, work.now):
            work.put_run(replace(after, status=RunStatus.FAILED, failures=failures, completed_at=work.now,
                                 reason="active deadline exceeded"), run.status)
        else:
            delay = retry_delay(failures, spec.run.max_launch_delay)
            work.put_run(replace(after, status=RunStatus.STARTING, failures=failures,
                                 next_attempt_at=work.now + delay, reason=f"retry after {event.state}"),
                         run.status)


def _trigger(work: _Work, schedule: ScheduleSpec, at: float, run_id: RunId, refusal: str | None) -> None:
    unfinished = list(work.state.runs)
    if schedule.concurrency_policy is ConcurrencyPolicy.FORBID and unfinished:
        work.skip(schedule, at, f"FORBID: run {unfinished[0].id} is still {unfinished[0].status.value}")
        return
    if refusal is not None:
        work.refuse(run_id, Trigger.SCHEDULE, refusal, schedule, at)
        return
    waits: list[str] = []
    if schedule.concurrency_policy is ConcurrencyPolicy.REPLACE:
        for run in unfinished:
            task = run.current_task
            if task is not None and task.status not in TERMINAL_TASK_STATES:
                waits.append(task.id)
            work.finish(run, RunStatus.FAILED, "replaced")
    work.start(run_id, Trigger.SCHEDULE, schedule, at, tuple(waits))


def _on_tick(work: _Work, event: Tick) -> None:
    now = work.now
    spec = work.state.spec
    for run in list(work.state.runs):
        if run.starting_deadline_at is not None and run.status in (RunStatus.INITIAL, RunStatus.STARTING) \
                and not any(t.heard for t in run.tasks) \
                and now >= run.starting_deadline_at:
            work.finish(run, RunStatus.FAILED, "starting deadline exceeded")
        elif run.failures and not run.has_live_task and _deadline_passed(spec, run, now):
            work.finish(run, RunStatus.FAILED, "active deadline exceeded")
        elif (task := run.current_task) is not None and task.status == "TASK_STAGING" and \
                now - task.launched_at > work.config.task_launch_timeout:
            work.commands.append(KillTask(task.id, spec.run.task_kill_grace_period_seconds))
    for task_id in work.state.lingering:
        work.commands.append(KillTask(task_id, spec.run.task_kill_grace_period_seconds))
    schedule = work.state.schedule
    if schedule is None or not schedule.enabled:
        return
    if work.state.cursor is None:
        work.state = replace(work.state, cursor=now)
        return
    try:
        cron, tz = parse_cron(schedule.cron), zone(schedule.timezone)
    except CronError:
        return  # validated on the way in; a zone database change must not stop the other jobs
    due, more = fires_between(cron, work.state.cursor, now, tz, MAX_CATCH_UP)
    if not due:
        return
    if more:
        work.skip(schedule, due[-1], f"more than {MAX_CATCH_UP} triggers missed")
        work.state = replace(work.state, cursor=now)
        return
    *older, latest = due
    for at in older:
        work.skip(schedule, at, "missed: a later trigger is due")
    work.state = replace(work.state, cursor=latest)
    if now - latest <= schedule.starting_deadline_seconds:
        _trigger(work, schedule, latest, event.run_id, event.refusal)
    else:
        work.skip(schedule, latest, "missed: startingDeadlineSeconds passed before a leader could start it")


def step(state: JobState, event: Event, now: float, config: JobsConfig = JobsConfig()) -> StepResult:
    work = _Work(state, now, config)
    if isinstance(event, StartRun):
        if event.refusal is not None:
            work.refuse(event.run_id, event.trigger, event.refusal)
        else:
            work.start(event.run_id, event.trigger)
    elif isinstance(event, StopRun):
        run = state.run(event.run_id)
        if run is not None:
            work.finish(run, RunStatus.FAILED, event.reason)
    elif isinstance(event, StopAll):
        for run in state.runs:
            work.finish(run, RunStatus.FAILED, event.reason)
    elif isinstance(event, Launched):
        run = state.run(event.run_id)
        if run is not None and not run.status.is_final and not run.has_live_task:
            task = RunTask(event.task_id, launched_at=now, agent_id=event.agent_id, hostname=event.hostname)
            work.put_run(replace(run, tasks=(*run.tasks, task), next_attempt_at=None, waits_for=(),
                                 status=RunStatus.STARTING if run.status is RunStatus.INITIAL else run.status),
                         run.status)
    elif isinstance(event, TaskUpdate):
        _on_task(work, event)
    elif isinstance(event, Tick):
        _on_tick(work, event)
    elif isinstance(event, ReplaceSpec):
        work.state = replace(state, spec=replace(event.spec, schedules=state.spec.schedules))
    elif isinstance(event, SetSchedules):
        old = state.schedule
        new = event.schedules[0] if event.schedules else None
        cursor = state.cursor if old == new else (now if new is not None and new.enabled else None)
        work.state = replace(state, spec=replace(state.spec, schedules=event.schedules), cursor=cursor)
    return StepResult(work.state, tuple(work.commands))


def launchable_runs(state: JobState, now: float) -> list[JobRun]:
    """Runs that want a task now: unfinished, no live task, backoff over, replaced runs' tasks gone."""
    return [r for r in state.runs if not r.has_live_task and (r.next_attempt_at is None or r.next_attempt_at <= now)
            and not any(t in state.lingering for t in r.waits_for)]


def delayed_runs(state: JobState, now: float) -> list[JobRun]:
    """Runs waiting for their next attempt (retry backoff)."""
    return [r for r in state.runs if not r.has_live_task and r.next_attempt_at is not None and r.next_attempt_at > now]


def next_run_at(state: JobState, now: float) -> float | None:
    """When the job's schedule fires next (``nextRunAt``); None without an enabled schedule."""
    schedule = state.schedule
    if schedule is None or not schedule.enabled:
        return None
    try:
        return next_fire(parse_cron(schedule.cron), max(now, state.cursor or now), zone(schedule.timezone))
    except CronError:
        return None


__all__ = ["Command", "Event", "JobState", "JobsConfig", "KillTask", "Launched", "Notify", "ReplaceSpec",
           "SetSchedules", "SkippedTrigger", "StartRun", "StepResult", "StopAll", "StopRun", "TaskUpdate", "Tick",
           "delayed_runs", "launchable_runs", "next_run_at", "retry_delay", "step"]
