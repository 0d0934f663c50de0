"""The follow-up reconciliation rounds after a (re)subscription (``scheduler.reconcile_followups``), on a clock
the test gives."""

from __future__ import annotations

from scheduler.reconcile_followups import FOLLOW_UPS, ReconcileFollowUps


def test_rounds_fall_due_on_the_schedule_and_missed_ones_count_once() -> None:
    rounds = ReconcileFollowUps()
    assert not rounds.take(0.0)  # nothing before a subscription
    rounds.start(100.0)
    assert not rounds.take(100.0 + FOLLOW_UPS[0] - 0.01)
    assert rounds.take(100.0 + FOLLOW_UPS[0])
    assert not rounds.take(100.0 + FOLLOW_UPS[0])  # taken
    assert rounds.take(100.0 + FOLLOW_UPS[2])  # the second and third were both due: one round
    assert not rounds.take(100.0 + FOLLOW_UPS[2] + 0.01)
    assert rounds.take(100.0 + FOLLOW_UPS[-1])
    assert not rounds.take(10_000.0)  # the schedule is over


def test_a_new_subscription_restarts_the_schedule_and_a_disconnection_ends_it() -> None:
    rounds = ReconcileFollowUps()
    rounds.start(0.0)
    assert rounds.take(FOLLOW_UPS[1])
    rounds.start(50.0)
    assert not rounds.take(50.0 + FOLLOW_UPS[0] - 0.01)
    assert rounds.take(50.0 + FOLLOW_UPS[0])
    rounds.stop()
    assert not rounds.take(1_000.0)
