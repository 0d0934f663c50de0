"""The tick's safety net visits every app within ``ticks`` ticks, a balanced slice at a time
(scheduler/reconcile_sweep.py), and the instances whose app must be looked at on every tick
(mesospaas/reconcile/time_driven.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesospaas.model.condition import Condition
from mesospaas.model.ids import AppId
from mesospaas.model.instance import Goal
from mesospaas.reconcile.time_driven import waits_on_time
from scheduler.reconcile_sweep import RollingSweep
from tests.core.builders import an_app, an_instance


@given(st.integers(0, 300), st.integers(1, 12))
def test_a_round_visits_every_app_once_within_its_ticks_in_order(count: int, ticks: int) -> None:
    apps = [AppId(f"/app{n:04d}") for n in range(count)]
    sweep = RollingSweep(ticks)
    visited: list[AppId] = []
    for _ in range(ticks):
        taken = sweep.take(apps)
        assert len(taken) <= max(1, -(-count // ticks))
        visited += taken
        if len(visited) == count:
            break
    assert visited == apps


def test_apps_added_during_a_round_are_visited_in_the_next_one() -> None:
    sweep = RollingSweep(2)
    assert sweep.take(["/a", "/b", "/c", "/d"]) == ["/a", "/b"]
    assert sweep.take(["/a", "/b", "/c", "/d", "/e"]) == ["/c", "/d"]
    assert sweep.take(["/a", "/b", "/c", "/d", "/e"]) == ["/a", "/b", "/c"]
    with pytest.raises(ValueError):
        RollingSweep(0)


def test_only_unreachable_instances_and_stopping_live_tasks_wait_on_time() -> None:
    app = an_app("/web").build()
    assert waits_on_time(an_instance(app).unreachable(5.0).build())
    assert waits_on_time(an_instance(app).running().goal(Goal.STOPPED).build())
    assert waits_on_time(an_instance(app).running().goal(Goal.DECOMMISSIONED).build())
    assert not waits_on_time(an_instance(app).running().build())
    assert not waits_on_time(an_instance(app).build())  # scheduled: changes only with an offer
    assert not waits_on_time(an_instance(app).condition(Condition.FINISHED).goal(Goal.STOPPED).build())
