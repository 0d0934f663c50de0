"""reconcile_app: scaling, unreachable strategy, scale-down order, rolling restarts, backoff hand-off."""

from __future__ import annotations

import random
from collections import Counter

from mesospaas.launch.backoff import after_failure
from mesospaas.model import AppSpec, Condition, DeploymentStep, Goal, Instance, random_instance_ids
from mesospaas.reconcile import ReconcileResult, apply_result, reconcile_app, select_instances_to_kill
from tests.core.builders import an_agent, an_app, an_instance


def reconcile(
    app: AppSpec | None, instances: list[Instance], now: float = 100.0, **kwargs: object
) -> ReconcileResult:
    return reconcile_app(app, instances, now, new_ids=random_instance_ids(random.Random(1)), **kwargs)  # type: ignore[arg-type]


def running(app: AppSpec, host: str = "h1", since: float = 0.0, **attrs: str) -> Instance:
    return an_instance(app).on(an_agent(host, **attrs)).running(since=since).build()


# -- scaling ------------------------------------------------------------------------------------------------


def test_missing_instances_are_scheduled_with_fresh_ids() -> None:
    app = an_app("/web").instances(3).build()
    result = reconcile(app, [running(app)])
    assert len(result.create) == 2
    assert all(i.condition is Condition.SCHEDULED and i.goal is Goal.RUNNING for i in result.create)
    assert all(i.app_version == app.version and i.id.startswith("web.instance-") for i in result.create)
    assert len({i.id for i in result.create}) == 2


def test_a_converged_app_needs_nothing() -> None:
    app = an_app("/web").instances(2).build()
    assert reconcile(app, [running(app), running(app, "h2")]) == ReconcileResult()


def test_a_zero_instance_app_schedules_nothing_and_kills_everything() -> None:
    app = an_app("/web").instances(0).build()
    live = running(app)
    waiting = an_instance(app).build()
    result = reconcile(app, [live, waiting])
    assert result.create == ()
    assert result.goals == ((live.id, Goal.DECOMMISSIONED),)
    assert result.expunge == (waiting.id,)
    assert result.kill == (live.id,)


def test_a_removed_app_is_torn_down() -> None:
    app = an_app("/web").instances(2).build()
    live, stopped = running(app), an_instance(app).goal(Goal.STOPPED).build()
    result = reconcile(None, [live, stopped])
    assert result.create == () and result.kill == (live.id,)
    assert result.expunge == (stopped.id,)


def test_stopped_instances_are_resumed_before_new_ones_are_created() -> None:
    app = an_app("/web").instances(2).build()
    stopped = an_instance(app).goal(Goal.STOPPED).build()
    result = reconcile(app, [stopped])
    assert result.goals == ((stopped.id, Goal.RUNNING),)
    assert len(result.create) == 1


def test_failed_instances_are_kept_for_relaunch_and_decommissioned_ones_expunged_once_dead() -> None:
    app = an_app("/web").instances(1).build()
    failed = an_instance(app).on("h1").failed().build()
    assert reconcile(app, [failed]) == ReconcileResult()
    dying = an_instance(app).on("h1").running().goal(Goal.DECOMMISSIONED).build()
    dead = an_instance(app).on("h1").failed().goal(Goal.DECOMMISSIONED).build()
    result = reconcile(app, [failed, dying, dead])
    assert result.expunge == (dead.id,) and result.kill == (dying.id,)


def test_tasks_already_being_killed_are_not_killed_again() -> None:
    app = an_app("/web").instances(0).build()
    killing = an_instance(app).on("h1").condition(Condition.KILLING).goal(Goal.DECOMMISSIONED).build()
    assert reconcile(app, [killing]).kill == ()


# -- unreachable strategy -----------------------------------------------------------------------------------


def test_an_unreachable_instance_is_replaced_after_inactive_after_and_expunged_after_expunge_after() -> None:
    app = an_app("/web").instances(1).unreachable(inactive_after=300, expunge_after=600).build()
    lost = an_instance(app).on("h1").unreachable(since=1000).build()
    assert reconcile(app, [lost], now=1200) == ReconcileResult()
    replaced = reconcile(app, [lost], now=1300)
    assert len(replaced.create) == 1 and replaced.expunge == ()
    assert reconcile(app, [lost], now=1600).expunge == (lost.id,)


def test_disabled_unreachable_strategy_waits_forever() -> None:
    app = an_app("/web").instances(1).unreachable_disabled().build()
    lost = an_instance(app).on("h1").unreachable(since=0).build()
    assert reconcile(app, [lost], now=10**9) == ReconcileResult()


def test_an_unreachable_instance_that_comes_back_makes_the_surplus_go() -> None:
    app = an_app("/web").instances(1).unreachable(0, 600).build()
    back = running(app, since=10)
    replacement = an_instance(app).build()
    result = reconcile(app, [back, replacement])
    assert result.expunge == (replacement.id,)


# -- scale-down order ---------------------------------------------------------------------------------------


def test_scale_down_takes_unlaunched_then_unreachable_then_staging_then_youngest_running() -> None:
    app = an_app("/web").build()
    old = an_instance(app).on("h1").running(since=1).build()
    young = an_instance(app).on("h2").running(since=50).build()
    staging = an_instance(app).on("h3").staging(since=60).build()
    lost = an_instance(app).on("h4").unreachable(since=70).build()
    waiting = an_instance(app).build()
    order = select_instances_to_kill(app, [old, young, staging, lost, waiting], 5)
    assert order == (waiting, lost, staging, young, old)


def test_oldest_first_kill_selection() -> None:
    app = an_app("/web").oldest_first().build()
    old = an_instance(app).on("h1").running(since=1).build()
    young = an_instance(app).on("h2").running(since=50).build()
    assert select_instances_to_kill(app, [young, old], 1) == (old,)


def test_scale_down_keeps_group_by_groups_balanced() -> None:
    app = an_app("/web").instances(4).group_by("rack").build()
    r1 = [running(app, f"a{i}", since=i, rack="r1") for i in range(4)]
    r2 = [running(app, f"b{i}", since=10 + i, rack="r2") for i in range(2)]  # younger, but the rack is small
    result = reconcile(app, r1 + r2)
    victims = {iid for iid, goal in result.goals if goal is Goal.DECOMMISSIONED}
    assert victims == {r1[3].id, r1[2].id}  # the two youngest of the big rack
    left = Counter(i.agent.field_value("rack") for i in r1 + r2 if i.id not in victims and i.agent)
    assert left == {"r1": 2, "r2": 2}


def test_scale_down_balances_several_group_by_fields() -> None:
    app = an_app("/web").group_by("rack").group_by("zone").build()
    instances = [
        running(app, "h1", since=1, rack="r1", zone="a"),
        running(app, "h2", since=2, rack="r1", zone="b"),
        running(app, "h3", since=3, rack="r2", zone="a"),
        running(app, "h4", since=4, rack="r1", zone="a"),
    ]
    (victim,) = select_instances_to_kill(app, instances, 1)
    assert victim is instances[3]  # in the biggest rack (r1: 3) and the biggest zone (a: 3), youngest


# -- rolling restarts ---------------------------------------------------------------------------------------


def old_fleet(app: AppSpec, n: int, healthy: bool = True) -> list[Instance]:
    return [
        an_instance(app).version("v1").on(f"h{i}").running(since=i, healthy=healthy).build() for i in range(n)
    ]


def test_rolling_restart_with_default_strategy_starts_all_new_instances_at_once() -> None:
    app = an_app("/web").instances(10).version("v2").build()
    result = reconcile(app, old_fleet(app, 10), deployment=DeploymentStep("v2", 1.0, 1.0))  # type: ignore[arg-type]
    assert len(result.create) == 10 and result.goals == ()


def test_rolling_restart_half_capacity_kills_half_and_starts_within_over_capacity() -> None:
    app = an_app("/web").instances(10).version("v2").build()
    result = reconcile(app, old_fleet(app, 10), deployment=DeploymentStep("v2", 0.5, 0.2))  # type: ignore[arg-type]
    assert len(result.goals) == 5 and len(result.create) == 7


def test_rolling_restart_one_at_a_time_when_no_capacity_may_be_lost_or_added() -> None:
    app = an_app("/web").instances(10).version("v2").build()
    fleet = old_fleet(app, 10)
    step = DeploymentStep("v2", 1.0, 0.0)  # type: ignore[arg-type]
    first = reconcile(app, fleet, deployment=step)
    assert first.goals == () and len(first.create) == 1
    started = [*fleet, an_instance(app).on("n1").running(since=99).build()]
    second = reconcile(app, started, deployment=step)
    assert len(second.goals) == 1 and len(second.create) == 1


def test_rolling_restart_replaces_unhealthy_old_instances_at_once() -> None:
    app = an_app("/web").instances(3).version("v2").health_checked().build()
    fleet = old_fleet(app, 3, healthy=False)
    result = reconcile(app, fleet, deployment=DeploymentStep("v2", 1.0, 0.0))  # type: ignore[arg-type]
    assert len(result.goals) == 3 and len(result.create) == 3


def test_rolling_restart_keeps_every_old_instance_until_new_ones_are_healthy() -> None:
    app = an_app("/web").instances(3).version("v2").health_checked().build()
    fleet = old_fleet(app, 3)
    new = [an_instance(app).on(f"n{i}").running(since=50).build() for i in range(3)]  # no health result yet
    result = reconcile(app, fleet + new, deployment=DeploymentStep("v2", 0.7, 1.0))  # type: ignore[arg-type]
    assert result == ReconcileResult()


def test_a_deployment_step_for_another_version_is_ignored() -> None:
    app = an_app("/web").instances(2).version("v3").build()
    result = reconcile(app, old_fleet(app, 2), deployment=DeploymentStep("v2", 1.0, 1.0))  # type: ignore[arg-type]
    assert result == ReconcileResult()


# -- backoff hand-off ---------------------------------------------------------------------------------------


def test_backoff_does_not_stop_scheduling_but_says_when_launches_may_resume() -> None:
    app = an_app("/web").instances(1).backoff(10, 2, 300).build()
    backoff = after_failure(None, app, now=100)
    result = reconcile(app, [], now=105, backoff=backoff)
    assert len(result.create) == 1 and result.launch_delayed_until == 110
    assert reconcile(app, [], now=111, backoff=backoff).launch_delayed_until is None


def test_applying_a_result_gives_the_store_contents() -> None:
    app = an_app("/web").instances(1).build()
    extra = running(app, "h2", since=5)
    keep = running(app, "h1", since=1)
    result = reconcile(app, [keep, extra])
    after = apply_result([keep, extra], result)
    assert {i.id: i.goal for i in after} == {keep.id: Goal.RUNNING, extra.id: Goal.DECOMMISSIONED}
