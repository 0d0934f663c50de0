"""Job state in both stores (local directory and real ZooKeeper): one record per job spec, per job status and
per unfinished run; what is committed is read back equal; a finished run leaves the run namespace; the
history stays bounded inside its record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mesospaas.jobs.run import RunStatus
from mesospaas.jobs.spec import ConcurrencyPolicy, JobId, JobSpec, RunId, RunSpec, ScheduleSpec
from mesospaas.jobs.step import JobsConfig, JobState, Launched, SetSchedules, StartRun, StopRun, TaskUpdate, step
from scheduler.jobs import JOB_RUNS, JOB_STATUS, JOBS, read_jobs, store_changes
from scheduler.store import LocalDirectoryStore, Store, ZooKeeperStore
from tests.store.test_zookeeper_store import zk  # noqa: F401

T0 = 1_800_000_000.0


@pytest.fixture(params=["local", "zookeeper"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "local":
        store: Store = LocalDirectoryStore(tmp_path / "state")
    else:
        store = ZooKeeperStore(request.getfixturevalue("zk"), "/mesospaas-jobs")
    yield store
    store.close()


def commit(store: Store, before: JobState | None, after: JobState | None) -> None:
    store.commit(store_changes(before, after))


def test_jobs_round_trip_one_record_each(any_store: Store) -> None:
    spec = JobSpec(JobId("prod.etl"), RunSpec(cmd="true", env={"A": "1"}), labels={"team": "data"})
    state = JobState(spec, created_at=T0)
    state = step(state, SetSchedules((ScheduleSpec("nightly", "0 3 * * *", "Europe/Berlin",
                                                   concurrency_policy=ConcurrencyPolicy.FORBID),)), T0).state
    commit(any_store, None, state)
    states = [state]
    for n in range(3):
        run_id = RunId(f"2027011508000{n}aaaaa")
        after = step(states[-1], StartRun(run_id), T0 + n).state
        run = after.run(run_id)
        assert run is not None
        after = step(after, Launched(run_id, run.next_task_id, "agent-1", "host-1"), T0 + n).state
        commit(any_store, states[-1], after)
        states.append(after)
    loaded = read_jobs(any_store)
    assert loaded == {spec.id: states[-1]}
    assert set(any_store.load(JOBS)) == {"prod.etl"} and set(any_store.load(JOB_STATUS)) == {"prod.etl"}
    assert set(any_store.load(JOB_RUNS)) == {f"prod.etl@2027011508000{n}aaaaa" for n in range(3)}
    # Runs finishing leave the run namespace for the (bounded) history in the status record.
    config = JobsConfig(history_limit=2)
    current = states[-1]
    for n in range(3):
        run = current.runs[0]
        task = run.current_task
        assert task is not None
        after = step(current, TaskUpdate(task.id, "TASK_FINISHED") if n else StopRun(run.id), T0 + 10, config).state
        commit(any_store, current, after)
        current = after
    assert any_store.load(JOB_RUNS) == {}
    loaded_state = read_jobs(any_store)[spec.id]
    assert loaded_state == current and loaded_state.runs == ()
    history = loaded_state.history
    assert (history.success_count, history.failure_count) == (2, 1)
    assert len(history.successful_runs) + len(history.failed_runs) == 2
    assert all(r.status is RunStatus.SUCCESS for r in history.successful_runs)
    commit(any_store, current, None)
    assert read_jobs(any_store) == {} and any_store.load(JOB_STATUS) == {}
