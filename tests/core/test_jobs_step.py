"""The job step: run state machine, restart policy and backoff, deadlines, stop, schedules (catch-up,
FORBID, REPLACE, disabled), history bound and dependencies. Pure: the clock is an argument."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from mesospaas.jobs.dependencies import dependency_problems, dependents, due_dependents
from mesospaas.jobs.history import JobHistory, recorded
from mesospaas.jobs.run import JobRun, RunStatus, exit_code, parse_run_task_id, run_task_id
from mesospaas.jobs.spec import ConcurrencyPolicy, JobId, JobSpec, RestartPolicy, RunId, RunSpec, ScheduleSpec
from mesospaas.jobs.step import (JobsConfig, JobState, KillTask, Launched, Notify, SetSchedules, StartRun, StopRun,
                                 TaskUpdate, Tick, launchable_runs, retry_delay, step)

JOB = JobId("prod.report")
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z, a whole minute


def state(**run: object) -> JobState:
    return JobState(JobSpec(JOB, RunSpec(cmd="true", **run)), created_at=T0)  # type: ignore[arg-type]


def started(s: JobState, run_id: str = "20270115080000aaaaa", now: float = T0) -> JobState:
    return step(s, StartRun(RunId(run_id)), now).state


def launched(s: JobState, run_id: str, now: float) -> tuple[JobState, str]:
    run = s.run(run_id)
    assert run is not None
    task = run.next_task_id
    return step(s, Launched(run_id, task, "agent-1", "host-1"), now).state, task


def events(result_commands: tuple[object, ...]) -> list[str]:
    return [c.event_type for c in result_commands if isinstance(c, Notify)]


def test_a_run_goes_initial_starting_active_success_and_is_never_launched_again() -> None:
    s = started(state())
    rid = s.runs[0].id
    assert s.runs[0].status is RunStatus.INITIAL and [r.id for r in launchable_runs(s, T0)] == [rid]
    s, task = launched(s, rid, T0 + 1)
    assert s.runs[0].status is RunStatus.STARTING and launchable_runs(s, T0 + 1) == []
    result = step(s, TaskUpdate(task, "TASK_RUNNING"), T0 + 2)
    assert result.state.runs[0].status is RunStatus.ACTIVE and events(result.commands) == ["job_run_active"]
    result = step(result.state, TaskUpdate(task, "TASK_FINISHED", message="Command exited with status 0"), T0 + 3)
    s = result.state
    assert s.runs == () and events(result.commands) == ["job_run_success"]
    assert s.history.success_count == 1 and s.history.last_success_at == T0 + 3
    entry = s.history.successful_runs[0]
    assert entry.tasks[0].exit_code == 0 and entry.tasks[0].started_at == T0 + 2
    # A late or repeated update changes nothing; nothing is launchable.
    again = step(s, TaskUpdate(task, "TASK_FAILED", message="Command exited with status 1"), T0 + 4)
    assert again.state == s and launchable_runs(s, T0 + 10) == []


def test_never_fails_at_the_first_failure_with_the_exit_code() -> None:
    s = started(state())
    s, task = launched(s, s.runs[0].id, T0)
    s = step(s, TaskUpdate(task, "TASK_FAILED", message="Command exited with status 3"), T0 + 1).state
    assert s.runs == () and s.history.failure_count == 1
    assert s.history.failed_runs[0].tasks[0].exit_code == 3


def test_on_failure_retries_with_doubling_backoff_until_the_active_deadline() -> None:
    s = started(state(restart_policy=RestartPolicy.ON_FAILURE, active_deadline_seconds=20.0, max_launch_delay=4.0))
    rid = s.runs[0].id
    now, waits = T0, []
    while s.runs:
        s, task = launched(s, rid, now)
        s = step(s, TaskUpdate(task, "TASK_FAILED"), now).state
        if not s.runs:
            break
        run = s.run(rid)
        assert run is not None and run.next_attempt_at is not None and launchable_runs(s, now) == []
        waits.append(run.next_attempt_at - now)
        now = run.next_attempt_at
        assert [r.id for r in launchable_runs(s, now)] == [rid]
    assert waits[:4] == [1.0, 2.0, 4.0, 4.0]  # doubling, capped by maxLaunchDelay
    assert s.history.failed_runs[0].reason == "active deadline exceeded"
    assert now >= T0 + 20


def test_active_deadline_ends_a_waiting_retry_on_tick() -> None:
    s = started(state(restart_policy=RestartPolicy.ON_FAILURE, active_deadline_seconds=5.0, max_launch_delay=60))
    rid = s.runs[0].id
    for now in (T0, T0 + 1, T0 + 3):
        s, task = launched(s, rid, now)
        s = step(s, TaskUpdate(task, "TASK_FAILED"), now).state
    s = step(s, Tick(RunId("x")), T0 + 6).state
    assert s.runs == () and s.history.failed_runs[0].reason == "active deadline exceeded"


def test_retry_delay_has_no_spec_field_but_max_launch_delay() -> None:
    assert [retry_delay(n, 3600) for n in range(1, 6)] == [1, 2, 4, 8, 16]
    assert retry_delay(30, 10) == 10


def test_a_launch_mesos_never_heard_of_is_relaunched_without_counting_a_failure() -> None:
    s = started(state())
    rid = s.runs[0].id
    s, task = launched(s, rid, T0)
    s = step(s, TaskUpdate(task, "TASK_LOST", reason="REASON_RECONCILIATION"), T0 + 1).state
    run = s.run(rid)
    assert run is not None and run.failures == 0 and [r.id for r in launchable_runs(s, T0 + 1)] == [rid]
    assert run.next_task_id.endswith(".2")


def test_stop_fails_the_run_and_kills_its_task_until_mesos_confirms() -> None:
    s = started(state(task_kill_grace_period_seconds=7.0))
    rid = s.runs[0].id
    s, task = launched(s, rid, T0)
    s = step(s, TaskUpdate(task, "TASK_RUNNING"), T0).state
    result = step(s, StopRun(rid), T0 + 1)
    assert KillTask(task, 7.0) in result.commands and result.state.runs == ()
    assert result.state.history.failed_runs[0].reason == "stopped" and result.state.lingering == (task,)
    ticked = step(result.state, Tick(RunId("x")), T0 + 2)
    assert KillTask(task, 7.0) in ticked.commands  # re-sent until confirmed
    gone = step(ticked.state, TaskUpdate(task, "TASK_KILLED"), T0 + 3).state
    assert gone.lingering == () and gone.history.failure_count == 1


def scheduled(policy: ConcurrencyPolicy = ConcurrencyPolicy.ALLOW, cron: str = "* * * * *", **kw: object) -> JobState:
    s = state()
    schedule = ScheduleSpec("minutely", cron, concurrency_policy=policy, **kw)  # type: ignore[arg-type]
    return step(s, SetSchedules((schedule,)), T0 - 30).state


def test_schedule_fires_once_per_due_time_and_moves_its_cursor() -> None:
    s = scheduled()
    assert s.cursor == T0 - 30
    s = step(s, Tick(RunId("20270115080000aaaaa")), T0 - 1).state
    assert s.runs == ()
    s = step(s, Tick(RunId("20270115080000aaaaa")), T0 + 1).state
    assert [r.id for r in s.runs] == ["20270115080000aaaaa"] and s.cursor == T0
    assert s.runs[0].scheduled_for == T0 and s.runs[0].starting_deadline_at == T0 + 900
    s = step(s, Tick(RunId("20270115080000bbbbb")), T0 + 2).state
    assert len(s.runs) == 1  # the same trigger never starts twice


def test_catch_up_runs_the_latest_missed_trigger_within_the_starting_deadline_and_records_the_rest() -> None:
    s = scheduled(starting_deadline_seconds=120.0)
    result = step(s, Tick(RunId("20270115080500ccccc")), T0 + 5 * 60 + 30)  # 6 triggers missed
    assert [r.scheduled_for for r in result.state.runs] == [T0 + 300]
    assert [k.scheduled_for for k in result.state.skipped] == [T0 + 240, T0 + 180, T0 + 120, T0 + 60, T0]
    hourly = scheduled(cron="0 * * * *", starting_deadline_seconds=120.0)
    late = step(hourly, Tick(RunId("20270115080500ddddd")), T0 + 130)  # the 08:00 trigger, 130 s late
    assert late.state.runs == () and late.state.cursor == T0
    assert "startingDeadlineSeconds" in late.state.skipped[0].reason


def test_starting_deadline_fails_a_scheduled_run_that_never_became_active() -> None:
    s = scheduled(starting_deadline_seconds=60.0)
    s = step(s, Tick(RunId("20270115080000aaaaa")), T0 + 1).state
    s, task = launched(s, s.runs[0].id, T0 + 2)
    result = step(s, Tick(RunId("x")), T0 + 61)
    assert [r.id for r in result.state.runs] == ["x"]  # only the 08:01 trigger's new run is left
    assert result.state.history.failed_runs[0].reason == "starting deadline exceeded"
    assert KillTask(task, None) in result.commands


def test_forbid_skips_while_a_run_is_unfinished() -> None:
    s = scheduled(ConcurrencyPolicy.FORBID)
    s = step(s, Tick(RunId("20270115080000aaaaa")), T0 + 1).state
    result = step(s, Tick(RunId("20270115080100bbbbb")), T0 + 61)
    assert [r.id for r in result.state.runs] == ["20270115080000aaaaa"]
    assert "job_trigger_skipped" in events(result.commands) and "FORBID" in result.state.skipped[0].reason
    manual = step(result.state, StartRun(RunId("20270115080100ccccc")), T0 + 62).state
    assert len(manual.runs) == 2


def test_replace_stops_the_unfinished_run_and_launches_after_its_task_is_gone() -> None:
    s = scheduled(ConcurrencyPolicy.REPLACE)
    s = step(s, Tick(RunId("20270115080000aaaaa")), T0 + 1).state
    s, task = launched(s, "20270115080000aaaaa", T0 + 2)
    s = step(s, TaskUpdate(task, "TASK_RUNNING"), T0 + 3).state
    result = step(s, Tick(RunId("20270115080100bbbbb")), T0 + 61)
    s = result.state
    assert [r.id for r in s.runs] == ["20270115080100bbbbb"] and KillTask(task, None) in result.commands
    assert s.history.failed_runs[0].reason == "replaced"
    assert launchable_runs(s, T0 + 61) == []  # waits for the old task
    s = step(s, TaskUpdate(task, "TASK_KILLED"), T0 + 62).state
    assert [r.id for r in launchable_runs(s, T0 + 62)] == ["20270115080100bbbbb"]


def test_a_disabled_schedule_does_not_fire_and_enabling_restarts_the_cursor() -> None:
    s = scheduled(enabled=False)
    assert s.cursor is None
    s = step(s, Tick(RunId("x")), T0 + 3600).state
    assert s.runs == () and s.skipped == ()
    on = step(s, SetSchedules((ScheduleSpec("minutely", "* * * * *"),)), T0 + 3600).state
    assert on.cursor == T0 + 3600 and step(on, Tick(RunId("x")), T0 + 3601).state.runs == ()


@given(st.lists(st.booleans(), min_size=1, max_size=60), st.integers(0, 10))
def test_history_keeps_the_counts_and_at_most_the_limit(outcomes: list[bool], limit: int) -> None:
    history = JobHistory()
    for n, ok in enumerate(outcomes):
        run = JobRun(RunId(f"2027011508{n:04d}aaaaa"), JOB, T0 + n, RunStatus.SUCCESS if ok else RunStatus.FAILED,
                     completed_at=T0 + n)
        history = recorded(history, run, limit)
    assert history.success_count == sum(outcomes) and history.failure_count == len(outcomes) - sum(outcomes)
    kept = sorted(r.finished_at for r in (*history.successful_runs, *history.failed_runs))
    assert kept == [T0 + n for n in range(len(outcomes))][len(outcomes) - min(limit, len(outcomes)):]


def test_task_ids_and_exit_codes() -> None:
    task = run_task_id(JOB, RunId("20270115080000abc12"), 2)
    assert task == "prod.report_20270115080000abc12.2"
    assert parse_run_task_id(task) == (JOB, "20270115080000abc12", 2)
    assert parse_run_task_id("prod_web.instance-1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b._app.1") is None
    assert exit_code("TASK_FAILED", "Command exited with status 42") == 42
    assert exit_code("TASK_KILLED", "Command terminated with signal Killed") is None


def test_dependency_rules() -> None:
    a, b, c = JobSpec(JobId("a")), JobSpec(JobId("b"), dependencies=(JobId("a"),)), \
        JobSpec(JobId("c"), dependencies=(JobId("b"),))
    specs = {s.id: s for s in (a, b, c)}
    assert dependency_problems(c, specs) == []
    assert dependency_problems(JobSpec(JobId("d"), dependencies=(JobId("zz"),)), specs)[0][1] == \
        "Dependency zz does not exist"
    cyclic = replace(a, dependencies=(JobId("c"),))
    assert "cycle" in dependency_problems(cyclic, specs)[0][1]
    both = replace(b, schedules=(ScheduleSpec("s1", "* * * * *"),))
    assert dependency_problems(both, specs)[0][0] == "/dependencies"
    assert dependents(JobId("a"), specs) == ["b"]


def test_a_dependent_is_due_when_all_parents_succeeded_since_its_last_start() -> None:
    p1 = JobState(JobSpec(JobId("p1")), history=JobHistory(success_count=1, last_success_at=T0 + 10))
    p2 = JobState(JobSpec(JobId("p2")), history=JobHistory(success_count=1, last_success_at=T0 + 5))
    child = JobState(JobSpec(JobId("child"), dependencies=(JobId("p1"), JobId("p2"))), created_at=T0)
    jobs = {p1.spec.id: p1, p2.spec.id: p2, child.spec.id: child}
    assert due_dependents(jobs) == ["child"]
    jobs[child.spec.id] = replace(child, last_started_at=T0 + 7)  # p2's success is older than that start
    assert due_dependents(jobs) == []
    jobs[p2.spec.id] = replace(p2, history=JobHistory(success_count=2, last_success_at=T0 + 8))
    assert due_dependents(jobs) == ["child"]


def test_config_bounds_history_per_step() -> None:
    s = state()
    for n in range(4):
        rid = f"2027011508000{n}aaaaa"
        s = step(s, StartRun(RunId(rid)), T0 + n, JobsConfig(history_limit=2)).state
        s = step(s, StopRun(rid), T0 + n, JobsConfig(history_limit=2)).state
    assert s.history.failure_count == 4 and len(s.history.failed_runs) == 2


def test_a_task_staging_past_the_launch_timeout_is_killed() -> None:
    s = started(state())
    s, task = launched(s, s.runs[0].id, T0)
    config = JobsConfig(task_launch_timeout=60.0)
    assert not [c for c in step(s, Tick(RunId("x")), T0 + 59, config).commands if isinstance(c, KillTask)]
    assert KillTask(task, None) in step(s, Tick(RunId("x")), T0 + 61, config).commands
    running = step(s, TaskUpdate(task, "TASK_RUNNING"), T0 + 1).state
    assert not [c for c in step(running, Tick(RunId("x")), T0 + 600, config).commands if isinstance(c, KillTask)]


_UPDATES = ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST",
            "TASK_UNREACHABLE", "TASK_ERROR"]


@given(st.lists(st.tuples(st.sampled_from(["launch", "update", "tick", "stop"]), st.sampled_from(_UPDATES),
                          st.floats(0, 30)), max_size=40),
       st.sampled_from([RestartPolicy.NEVER, RestartPolicy.ON_FAILURE]))
def test_a_run_finishes_at_most_once_and_a_finished_run_never_launches(
        events: list[tuple[str, str, float]], policy: RestartPolicy) -> None:
    s = started(state(restart_policy=policy, active_deadline_seconds=60.0, max_launch_delay=8.0))
    rid = s.runs[0].id
    now, launches, finished_at = T0, 0, None
    for kind, update, dt in events:
        now += dt
        run = s.run(rid)
        if kind == "launch":
            if run is not None and any(r.id == rid for r in launchable_runs(s, now)):
                s, _ = launched(s, rid, now)
                launches += 1
        elif kind == "update" and run is not None and run.current_task is not None:
            s = step(s, TaskUpdate(run.current_task.id, update), now).state
        elif kind == "tick":
            s = step(s, Tick(RunId("20270115080000zzzzz")), now).state
            s = replace(s, spec=replace(s.spec, schedules=()), runs=tuple(r for r in s.runs if r.id == rid))
        elif kind == "stop":
            s = step(s, StopRun(rid), now).state
        if s.run(rid) is None and finished_at is None:
            finished_at = now
        if finished_at is not None:  # finished: gone for good, recorded once, never launchable
            assert s.run(rid) is None and launchable_runs(s, now + 3600) == []
            assert s.history.success_count + s.history.failure_count == 1
        else:
            current = s.run(rid)
            assert current is not None and not current.status.is_final
            assert not (current.has_live_task and launchable_runs(s, now))
    entries = (*s.history.successful_runs, *s.history.failed_runs)
    assert all(len(e.tasks) == launches for e in entries)
