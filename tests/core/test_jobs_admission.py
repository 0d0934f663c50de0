"""Job runs inside the tenants' quotas (pure): the admission decision (``mesospaas.jobs.admission``) and what
the job step does with a refusal (a run that is not started is recorded FAILED, naming the quota; the next
due time tries again; FORBID still wins; a refused REPLACE trigger stops nothing)."""

from __future__ import annotations

from mesospaas.jobs.admission import counted, quota_usage, refusal_in, run_demand, run_refusal
from mesospaas.jobs.run import RunStatus, Trigger
from mesospaas.jobs.spec import ConcurrencyPolicy, JobId, JobSpec, RunId, RunSpec, ScheduleSpec
from mesospaas.jobs.step import JobState, Notify, SetSchedules, StartRun, TaskUpdate, Tick, launchable_runs, step
from mesospaas.tenancy.quota import Quota
from tests.core.builders import an_app

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z, a whole minute
JOB = JobId("team-a.nightly")
REFUSAL = "quota of /team-a exceeded: instances would be 2, the quota is 1"


def job(job_id: str = JOB, cpus: float = 0.5, policy: ConcurrencyPolicy = ConcurrencyPolicy.ALLOW) -> JobState:
    state = JobState(JobSpec(JobId(job_id), RunSpec(cmd="true", cpus=cpus, mem=64.0)), created_at=T0 - 60)
    return step(state, SetSchedules((ScheduleSpec("minutely", "* * * * *", concurrency_policy=policy),)),
                T0 - 30).state


def test_a_run_counts_one_instance_of_its_run_spec_under_its_tenant() -> None:
    demand = run_demand(job().spec)
    assert (demand.id, demand.cpus, demand.mem, demand.instances) == ("/team-a/nightly", 0.5, 64.0, 1)


def test_the_refusal_names_the_quota_and_counts_the_apps_and_the_unfinished_runs() -> None:
    quotas = {"/team-a": Quota(instances=2, cpus=4.0)}
    web = an_app("/team-a/web").instances(1).cpus(1.0).build()
    other = an_app("/team-b/web").instances(50).build()
    idle = job()
    assert run_refusal(quotas, [web, other], {JOB: idle}, idle.spec) is None
    busy = step(idle, StartRun(RunId("20270115075900aaaaa")), T0).state  # one unfinished run: 2 instances held
    refusal = run_refusal(quotas, [web, other], {JOB: busy}, busy.spec)
    assert refusal == "quota of /team-a exceeded: instances would be 3, the quota is 2"
    # a REPLACE trigger stops the job's own unfinished runs first: they do not count against the new one
    assert run_refusal(quotas, [web, other], {JOB: busy}, busy.spec, replacing=True) is None
    # another tenant's job, or no quota at all: never refused
    team_b = job("team-b.nightly")
    assert run_refusal(quotas, [web, other], {JOB: busy, team_b.spec.id: team_b}, team_b.spec) is None
    assert run_refusal({}, [web], {JOB: busy}, busy.spec) is None
    cpus = run_refusal({"/team-a": Quota(cpus=1.2)}, [web], {JOB: idle}, idle.spec)
    assert cpus == "quota of /team-a exceeded: cpus would be 1.5, the quota is 1.2"


def test_one_usage_read_serves_many_decisions_and_counts_the_runs_they_start() -> None:
    quotas = {"/team-a": Quota(instances=3), "/team-b": Quota(instances=1)}
    web = an_app("/team-a/web").instances(1).build()
    a1, a2, b1 = job("team-a.one"), job("team-a.two"), job("team-b.one")
    jobs = {s.spec.id: s for s in (a1, a2, b1)}
    usage = quota_usage(quotas, [web], jobs)
    assert (usage["/team-a"].instances, usage["/team-b"].instances) == (1, 0)
    assert refusal_in(quotas, usage, a1.spec) is None
    usage = counted(quotas, usage, a1.spec, 1)  # a1 started a run
    assert refusal_in(quotas, usage, a2.spec) is None
    usage = counted(quotas, usage, a2.spec, 1)
    assert refusal_in(quotas, usage, a1.spec) == "quota of /team-a exceeded: instances would be 4, the quota is 3"
    assert refusal_in(quotas, usage, a1.spec, replacing_runs=1) is None  # REPLACE stops a1's own run first
    assert refusal_in(quotas, usage, b1.spec) is None and usage["/team-b"].instances == 0
    # the same answer as the one-shot decision over the same state
    started = {a1.spec.id: step(a1, StartRun(RunId("20270115080000aaaaa")), T0).state,
               a2.spec.id: step(a2, StartRun(RunId("20270115080000bbbbb")), T0).state, b1.spec.id: b1}
    assert run_refusal(quotas, [web], started, a1.spec) == refusal_in(quotas, usage, a1.spec)


def test_a_refused_scheduled_run_is_recorded_failed_and_the_next_due_time_tries_again() -> None:
    s = job()
    result = step(s, Tick(RunId("20270115080000aaaaa"), REFUSAL), T0 + 1)
    s = result.state
    assert s.runs == () and launchable_runs(s, T0 + 1) == [] and s.cursor == T0
    failed = s.history.failed_runs[0]
    assert (failed.id, failed.status, failed.trigger) == ("20270115080000aaaaa", RunStatus.FAILED, Trigger.SCHEDULE)
    assert failed.reason == f"not started: {REFUSAL}" and failed.tasks == () and s.history.failure_count == 1
    notified = [c for c in result.commands if isinstance(c, Notify)]
    assert [n.event_type for n in notified] == ["job_run_failed"]
    assert notified[0].previous is None and notified[0].run is not None and REFUSAL in str(notified[0].run.reason)
    # the same trigger is not tried twice; the next one (room again) starts a run
    assert step(s, Tick(RunId("20270115080000bbbbb")), T0 + 2).state.runs == ()
    s = step(s, Tick(RunId("20270115080100ccccc")), T0 + 61).state
    assert [r.id for r in launchable_runs(s, T0 + 61)] == ["20270115080100ccccc"]
    assert s.runs[0].status is RunStatus.INITIAL and s.history.failure_count == 1


def test_forbid_still_skips_and_a_refused_replace_stops_nothing() -> None:
    forbid = job(policy=ConcurrencyPolicy.FORBID)
    forbid = step(forbid, Tick(RunId("20270115080000aaaaa")), T0 + 1).state
    skipped = step(forbid, Tick(RunId("20270115080100bbbbb"), REFUSAL), T0 + 61).state
    assert "FORBID" in skipped.skipped[0].reason and skipped.history.failure_count == 0
    replace_ = job(policy=ConcurrencyPolicy.REPLACE)
    replace_ = step(replace_, Tick(RunId("20270115080000aaaaa")), T0 + 1).state
    result = step(replace_, Tick(RunId("20270115080100bbbbb"), REFUSAL), T0 + 61)
    assert [r.id for r in result.state.runs] == ["20270115080000aaaaa"]  # the running one is left alone
    assert result.state.history.failed_runs[0].id == "20270115080100bbbbb"
    assert not [c for c in result.commands if not isinstance(c, Notify)]  # no kill


def test_a_refused_dependency_run_uses_up_its_trigger() -> None:
    s = job()
    result = step(s, StartRun(RunId("20270115080000aaaaa"), Trigger.DEPENDENCY, REFUSAL), T0)
    assert result.state.runs == () and result.state.last_started_at == T0
    assert result.state.history.failed_runs[0].trigger is Trigger.DEPENDENCY
    # a late task update about the run that never had a task changes nothing
    assert step(result.state, TaskUpdate("team-a.nightly_20270115080000aaaaa.1", "TASK_RUNNING"), T0 + 1).state \
        == result.state
