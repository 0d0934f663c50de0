"""Properties of the reconciler over arbitrary instance sets.

1. Never more scheduled + running than allowed (exactly ``instances`` without a deployment step).
2. A stopped (removed) or zero-instance app schedules nothing.
3. Reconciling its own applied result again changes nothing (and asks for the same kills).
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mesospaas.model import AppSpec, Condition, DeploymentStep, Goal, Instance, random_instance_ids
from mesospaas.model.app import UnreachableStrategy
from mesospaas.model.ids import AppVersion
from mesospaas.reconcile import apply_result, considered_healthy, is_unreachable_inactive, reconcile_app
from tests.core.builders import an_agent, an_app, an_instance

PROPERTY = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
NOW = 1000.0
CAPACITIES = st.sampled_from([0.0, 0.3, 0.5, 0.7, 1.0])


@st.composite
def app_specs(draw: st.DrawFn) -> AppSpec:
    builder = an_app("/web").instances(draw(st.integers(0, 8))).version(draw(st.sampled_from(["v1", "v2"])))
    if draw(st.booleans()):
        builder.unreachable_disabled()
    else:
        inactive = draw(st.integers(0, 600))
        builder.unreachable(inactive, inactive + draw(st.integers(0, 600)))
    if draw(st.booleans()):
        builder.group_by("rack")
    if draw(st.booleans()):
        builder.oldest_first()
    if draw(st.booleans()):
        builder.health_checked()
    return builder.build()


@st.composite
def fleets(draw: st.DrawFn, app: AppSpec) -> list[Instance]:
    result = []
    for _ in range(draw(st.integers(0, 12))):
        builder = an_instance(app).version(draw(st.sampled_from(["v1", "v2"])))
        condition = draw(st.sampled_from(list(Condition)))
        since = float(draw(st.integers(0, 999)))
        if condition is not Condition.SCHEDULED:
            builder.on(an_agent(f"h{draw(st.integers(0, 4))}", rack=f"r{draw(st.integers(0, 2))}"))
        if condition is Condition.UNREACHABLE:
            builder.unreachable(since)
        elif condition is Condition.RUNNING:
            builder.running(since, healthy=draw(st.sampled_from([None, True, False])))
        else:
            builder.condition(condition, since)
        builder.goal(draw(st.sampled_from(list(Goal))))
        result.append(builder.build())
    return result


@st.composite
def situations(draw: st.DrawFn) -> tuple[AppSpec | None, list[Instance], DeploymentStep | None]:
    app = draw(app_specs())
    instances = draw(fleets(app))
    step = None
    if draw(st.booleans()):
        step = DeploymentStep(app.version, draw(CAPACITIES), draw(CAPACITIES))
    if draw(st.integers(0, 9)) == 0:
        return None, instances, None
    return app, instances, step


def active(app: AppSpec, instances: tuple[Instance, ...] | list[Instance]) -> list[Instance]:
    strategy: UnreachableStrategy = app.unreachable_strategy
    return [i for i in instances if i.goal is Goal.RUNNING and not is_unreachable_inactive(i, strategy, NOW)]


def run(app: AppSpec | None, instances: list[Instance], step: DeploymentStep | None, seed: int):  # type: ignore[no-untyped-def]
    return reconcile_app(app, instances, NOW, new_ids=random_instance_ids(random.Random(seed)), deployment=step)


@PROPERTY
@given(situations(), st.integers(0, 2**32))
def test_never_more_scheduled_and_running_than_allowed(situation, seed: int) -> None:  # type: ignore[no-untyped-def]
    app, instances, step = situation
    after = apply_result(instances, run(app, instances, step, seed))
    if app is None:
        assert all(i.goal is Goal.DECOMMISSIONED for i in after)
        return
    now_active = active(app, after)
    if step is None:
        assert len(now_active) == app.instances
    else:
        n = app.instances
        healthy = sum(1 for i in active(app, instances) if considered_healthy(i, app))
        cap = int(n * (1 + step.maximum_over_capacity) + 1e-9)
        allowed = max(n, cap + 1 if cap <= healthy else cap)
        assert len(now_active) <= allowed
        assert len([i for i in now_active if i.app_version == step.target_version]) <= n


@PROPERTY
@given(situations(), st.integers(0, 2**32))
def test_a_stopped_or_zero_instance_app_schedules_nothing(situation, seed: int) -> None:  # type: ignore[no-untyped-def]
    app, instances, step = situation
    if app is not None:
        app = an_app("/web").instances(0).version(app.version).build()
    result = run(app, instances, step, seed)
    assert result.create == ()
    assert all(goal is not Goal.RUNNING for _, goal in result.goals)
    after = apply_result(instances, result)
    assert not [i for i in after if i.goal is Goal.RUNNING and i.condition is not Condition.UNREACHABLE]


@PROPERTY
@given(situations(), st.integers(0, 2**32))
def test_reconciling_its_own_result_again_changes_nothing(situation, seed: int) -> None:  # type: ignore[no-untyped-def]
    app, instances, step = situation
    first = run(app, instances, step, seed)
    after = list(apply_result(instances, first))
    second = run(app, after, step, seed + 1)
    assert second.changes_nothing, second
    assert set(second.kill) == set(first.kill)
    third = run(app, list(apply_result(after, second)), step, seed + 2)
    assert third.changes_nothing


@settings(max_examples=100, deadline=None, database=None)
@given(st.integers(0, 8), st.integers(0, 8), st.integers(0, 2**32))
def test_scaling_converges_in_one_step(have: int, want: int, seed: int) -> None:
    app = an_app("/web").instances(want).version("v1").build()
    fleet = [an_instance(app).on(f"h{i}").running(since=i).build() for i in range(have)]
    result = run(app, fleet, None, seed)
    assert len(result.create) == max(0, want - have)
    assert len(result.goals) == max(0, have - want)
    assert all(i.app_version == AppVersion("v1") for i in result.create)
