"""Deployment progress: when actions and steps are done, what the reconciler is given, resuming after a
leader change, and whole deployments driven through ``reconcile_app`` with instances simulated as plain data.

The simulated world moves every instance at most one stage per tick, at random: SCHEDULED -> launched
(PROVISIONED) -> RUNNING -> healthy (when the app has health checks); an instance whose goal is no longer
RUNNING and that has a live task is killed (KILLED). Nothing fails, so the upgrade strategy's promises must
hold at every tick: never fewer healthy instances than ``ceil(N * minimumHealthCapacity)`` (or than there
were), never more active ones than ``floor(N * (1 + maximumOverCapacity))`` (+1 when they are equal).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesospaas.deploy import (
    DeploymentPlan,
    Group,
    ReconcileInput,
    action_status,
    advance,
    assign_versions,
    is_finished,
    plan,
    progress,
    random_deployment_ids,
    reconcile_inputs,
    step_status,
)
from mesospaas.model import Condition, DeploymentStep, Goal, Instance, random_instance_ids
from mesospaas.model.app import AppSpec
from mesospaas.model.ids import AppId, InstanceIdSource
from mesospaas.model.instance import launched, with_task_status
from mesospaas.reconcile import apply_result, considered_healthy, reconcile_app
from tests.core.builders import an_agent, an_app, an_instance

NOW = 1_700_000_000.0
AGENT = an_agent("h1")
EMPTY = Group.of()


def deploy(original: Group, edited: Group, now: float = NOW) -> DeploymentPlan:
    target = assign_versions(original, edited, now)
    result = plan(original, target, now, random_deployment_ids(random.Random(3)))
    assert isinstance(result, DeploymentPlan)
    return result


def app(
    path: str, instances: int = 1, cmd: str = "v1", *, checked: bool = False, strategy: tuple[float, float] = (1, 1)
) -> AppSpec:
    builder = an_app(path).instances(instances).upgrade(*strategy)
    if checked:
        builder.health_checked()
    return replace(builder.build(), cmd=cmd)


def running(spec: AppSpec, n: int = 1, *, healthy: bool | None = None) -> list[Instance]:
    return [an_instance(spec).on(AGENT).running(since=1, healthy=healthy).build() for _ in range(n)]


# -- when an action is done ----------------------------------------------------------------------------------

STORED = assign_versions(EMPTY, Group.of([app("/web", 2), app("/old")]), NOW - 100)


def spec(root: Group, path: str) -> AppSpec:
    found = root.app(path)
    assert found is not None, path
    return found


WEB_V1 = spec(STORED, "/web")


def test_start_is_done_at_once_and_a_new_app_scales_up_afterwards() -> None:
    deployment = deploy(STORED, STORED.update_app(app("/new", 2)))
    start, scale = deployment.steps[0].actions[0], deployment.steps[1].actions[0]
    assert action_status(deployment, start, []).done
    new_spec = deployment.target.app("/new")
    assert new_spec is not None
    assert not action_status(deployment, scale, running(new_spec)).done
    assert action_status(deployment, scale, running(new_spec, 2)).done


def test_stop_is_done_when_no_reachable_task_is_left() -> None:
    deployment = deploy(STORED, STORED.remove_app("/old"))
    stop = deployment.steps[0].actions[0]
    old = deployment.original.app("/old")
    assert old is not None
    (dying,) = running(old)
    dying = dying.with_goal(Goal.DECOMMISSIONED)
    assert not action_status(deployment, stop, [dying]).done
    assert not action_status(deployment, stop, [replace(dying, condition=Condition.KILLING)]).done
    assert action_status(deployment, stop, [replace(dying, condition=Condition.KILLED)]).done
    assert action_status(deployment, stop, [replace(dying, condition=Condition.UNREACHABLE)]).done
    assert action_status(deployment, stop, []).done


def test_scale_is_done_with_exactly_the_target_running_and_no_kill_pending() -> None:
    deployment = deploy(STORED, STORED.update_app(app("/web", 3)))
    scale = deployment.steps[0].actions[0]
    fleet = running(WEB_V1, 3)  # instances of the previous version count: the config did not change
    assert action_status(deployment, scale, fleet).done
    assert not action_status(deployment, scale, fleet[:2]).done
    staging = an_instance(WEB_V1).on(AGENT).staging().build()
    assert not action_status(deployment, scale, fleet[:2] + [staging]).done
    leaving = fleet[0].with_goal(Goal.DECOMMISSIONED)
    status = action_status(deployment, scale, [*fleet, *running(WEB_V1), leaving])
    assert not status.done


def test_scale_of_a_health_checked_app_waits_for_health() -> None:
    base = assign_versions(EMPTY, Group.of([app("/api", 1, checked=True)]), NOW - 100)
    deployment = deploy(base, base.update_app(app("/api", 2, checked=True)))
    spec = deployment.target.app("/api")
    assert spec is not None
    scale = deployment.steps[0].actions[0]
    assert not action_status(deployment, scale, running(spec, 2)).done
    assert not action_status(deployment, scale, running(spec, 2, healthy=False)).done
    assert action_status(deployment, scale, running(spec, 2, healthy=True)).done


def test_restart_is_done_when_every_instance_is_new_and_no_old_one_is_left() -> None:
    deployment = deploy(STORED, STORED.update_app(app("/web", 2, "v2")))
    restart = deployment.steps[0].actions[0]
    v2 = deployment.target.app("/web")
    assert v2 is not None
    old, new = running(WEB_V1, 2), running(v2, 2)
    assert not action_status(deployment, restart, old).done
    assert not action_status(deployment, restart, old[:1] + new).done
    killed = replace(old[0], goal=Goal.DECOMMISSIONED, condition=Condition.KILLED)
    assert action_status(deployment, restart, [killed, *new]).done
    status = action_status(deployment, restart, old[:1] + new)
    assert (status.counted, status.other_live) == (2, 1)


# -- steps, advancing, resuming ------------------------------------------------------------------------------

CHAIN = Group.of([app("/db", 2), app("/web", 2)], app_dependencies={AppId("/web"): ["/db"]})
CHAIN_V1 = assign_versions(EMPTY, CHAIN, NOW - 100)


def chain_upgrade() -> DeploymentPlan:
    return deploy(CHAIN_V1, CHAIN_V1.update_app(app("/db", 2, "v2")).update_app(app("/web", 2, "v2")))


def test_advance_skips_every_step_that_is_done_and_stops_at_the_first_that_is_not() -> None:
    deployment = chain_upgrade()
    db1, web1 = CHAIN_V1.app("/db"), CHAIN_V1.app("/web")
    db2, web2 = deployment.target.app("/db"), deployment.target.app("/web")
    assert db1 and web1 and db2 and web2
    before = {AppId("/db"): running(db1, 2), AppId("/web"): running(web1, 2)}
    assert advance(deployment, 0, before) == 0
    half = {AppId("/db"): running(db2, 2), AppId("/web"): running(web1, 2)}
    assert advance(deployment, 0, half) == 1 and not step_status(deployment, 1, half).done
    done = {AppId("/db"): running(db2, 2), AppId("/web"): running(web2, 2)}
    assert advance(deployment, 0, done) == 2 and is_finished(deployment, 2)


def test_a_new_leader_resumes_from_a_stale_index_using_the_instances_alone() -> None:
    deployment = chain_upgrade()
    db2, web1 = deployment.target.app("/db"), CHAIN_V1.app("/web")
    assert db2 and web1
    half = {AppId("/db"): running(db2, 2), AppId("/web"): running(web1, 2)}
    resumed, continued = progress(deployment, 0, half), progress(deployment, 1, half)
    assert resumed.step_index == continued.step_index == 1
    assert resumed.inputs == continued.inputs and resumed.current == continued.current
    assert resumed.completed_steps == (0,) and continued.completed_steps == ()


def test_the_index_never_moves_back_when_an_earlier_step_regresses() -> None:
    deployment = chain_upgrade()
    web1 = CHAIN_V1.app("/web")
    assert web1
    crashed_db = {AppId("/db"): [], AppId("/web"): running(web1, 2)}
    assert progress(deployment, 1, crashed_db).step_index == 1


# -- what the reconciler is given ------------------------------------------------------------------------------


def test_apps_are_reconciled_against_old_specs_until_their_step_and_roll_at_it() -> None:
    deployment = chain_upgrade()
    db2, web2 = deployment.target.app("/db"), deployment.target.app("/web")
    db1, web1 = CHAIN_V1.app("/db"), CHAIN_V1.app("/web")
    assert db1 and db2 and web1 and web2
    assert reconcile_inputs(deployment, 0) == {
        "/db": ReconcileInput(db2, DeploymentStep(db2.version, 1.0, 1.0)),
        "/web": ReconcileInput(web1),
    }
    assert reconcile_inputs(deployment, 1) == {
        "/db": ReconcileInput(db2),
        "/web": ReconcileInput(web2, DeploymentStep(web2.version, 1.0, 1.0)),
    }
    assert reconcile_inputs(deployment, 2) == {"/db": ReconcileInput(db2), "/web": ReconcileInput(web2)}


def test_new_apps_wait_at_zero_instances_and_removed_apps_are_torn_down() -> None:
    base = assign_versions(EMPTY, Group.of([app("/db"), app("/gone")]), NOW - 100)
    edited = base.remove_app("/gone").update_app(app("/web", 3), dependencies=["/db"]).update_app(app("/db", 2))
    deployment = deploy(base, edited)
    web = deployment.target.app("/web")
    assert web is not None
    inputs = reconcile_inputs(deployment, 1)  # Stop, Start done; scaling /db now
    assert inputs[AppId("/gone")] == ReconcileInput(None)
    assert inputs[AppId("/web")] == ReconcileInput(replace(web, instances=0))
    assert inputs[AppId("/db")].deployment is None  # a scale needs no rolling step


def test_the_rolling_step_carries_the_target_upgrade_strategy() -> None:
    base = assign_versions(EMPTY, Group.of([app("/web", 4)]), NOW - 100)
    edited = base.update_app(app("/web", 4, "v2", strategy=(0.5, 0.25)))
    deployment = deploy(base, edited)
    step = reconcile_inputs(deployment, 0)[AppId("/web")].deployment
    assert step is not None and (step.minimum_health_capacity, step.maximum_over_capacity) == (0.5, 0.25)


# -- whole deployments through reconcile_app -------------------------------------------------------------------


@dataclass
class World:
    """Instances by app, moved along by the reconciler's decisions and by a random, failure-free cluster."""

    instances: dict[AppId, list[Instance]]
    rng: random.Random
    now: float = NOW
    ids: InstanceIdSource = field(init=False)

    def __post_init__(self) -> None:
        self.ids = random_instance_ids(random.Random(self.rng.getrandbits(32)))

    def reconcile(self, app_id: AppId, given: ReconcileInput) -> None:
        fleet = self.instances.get(app_id, [])
        result = reconcile_app(given.app, fleet, self.now, new_ids=self.ids, deployment=given.deployment)
        self.instances[app_id] = list(apply_result(fleet, result))

    def tick(self, checked: Callable[[AppId], bool]) -> None:
        self.now += 1
        for app_id, fleet in self.instances.items():
            self.instances[app_id] = [
                self._move(i, checked(app_id)) if self.rng.random() < 0.5 else i for i in fleet
            ]

    def _move(self, instance: Instance, health_checked: bool) -> Instance:
        task = instance.task_id
        if instance.goal is not Goal.RUNNING:
            if task is not None and instance.has_live_task:
                return with_task_status(instance, task, "TASK_KILLED", None, self.now)
            return instance
        if instance.condition is Condition.SCHEDULED:
            return launched(instance, AGENT, (), self.now)
        assert task is not None
        if instance.condition is Condition.PROVISIONED:
            return with_task_status(instance, task, "TASK_RUNNING", None, self.now)
        if instance.condition is Condition.RUNNING and health_checked and instance.healthy is not True:
            return with_task_status(instance, task, "TASK_RUNNING", None, self.now, healthy=True)
        return instance


def drive(
    deployment: DeploymentPlan,
    world: World,
    *,
    before_reconcile: Callable[[int], None] = lambda index: None,
    after_reconcile: Callable[[int], None] = lambda index: None,
    forget_index_at: int | None = None,
    limit: int = 2000,
) -> list[int]:
    """Run the deployment to the end the way the shell does; returns the completed steps in event order."""
    index, events = 0, list[int]()
    for tick in range(limit):
        if tick == forget_index_at:
            index = 0  # a new leader with a stale persisted index
        now = progress(deployment, index, world.instances)
        events.extend(now.completed_steps)
        index = now.step_index
        if now.finished:
            return events
        before_reconcile(index)
        for app_id, given in now.inputs.items():
            world.reconcile(app_id, given)
        after_reconcile(index)
        world.tick(lambda a: bool(getattr(deployment.target.app(a), "health_checks", ())))
    raise AssertionError(f"deployment not finished after {limit} ticks at step {index}")


def test_dependents_keep_their_old_version_until_their_dependencies_are_replaced() -> None:
    deployment = chain_upgrade()
    db1, web1 = CHAIN_V1.app("/db"), CHAIN_V1.app("/web")
    assert db1 and web1
    world = World({AppId("/db"): running(db1, 2), AppId("/web"): running(web1, 2)}, random.Random(11))
    web2 = deployment.target.app("/web")
    assert web2

    def web_untouched_before_its_step(index: int) -> None:
        if index == 0:
            assert all(i.app_version == web1.version for i in world.instances[AppId("/web")])

    events = drive(deployment, world, after_reconcile=web_untouched_before_its_step, forget_index_at=7)
    assert sorted(set(events)) == [0, 1] and events == sorted(events)
    final = world.instances[AppId("/web")]
    assert [i.app_version for i in final if i.has_live_task] == [web2.version] * 2


def test_a_new_group_comes_up_in_dependency_order() -> None:
    edited = Group.of(
        [app("/shop/db", 1), app("/shop/api", 2), app("/shop/web", 2)],
        app_dependencies={AppId("/shop/api"): ["/shop/db"], AppId("/shop/web"): ["/shop/api"]},
    )
    deployment = deploy(EMPTY, edited)
    world = World({}, random.Random(5))
    started: list[AppId] = []

    def record(index: int) -> None:
        for key in (AppId("/shop/db"), AppId("/shop/api"), AppId("/shop/web")):
            if world.instances.get(key) and key not in started:
                started.append(key)

    drive(deployment, world, after_reconcile=record)
    assert started == ["/shop/db", "/shop/api", "/shop/web"]


def test_a_removed_app_is_stopped_and_the_deployment_finishes() -> None:
    old = STORED.app("/old")
    assert old
    deployment = deploy(STORED, STORED.remove_app("/old"))
    world = World({AppId("/old"): running(old, 3)}, random.Random(2))
    assert drive(deployment, world) == [0]
    assert not any(i.has_live_task for i in world.instances[AppId("/old")])  # the shell expunges them next


CAPACITY = st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.integers(0, 10).map(lambda n: n / 10))


@settings(max_examples=300, deadline=None, database=None)
@given(
    n=st.integers(1, 8),
    extra_old=st.integers(-2, 2),
    mhc=CAPACITY,
    moc=CAPACITY,
    checked=st.booleans(),
    seed=st.integers(0, 2**32),
    stale_at=st.one_of(st.none(), st.integers(0, 30)),
)
def test_a_rolling_restart_keeps_the_upgrade_strategys_promises_at_every_tick(
    n: int, extra_old: int, mhc: float, moc: float, checked: bool, seed: int, stale_at: int | None
) -> None:
    old_count = max(0, n + extra_old)
    base = assign_versions(EMPTY, Group.of([app("/web", old_count, "v1", checked=checked)]), NOW - 100)
    v1 = base.app("/web")
    assert v1 is not None
    deployment = deploy(base, base.update_app(app("/web", n, "v2", checked=checked, strategy=(mhc, moc))))
    (step,) = deployment.steps
    assert [a.name for a in step.actions] == ["RestartApplication"]
    target = deployment.target.app("/web")
    assert target is not None

    world = World({AppId("/web"): running(v1, old_count, healthy=True if checked else None)}, random.Random(seed))
    min_healthy = math.ceil(n * mhc - 1e-9)
    max_capacity = math.floor(n * (1 + moc) + 1e-9)
    floor_healthy = min(min_healthy, old_count)
    healthy_before = 0

    def healthy_now() -> int:
        active = [i for i in world.instances[AppId("/web")] if i.goal is Goal.RUNNING]
        return sum(1 for i in active if considered_healthy(i, target))

    def remember_health(index: int) -> None:
        nonlocal healthy_before
        healthy_before = healthy_now()

    def promises_kept(index: int) -> None:
        active = [i for i in world.instances[AppId("/web")] if i.goal is Goal.RUNNING]
        # One over capacity is allowed when capacity could not move otherwise (reference §5.2).
        allowed = max_capacity + (1 if min_healthy == max_capacity and max_capacity <= healthy_before else 0)
        assert healthy_now() >= floor_healthy, (healthy_now(), floor_healthy)
        assert len(active) <= allowed, (len(active), allowed)
        assert sum(1 for i in active if i.app_version == target.version) <= n

    drive(deployment, world, before_reconcile=remember_health, after_reconcile=promises_kept, forget_index_at=stale_at)
    fleet: Sequence[Instance] = world.instances[AppId("/web")]
    live = [i for i in fleet if i.has_live_task]
    assert len(live) == n and all(i.app_version == target.version and i.goal is Goal.RUNNING for i in live)


@pytest.mark.parametrize(
    ("mhc", "moc", "kills", "starts"), [(1.0, 1.0, 0, 10), (0.5, 0.2, 5, 7), (1.0, 0.0, 0, 1), (0.0, 0.0, 10, 10)]
)
def test_the_reference_worked_examples_through_the_planner(mhc: float, moc: float, kills: int, starts: int) -> None:
    """Reference §5.2's table, first decision. With {0, 0} the reconciler starts all 10 new ones at once:
    instances it has decommissioned no longer count towards capacity (the reference starts them as old die)."""
    base = assign_versions(EMPTY, Group.of([app("/web", 10)]), NOW - 100)
    v1 = base.app("/web")
    assert v1
    deployment = deploy(base, base.update_app(app("/web", 10, "v2", strategy=(mhc, moc))))
    fleet = running(v1, 10)
    given = progress(deployment, 0, {AppId("/web"): fleet}).inputs[AppId("/web")]
    ids = random_instance_ids(random.Random(1))
    result = reconcile_app(given.app, fleet, NOW, new_ids=ids, deployment=given.deployment)
    assert (len(result.goals), len(result.create)) == (kills, starts)
