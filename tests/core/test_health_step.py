"""The health step over batches of results: records, the task's verdict, and the commands, in order."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from mesospaas.health import (PASSED, CheckAliveChanged, CheckFailed, CheckHealth, Failed, InstanceHealthChanged,
                              KillUnhealthy, ProbeResult, Unknown, from_mesos_status, instance_healthy, seeded, step)
from mesospaas.health.outcome import Outcome
from mesospaas.health.schedule import first_due, next_due, phase, start_deadline
from mesospaas.model import Instance
from mesospaas.model.app import HealthCheckSpec
from mesospaas.model.ids import TaskId
from mesospaas.model.task_failure import from_health_kill, from_status
from tests.core.builders import an_app, an_instance

CHECK = HealthCheckSpec(protocol="HTTP", grace_period_seconds=0.0, interval_seconds=10.0, max_consecutive_failures=2)
APP = an_app("/web").build()
BOOM = Failed("500 Internal Server Error")


def running(healthy: bool | None = None, since: float | None = None) -> Instance:
    instance = an_instance(APP).on("h1").running(since=10.0, healthy=healthy).build()
    return replace(instance, healthy_since=since)


def result(instance: Instance, outcome: Outcome, at: float, index: int = 0) -> ProbeResult:
    assert instance.task_id is not None
    return ProbeResult(instance.task_id, index, outcome, at)


def test_first_success_flips_the_verdict_and_says_so_in_marathons_order() -> None:
    instance = running()
    out = step(instance, (CHECK,), {}, [result(instance, PASSED, 20.0)], now=21.0)
    assert out.records[0].alive and out.changed
    assert out.instance is not None and out.instance.healthy is True and out.instance.healthy_since == 21.0
    assert [type(c) for c in out.commands] == [CheckAliveChanged, InstanceHealthChanged]


def test_a_second_success_changes_detail_but_writes_nothing() -> None:
    instance = running()
    first = step(instance, (CHECK,), {}, [result(instance, PASSED, 20.0)], now=21.0)
    assert first.instance is not None
    again = step(first.instance, (CHECK,), first.records, [result(first.instance, PASSED, 30.0)], now=31.0)
    assert again.changed and again.instance is None and again.commands == ()
    assert again.records[0].last_success == 30.0 and again.records[0].first_success == 20.0


def test_failures_then_kill_with_events() -> None:
    instance = running()
    out = step(instance, (CHECK,), {}, [result(instance, PASSED, 20.0), result(instance, BOOM, 30.0),
                                         result(instance, BOOM, 40.0), result(instance, BOOM, 50.0)], now=51.0)
    kinds = [type(c) for c in out.commands]
    assert kinds == [CheckAliveChanged, CheckFailed, CheckAliveChanged, CheckFailed, CheckFailed,
                     InstanceHealthChanged, KillUnhealthy]
    kill = out.commands[-1]
    assert isinstance(kill, KillUnhealthy) and "500 Internal Server Error" in kill.reason
    assert out.instance is not None and out.instance.healthy is False  # unknown -> failing: persisted
    assert out.records[0].consecutive_failures == 3 and out.records[0].kill_requested


def test_unknown_results_change_nothing_and_results_of_other_tasks_are_ignored() -> None:
    instance = running()
    other = replace(instance, incarnation=instance.incarnation + 1)
    out = step(instance, (CHECK,), {}, [result(instance, Unknown("late"), 20.0), result(other, BOOM, 21.0)], 22.0)
    assert not out.changed and out.instance is None and out.commands == ()


def test_after_failover_a_healthy_task_stays_healthy_and_is_not_killed_by_one_failure() -> None:
    instance = running(healthy=True, since=5.0)
    out = step(instance, (CHECK,), {}, [result(instance, PASSED, 20.0)], now=21.0)
    assert out.instance is None, "seeded alive + a success: nothing flips, nothing is written"
    assert [type(c) for c in out.commands] == []
    assert out.records[0].first_success == 5.0
    failing = step(instance, (CHECK,), {}, [result(instance, BOOM, 20.0), result(instance, BOOM, 30.0)], 31.0)
    assert not any(isinstance(c, KillUnhealthy) for c in failing.commands), \
        "only failures this leader saw count towards the kill"


def test_verdict_over_several_checks() -> None:
    alive = CheckHealth(first_success=1.0, last_success=2.0)
    dead = CheckHealth(first_success=1.0, last_success=2.0, last_failure=3.0, consecutive_failures=1)
    assert instance_healthy([]) is None
    assert instance_healthy([alive, alive]) is True
    assert instance_healthy([alive, dead]) is False
    assert seeded(True, 4.0).alive and not seeded(False, 4.0).alive


def test_mesos_healthy_flags_make_the_same_record() -> None:
    record = from_mesos_status(None, True, None, 10.0)
    assert (record.first_success, record.last_success, record.alive) == (10.0, 10.0, True)
    record = from_mesos_status(record, False, "unexpected HTTP response code 500", 11.0)
    record = from_mesos_status(record, False, None, 12.0)
    assert (record.consecutive_failures, record.last_failure, record.last_failure_cause, record.alive) == \
        (2, 12.0, None, False)
    record = from_mesos_status(record, False, "unexpected HTTP response code 500", 13.0)
    assert record.last_failure_cause == "unexpected HTTP response code 500" and record.consecutive_failures == 3
    record = from_mesos_status(record, True, None, 14.0)
    assert (record.consecutive_failures, record.alive, record.first_success) == (0, True, 10.0)


@given(st.text(min_size=1, max_size=40), st.integers(0, 3), st.floats(min_value=0.1, max_value=3600))
def test_phase_is_stable_and_inside_the_interval(task: str, index: int, interval: float) -> None:
    offset = phase(task, index, interval)
    assert 0 <= offset < interval and offset == phase(task, index, interval)


def test_phases_spread_many_tasks_over_the_interval() -> None:
    offsets = [phase(f"web.instance-{i:06d}._app.1", 0, 10.0) for i in range(10_000)]
    buckets = [0] * 10
    for offset in offsets:
        buckets[int(offset)] += 1
    assert min(buckets) > 800 and max(buckets) < 1200  # about 1000 per second of the interval


def test_first_due_and_missed_slots_are_skipped() -> None:
    assert first_due(100.0, 10.0, 3.0) == 108.0  # min(interval, 5 s) + phase
    assert first_due(100.0, 2.0, 0.5) == 102.5
    assert next_due(108.0, 10.0, now=108.5) == 118.0
    late = next_due(108.0, 10.0, now=160.0)  # the scheduler slept through four slots
    assert late > 160.0 - 5.0 and (late - 108.0) % 10.0 == 0.0
    assert start_deadline(118.0, 10.0) == 123.0 and start_deadline(118.0, 0.2) == 118.5


def test_task_failures_as_marathon_records_them() -> None:
    instance = running()
    assert instance.task_id is not None
    failure = from_status(instance, str(instance.task_id), "TASK_FAILED", "Command exited with status 1", None, 50.0)
    assert failure is not None and (failure.app_id, failure.state, failure.message, failure.host, failure.timestamp) \
        == (APP.id, "TASK_FAILED", "Command exited with status 1", "h1", 50.0)
    for state in ("TASK_KILLED", "TASK_FINISHED", "TASK_RUNNING"):
        assert from_status(instance, str(instance.task_id), state, "", None, 50.0) is None
    for state in ("TASK_LOST", "TASK_ERROR", "TASK_DROPPED", "TASK_GONE", "TASK_UNKNOWN"):
        assert from_status(instance, str(instance.task_id), state, None, "S1", 50.0) is not None
    killed = from_health_kill(instance, "failed 3 times", 60.0)
    assert killed is not None and killed.state == "TASK_KILLED"
    assert killed.message == "Task was killed since health check failed. Reason: failed 3 times"
    assert killed.task_id == TaskId(str(instance.task_id))
