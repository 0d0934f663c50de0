"""Marathon's health rules (reference §4.3) for checks the leader runs, one result at a time, on a test clock."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesospaas.health import PASSED, CheckHealth, Failed, Ignored, TaskFacts, Unknown, Verdict, http_outcome, \
    late_outcome, next_health
from mesospaas.health.outcome import Outcome
from mesospaas.model.app import HealthCheckSpec

RUNNING = TaskFacts(running=True, running_since=100.0)
CHECK = HealthCheckSpec(grace_period_seconds=30.0, interval_seconds=10.0, max_consecutive_failures=3)
BOOM = Failed("500 Internal Server Error")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def feed(outcomes: list[Outcome], check: HealthCheckSpec = CHECK, facts: TaskFacts = RUNNING,
         clock: Clock | None = None, step: float = 10.0) -> list[tuple[CheckHealth, Verdict]]:
    clock = clock or Clock()
    record = CheckHealth()
    seen = []
    for outcome in outcomes:
        transition = next_health(record, outcome, facts, check, clock.advance(step))
        record = transition.record
        seen.append((record, transition.verdict))
    return seen


def test_http_status_classes_follow_marathon() -> None:
    assert http_outcome(200, False) == PASSED
    assert http_outcome(399, False) == PASSED
    assert http_outcome(302, False) == PASSED
    assert http_outcome(500, False) == Failed("500 Internal Server Error")
    assert http_outcome(404, False) == Failed("404 Not Found")
    assert http_outcome(400, True) == Failed("400 Bad Request")
    assert http_outcome(199, False) == Failed("199")
    assert http_outcome(101, True) == Ignored(101)
    assert http_outcome(101, False) == Failed("101 Switching Protocols")
    assert http_outcome(599, False, "Odd") == Failed("599 Odd")


def test_first_success_sets_first_and_last_success_and_makes_alive() -> None:
    (record, verdict), = feed([PASSED])
    assert (record.first_success, record.last_success, record.alive, verdict) == (110.0, 110.0, True, Verdict.HEALTHY)
    (_, _), (second, _) = feed([PASSED, PASSED])
    assert (second.first_success, second.last_success) == (110.0, 120.0)


def test_failures_inside_the_grace_period_are_not_recorded_until_the_first_success() -> None:
    # grace 30 s from running_since 100: failures at 110 and 120 are ignored, 130 counts (not < 130)
    seen = feed([BOOM, BOOM, BOOM])
    assert [r.consecutive_failures for r, _ in seen] == [0, 0, 1]
    assert seen[0][0] == CheckHealth() and seen[2][0].last_failure == 130.0


def test_after_a_first_success_failures_count_even_inside_the_grace_period() -> None:
    seen = feed([PASSED, BOOM], step=1.0)
    record, verdict = seen[1]
    assert (record.consecutive_failures, record.last_failure, record.last_failure_cause) == \
        (1, 102.0, "500 Internal Server Error")
    assert not record.alive and verdict is Verdict.UNHEALTHY


def test_a_success_resets_consecutive_failures_and_alive_needs_success_after_failure() -> None:
    seen = feed([PASSED, BOOM, BOOM, PASSED], step=1.0)
    assert [r.consecutive_failures for r, _ in seen] == [0, 1, 2, 0]
    assert [r.alive for r, _ in seen] == [True, False, False, True]


def test_kill_on_the_failure_after_max_consecutive_failures() -> None:
    no_grace = replace(CHECK, grace_period_seconds=0.0)
    seen = feed([BOOM] * 5, check=no_grace)
    assert [v for _, v in seen] == [Verdict.UNHEALTHY, Verdict.UNHEALTHY, Verdict.UNHEALTHY, Verdict.KILL,
                                    Verdict.UNHEALTHY]  # the 4th kills; the kill is issued once
    assert seen[3][0].kill_requested


def test_zero_max_consecutive_failures_never_kills() -> None:
    never = replace(CHECK, grace_period_seconds=0.0, max_consecutive_failures=0)
    seen = feed([BOOM] * 50, check=never)
    assert all(v is Verdict.UNHEALTHY for _, v in seen)
    assert seen[-1][0].consecutive_failures == 50


def test_unknown_and_ignored_change_nothing() -> None:
    no_grace = replace(CHECK, grace_period_seconds=0.0)
    seen = feed([PASSED, BOOM, Unknown("late"), Ignored(100), Unknown("late")], check=no_grace, step=1.0)
    assert seen[2][0] == seen[1][0] == seen[3][0] == seen[4][0]


def test_results_for_a_task_that_is_not_running_or_unreachable_are_ignored() -> None:
    no_grace = replace(CHECK, grace_period_seconds=0.0)
    for facts in (TaskFacts(running=False, running_since=None), replace(RUNNING, unreachable=True)):
        seen = feed([BOOM] * 6 + [PASSED], check=no_grace, facts=facts)
        assert all(r == CheckHealth() for r, _ in seen)
        assert all(v is not Verdict.KILL for _, v in seen)


def test_a_timeout_while_the_scheduler_lagged_is_unknown() -> None:
    timeout = Failed("Timeout: no answer")
    assert late_outcome(timeout, scheduler_lag=0.01, timeout=2.0) == timeout
    assert isinstance(late_outcome(timeout, scheduler_lag=1.5, timeout=2.0), Unknown)


outcomes = st.lists(st.sampled_from([PASSED, BOOM, Unknown("late"), Ignored(100)]), max_size=60)


@given(outcomes, st.integers(min_value=0, max_value=5), st.floats(min_value=0, max_value=100))
def test_properties_of_any_result_sequence(sequence: list[Outcome], limit: int, grace: float) -> None:
    check = replace(CHECK, max_consecutive_failures=limit, grace_period_seconds=grace)
    seen = feed(sequence, check=check, step=3.0)
    kills = [i for i, (_, v) in enumerate(seen) if v is Verdict.KILL]
    assert len(kills) <= 1, "a task is killed at most once"
    if limit == 0:
        assert not kills
    previous = CheckHealth()
    for outcome, (record, verdict) in zip(sequence, seen):
        if isinstance(outcome, (Unknown, Ignored)):
            assert record == previous, "unknown and ignored results change nothing"
        if isinstance(outcome, type(PASSED)):
            assert record.consecutive_failures == 0 and record.alive
        if verdict is Verdict.KILL:
            assert previous.consecutive_failures >= limit > 0
        assert record.alive == (record.last_success is not None and
                                (record.last_failure is None or record.last_success > record.last_failure))
        assert verdict is Verdict.KILL or verdict is (Verdict.HEALTHY if record.alive else Verdict.UNHEALTHY)
        previous = record


@pytest.mark.parametrize("limit, kill_at", [(1, 2), (2, 3), (3, 4)])
def test_the_kill_comes_after_exactly_limit_counted_failures(limit: int, kill_at: int) -> None:
    check = replace(CHECK, max_consecutive_failures=limit, grace_period_seconds=0.0)
    seen = feed([BOOM] * 6, check=check)
    assert [i + 1 for i, (_, v) in enumerate(seen) if v is Verdict.KILL] == [kill_at]
