"""Deployment supervision: canaries held and promoted, pauses, progress deadlines, crash loops, rollback
decisions, and readiness gating, driven through ``progress`` + ``supervise`` + ``reconcile_app`` over plain
data with a clock the test controls (``World`` of ``test_deploy_progress`` moves the instances)."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesospaas.deploy import DeploymentPlan, Group, assign_versions, progress
from mesospaas.deploy.readiness import ProbeResponse, judge, probe_url, targets
from mesospaas.deploy.supervision import (
    CRASH_LOOP_FAILURES,
    DeploymentState,
    Supervision,
    Verdict,
    canary_count,
    canary_holds,
    canary_reports,
    continued,
    count_failure,
    deadline,
    resumed,
    started,
    state_of,
    supervise,
    wants_rollback,
)
from mesospaas.model import Condition, DeploymentStep, Goal, Instance, random_instance_ids
from mesospaas.model.app import AppSpec, Canary, CanaryPromotion, ReadinessCheckSpec, UpgradeStrategy
from mesospaas.model.deployment import DeploymentId
from mesospaas.model.ids import AppId, TaskId
from mesospaas.model.instance import with_task_status
from mesospaas.reconcile import considered_available, reconcile_app
from tests.core.builders import an_agent, an_instance
from tests.core.test_deploy_progress import EMPTY, NOW, World, app, deploy, running

WEB = AppId("/web")


def strategy(spec: AppSpec, **fields: object) -> AppSpec:
    return replace(spec, upgrade_strategy=replace(spec.upgrade_strategy, **fields))  # type: ignore[arg-type]


def upgrade(n: int, *, checked: bool = True, mhc: float = 1.0, moc: float = 0.5,
            **extensions: object) -> tuple[DeploymentPlan, AppSpec, AppSpec]:
    """A restart of /web (n healthy v1 instances) to v2 with the given extensions; plan, v1, v2."""
    base = assign_versions(EMPTY, Group.of([app("/web", n, "v1", checked=checked, strategy=(mhc, moc))]), NOW - 100)
    v1 = base.app("/web")
    assert v1 is not None
    target = strategy(app("/web", n, "v2", checked=checked, strategy=(mhc, moc)), **extensions)
    deployment = deploy(base, base.update_app(target))
    v2 = deployment.target.app("/web")
    assert v2 is not None
    return deployment, v1, v2


class Run:
    """The shell's loop for one deployment: progress with the canary holds, supervise, reconcile, tick."""

    def __init__(self, deployment: DeploymentPlan, world: World) -> None:
        self.deployment = deployment
        self.world = world
        self.index = 0
        self.supervision = started(world.now)
        self.verdicts: list[Verdict] = []
        self.finished = False

    def step(self, *, move: bool = True) -> Verdict:
        now = progress(self.deployment, self.index, self.world.instances,
                       canary_holds(self.deployment, self.supervision))
        verdict = supervise(self.deployment, now, self.supervision, self.world.instances, self.world.now)
        self.verdicts.append(verdict)
        self.supervision = verdict.supervision
        self.index = now.step_index
        if now.finished:
            self.finished = True
            return verdict
        if verdict.failure is None:
            given = progress(self.deployment, self.index, self.world.instances,
                             canary_holds(self.deployment, self.supervision)).inputs
            for app_id, inputs in given.items():
                self.world.reconcile(app_id, inputs)
        if move:
            self.world.tick(lambda a: bool(getattr(self.deployment.target.app(a), "health_checks", ())))
        return verdict

    def until(self, condition: object, limit: int = 2000) -> None:
        for _ in range(limit):
            if callable(condition) and condition():
                return
            self.step()
        raise AssertionError("condition not reached")

    def live(self, version: str) -> list[Instance]:
        return [i for i in self.world.instances[WEB] if i.has_live_task and i.app_version == version]


# -- canaries -------------------------------------------------------------------------------------------------


def test_canary_count_comes_out_of_the_over_capacity_budget_with_at_least_one() -> None:
    base = app("/web", 10, strategy=(1.0, 0.2))
    assert canary_count(strategy(base, canary=Canary(5))) == 2  # floor(10 * 0.2)
    assert canary_count(strategy(base, canary=Canary(1))) == 1
    assert canary_count(strategy(replace(base, upgrade_strategy=UpgradeStrategy(1.0, 0.0)), canary=Canary(3))) == 1
    assert canary_count(strategy(replace(base, instances=0), canary=Canary(3))) is None
    assert canary_count(base) is None


def test_an_auto_canary_holds_the_rollout_until_its_canaries_were_healthy_long_enough() -> None:
    deployment, v1, v2 = upgrade(4, canary=Canary(2, healthy_seconds=30, promote=CanaryPromotion.AUTO))
    world = World({WEB: running(v1, 4, healthy=True)}, random.Random(3))
    run = Run(deployment, world)
    assert canary_holds(deployment, run.supervision) == {WEB: 2}
    run.until(lambda: len([i for i in run.live(v2.version) if considered_available(i, v2)]) == 2)
    healthy_at = world.now
    # Held: two canaries on top of all four old instances, none of which is stopped.
    while WEB not in run.supervision.promoted:
        assert len(run.live(v2.version)) <= 2
        assert [i.goal for i in run.live(v1.version)] == [Goal.RUNNING] * 4
        run.step()
    assert world.now - healthy_at >= 30
    assert any(v.promoted == (WEB,) for v in run.verdicts)
    run.until(lambda: run.finished)
    assert len(run.live(v2.version)) == 4 and run.live(v1.version) == []
    assert all(v.failure is None for v in run.verdicts)


def test_a_manual_canary_pauses_until_continued_and_never_fails_while_paused() -> None:
    deployment, v1, v2 = upgrade(3, canary=Canary(1, healthy_seconds=5, promote=CanaryPromotion.MANUAL),
                                 progress_deadline_seconds=20.0)
    world = World({WEB: running(v1, 3, healthy=True)}, random.Random(8))
    run = Run(deployment, world)
    run.until(lambda: run.supervision.paused)
    assert state_of(run.supervision) is DeploymentState.PAUSED
    assert sum(v.paused_now for v in run.verdicts) == 1
    for _ in range(200):  # far past the progress deadline: a pause is no lack of progress
        verdict = run.step()
        assert verdict.failure is None and not verdict.changed
        assert len(run.live(v2.version)) == 1 and len(run.live(v1.version)) == 3
    (report,) = canary_reports(deployment, run.supervision, world.instances)
    assert (report.instances, report.healthy, report.promoted) == (1, 1, False)
    run.supervision = continued(run.supervision, deployment, world.now)
    assert not run.supervision.paused and canary_holds(deployment, run.supervision) == {}
    run.until(lambda: run.finished)
    assert len(run.live(v2.version)) == 3 and run.live(v1.version) == []


def test_a_canary_that_turns_unhealthy_restarts_its_wait() -> None:
    deployment, v1, v2 = upgrade(2, canary=Canary(1, healthy_seconds=10))
    world = World({WEB: running(v1, 2, healthy=True)}, random.Random(4))
    run = Run(deployment, world)
    run.until(lambda: bool(run.supervision.waits))
    first = run.supervision.waits[0].healthy_since
    (canary,) = run.live(v2.version)
    sick = with_task_status(canary, canary.task_id or TaskId(""), "TASK_RUNNING", None, world.now, healthy=False)
    world.instances[WEB] = [sick if i.id == canary.id else i for i in world.instances[WEB]]
    run.step(move=False)
    assert run.supervision.waits == () and WEB not in run.supervision.promoted
    run.until(lambda: bool(run.supervision.waits))
    assert run.supervision.waits[0].healthy_since > first


def test_a_rollback_is_never_held_by_a_canary() -> None:
    deployment, _, _ = upgrade(3, canary=Canary(1))
    assert canary_holds(deployment, started(NOW, rollback_of=DeploymentId("failed"))) == {}


# -- failing: deadline and crash loop -------------------------------------------------------------------------


class NeverHealthy(World):
    """Instances of ``bad`` run but never pass their health checks."""

    bad: str = ""

    def _move(self, instance: Instance, health_checked: bool) -> Instance:
        if instance.app_version == self.bad and instance.condition is Condition.RUNNING:
            return instance
        return super()._move(instance, health_checked)


def test_a_deployment_that_makes_no_progress_fails_after_its_deadline_and_not_before() -> None:
    deployment, v1, v2 = upgrade(3, progress_deadline_seconds=40.0, auto_rollback=True)
    world = NeverHealthy({WEB: running(v1, 3, healthy=True)}, random.Random(2))
    world.bad = v2.version
    run = Run(deployment, world)
    run.until(lambda: run.verdicts and run.verdicts[-1].failure is not None)
    failure = run.verdicts[-1].failure
    assert failure is not None and "no progress" in failure and "40" in failure
    assert world.now - run.supervision.last_progress_at > 40
    assert all(v.failure is None for v in run.verdicts[:-1])
    # minimumHealthCapacity 1.0 was kept throughout: every old instance still serves.
    assert len(run.live(v1.version)) == 3
    assert wants_rollback(deployment, run.supervision)


def test_progress_moves_the_deadline_on() -> None:
    deployment, v1, v2 = upgrade(6, progress_deadline_seconds=15.0, mhc=0.5, moc=0.0)
    world = World({WEB: running(v1, 6, healthy=True)}, random.Random(6))
    run = Run(deployment, world)
    run.until(lambda: run.finished)  # each new healthy instance is progress: a slow but steady rollout
    assert all(v.failure is None for v in run.verdicts)
    moments = sorted({v.supervision.last_progress_at for v in run.verdicts})
    assert len(moments) > 3


def test_a_deployment_nobody_opted_in_to_never_fails() -> None:
    deployment, v1, v2 = upgrade(2)
    assert deadline(deployment) is None and not wants_rollback(deployment, started(NOW))
    world = NeverHealthy({WEB: running(v1, 2, healthy=True)}, random.Random(1))
    world.bad = v2.version
    run = Run(deployment, world)
    for _ in range(3000):
        assert run.step().failure is None
    failing = an_instance(v2).on(an_agent("h1")).running(since=1).build()
    crashed = replace(failing, condition=Condition.FAILED)
    supervision = started(NOW)
    for _ in range(5):
        supervision = count_failure(deployment, supervision, failing, crashed)
    assert supervision.failed_tasks == 0


def test_three_failed_tasks_of_the_new_version_are_a_crash_loop() -> None:
    deployment, v1, v2 = upgrade(2, auto_rollback=True)
    assert deadline(deployment) == 600.0  # autoRollback alone brings the default deadline
    alive = an_instance(v2).on(an_agent("h1")).running(since=1).build()
    supervision = started(NOW)
    for state, counts in (("TASK_FAILED", 1), ("TASK_KILLED", 1), ("TASK_ERROR", 2), ("TASK_FAILED", 3)):
        after = with_task_status(alive, alive.task_id or TaskId(""), state, None, NOW)
        supervision = count_failure(deployment, supervision, alive, after)
        assert supervision.failed_tasks == counts, state
    old = an_instance(v1).on(an_agent("h1")).running(since=1).build()
    assert count_failure(deployment, supervision, old, replace(old, condition=Condition.FAILED)) is supervision
    decommissioned = alive.with_goal(Goal.DECOMMISSIONED)
    assert count_failure(deployment, supervision, decommissioned,
                         replace(decommissioned, condition=Condition.FAILED)) is supervision
    progress_now = progress(deployment, 0, {WEB: running(v1, 2, healthy=True)})
    verdict = supervise(deployment, progress_now, supervision, {WEB: running(v1, 2, healthy=True)}, NOW + 1)
    assert verdict.failure is not None and "crash loop" in verdict.failure
    assert supervision.failed_tasks >= CRASH_LOOP_FAILURES


def test_a_rollback_never_fails_nor_rolls_back_again_and_a_new_leader_gets_a_fresh_window() -> None:
    deployment, v1, _ = upgrade(2, auto_rollback=True, progress_deadline_seconds=10.0)
    rollback = started(NOW, rollback_of=DeploymentId("d1"))
    assert not wants_rollback(deployment, rollback)
    fleet = {WEB: running(v1, 2, healthy=True)}
    stalled = supervise(deployment, progress(deployment, 0, fleet), replace(rollback, failed_tasks=5), fleet,
                        NOW + 1000)
    assert stalled.failure is None
    assert state_of(started(NOW, rollback_of=DeploymentId("d1"))) is DeploymentState.ROLLING_BACK
    old = Supervision(started_at=NOW, last_progress_at=NOW)
    assert resumed(old, NOW + 500).last_progress_at == NOW + 500
    assert resumed(old, NOW - 5).last_progress_at == NOW


def test_a_tick_that_finds_nothing_new_changes_nothing_to_persist() -> None:
    deployment, v1, _ = upgrade(2, progress_deadline_seconds=100.0)
    fleet = {WEB: running(v1, 2, healthy=True)}
    first = supervise(deployment, progress(deployment, 0, fleet), started(NOW), fleet, NOW)
    again = supervise(deployment, progress(deployment, 0, fleet), first.supervision, fleet, NOW + 5)
    assert first.changed and not again.changed and again.failure is None


# -- readiness ------------------------------------------------------------------------------------------------

READY = ReadinessCheckSpec(port_name="http", path="ready", http_status_codes_for_ready=(200, 204),
                           preserve_last_response=True)


def ready_app(n: int) -> AppSpec:
    spec = app("/web", n, "v2", checked=True)
    ports = tuple(replace(p, name=name) for p, name in zip(spec.port_definitions * 2, ("admin", "http")))
    return replace(spec, port_definitions=ports, readiness_checks=(READY,))


def test_readiness_targets_are_running_unready_instances_of_the_deploying_version() -> None:
    spec = ready_app(3)
    agent = an_agent("h7")
    fresh = replace(an_instance(spec).on(agent).running(since=1).build(), host_ports=(31000, 31001))
    ready = replace(fresh, ready_at=5.0)
    staging = an_instance(spec).on(agent).staging().build()
    old = replace(an_instance(replace(spec, version="old")).on(agent).running(since=1).build(),
                  host_ports=(31000, 31001))
    found = targets({WEB: spec}, [fresh, ready, staging, old])
    assert [t.instance.id for t in found] == [fresh.id]
    assert found[0].url == f"http://{agent.hostname}:31001/ready"
    assert probe_url(replace(spec, readiness_checks=(replace(READY, port_name="nope"),)), READY, fresh) is not None
    assert probe_url(spec, replace(READY, port_name="nope"), fresh) is None
    assert targets({}, [fresh]) == []


def test_a_task_is_ready_on_a_listed_status_and_keeps_the_response_only_when_asked() -> None:
    task = TaskId("t.1")
    ok = judge(READY, task, ProbeResponse(204, "text/plain", ""))
    assert ok.ready and ok.last_response == ProbeResponse(204, "text/plain", "")
    assert not judge(READY, task, ProbeResponse(503, "text/plain", "busy")).ready
    assert not judge(READY, task, None).ready
    quiet = judge(replace(READY, preserve_last_response=False), task, ProbeResponse(200, "", "x"))
    assert quiet.ready and quiet.last_response is None


def test_old_instances_are_stopped_only_after_new_ones_are_healthy_and_ready() -> None:
    v2 = replace(ready_app(2), upgrade_strategy=UpgradeStrategy(1.0, 0.5))
    v1 = replace(v2, version="v1", cmd="v1")
    agent = an_agent("h1")
    old = [an_instance(v1).on(agent).running(since=1, healthy=True).build() for _ in range(2)]
    new = an_instance(v2).on(agent).running(since=1, healthy=True).build()
    step = DeploymentStep.restart(v2)
    ids = random_instance_ids(random.Random(1))
    unready = reconcile_app(v2, [*old, new], NOW, new_ids=ids, deployment=step)
    assert unready.goals == () and not considered_available(new, v2)
    ready = replace(new, ready_at=NOW)
    result = reconcile_app(v2, [*old, ready], NOW, new_ids=ids, deployment=step)
    assert [goal for _, goal in result.goals] == [Goal.DECOMMISSIONED]
    assert considered_available(ready, v2) and considered_available(old[0], v2)


@pytest.mark.parametrize("promote", list(CanaryPromotion))
def test_continue_promotes_held_canaries_at_once(promote: CanaryPromotion) -> None:
    deployment, _, _ = upgrade(3, canary=Canary(1, healthy_seconds=1000, promote=promote))
    supervision = continued(started(NOW), deployment, NOW + 1)
    assert supervision.promoted == {WEB} and canary_holds(deployment, supervision) == {}
    assert supervision.last_progress_at == NOW + 1


@settings(max_examples=150, deadline=None, database=None)
@given(n=st.integers(1, 6), mhc=st.sampled_from([0.0, 0.5, 1.0]), moc=st.sampled_from([0.0, 0.2, 0.5, 1.0]),
       canaries=st.integers(1, 4), healthy_seconds=st.integers(0, 5), seed=st.integers(0, 2**32))
def test_a_canary_rollout_never_breaks_capacity_and_always_finishes(
        n: int, mhc: float, moc: float, canaries: int, healthy_seconds: int, seed: int) -> None:
    deployment, v1, v2 = upgrade(n, mhc=mhc, moc=moc, canary=Canary(canaries, float(healthy_seconds)))
    count = canary_count(v2)
    assert count is not None and 1 <= count <= max(1, math.floor(n * moc + 1e-9))
    world = World({WEB: running(v1, n, healthy=True)}, random.Random(seed))
    run = Run(deployment, world)
    floor_healthy = math.ceil(n * mhc - 1e-9)
    for _ in range(3000):
        run.step()
        active = [i for i in world.instances[WEB] if i.goal is Goal.RUNNING]
        healthy = sum(1 for i in active if considered_available(i, v2))
        if WEB not in run.supervision.promoted:
            assert [i.goal for i in world.instances[WEB] if i.app_version == v1.version] == [Goal.RUNNING] * n
            assert len(active) <= n + count
        else:
            assert healthy >= floor_healthy
        if run.finished:
            break
    assert run.finished and len(run.live(v2.version)) == n and run.live(v1.version) == []
