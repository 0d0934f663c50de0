"""Deployments on localmesos with real processes: rolling restarts honour upgradeStrategy and finish."""

from __future__ import annotations

import asyncio
import math

import pytest

from mesospaas.model import AppId, Condition, Goal
from mesospaas.model.app import UpgradeStrategy
from mesospaas.errors import DeploymentConflict, DeploymentRejected

from .conftest import RuntimeHandle, eventually, running, sleeper


@pytest.mark.parametrize("mhc, moc", [(1.0, 0.0), (0.5, 0.5), (0.0, 0.0)])
async def test_rolling_restart_keeps_capacity_and_finishes(scheduler: RuntimeHandle, mhc: float, moc: float) -> None:
    runtime = await scheduler.start()
    strategy = UpgradeStrategy(mhc, moc)
    await runtime.put_app(sleeper("/roll", 4, upgrade_strategy=strategy))
    await eventually(lambda: len(running(runtime, "/roll")) == 4 and not runtime.state.deployments)
    v1 = {i.app_version for i in running(runtime, "/roll")}
    events = runtime.events.subscribe(["deployment_success", "deployment_info"])
    deployment = await runtime.put_app(sleeper("/roll", 4, upgrade_strategy=strategy, cmd="sleep 601"),
                                       force=False)
    assert deployment.steps and deployment.steps[0].actions[0].name == "RestartApplication"
    lowest, highest = 4, 0
    old_meant_to_run_at_first_new: int | None = None
    while runtime.state.deployments:
        # maximumOverCapacity bounds the instances meant to run; instances being killed do not count, as in
        # Marathon (its worked example N=10, 0.5/0.2 kills 5 and starts 7 at once: reference section 5.2).
        instances = runtime.instances_of(AppId("/roll"))
        live = [i for i in instances if i.has_live_task and i.goal is Goal.RUNNING]
        lowest = min(lowest, len(running(runtime, "/roll")))
        highest = max(highest, len(live))
        # The first time any new-version instance exists (a whole rollout of sleepers can finish between two
        # samples, so waiting to see one *running* could miss it).
        if old_meant_to_run_at_first_new is None and any(i.app_version not in v1 for i in instances):
            old_meant_to_run_at_first_new = sum(1 for i in instances if i.app_version in v1 and i.goal is Goal.RUNNING)
        await asyncio.sleep(0.02)
    final = running(runtime, "/roll")
    assert len(final) == 4 and {i.app_version for i in final}.isdisjoint(v1)
    assert old_meant_to_run_at_first_new is not None  # a new-version instance was seen mid-deployment
    if mhc > 0:
        assert lowest >= math.ceil(4 * mhc)  # minimumHealthCapacity held throughout
    else:
        # minimumHealthCapacity 0: Marathon stops every old instance in the first step, before any new one runs.
        assert old_meant_to_run_at_first_new == 0
    # maximumOverCapacity, +1 when mHC = 1 and mOC = 0 (Marathon's rule, so a restart can make progress).
    assert highest <= math.floor(4 * (1 + moc)) + (1 if (mhc, moc) == (1.0, 0.0) else 0)
    kinds = []
    while not events.queue.empty():
        event = events.queue.get_nowait()
        assert event is not None
        kinds.append(event["eventType"])
    assert kinds[0] == "deployment_info" and kinds[-1] == "deployment_success"
    events.close()


async def test_conflicting_change_is_refused_unless_forced(scheduler: RuntimeHandle) -> None:
    runtime = await scheduler.start()
    # Slow to become healthy-enough: a rolling restart of a big app stays in progress for a while.
    await runtime.put_app(sleeper("/locked", 2))
    await eventually(lambda: len(running(runtime, "/locked")) == 2 and not runtime.state.deployments)
    await runtime.put_app(sleeper("/locked", 2, cmd="sleep 602", upgrade_strategy=UpgradeStrategy(1.0, 0.0)),
                          force=False)
    assert runtime.state.deployments
    with pytest.raises(DeploymentConflict) as conflict:
        await runtime.put_app(sleeper("/locked", 3), force=False)
    assert conflict.value.deployments == list(runtime.state.deployments)
    [locked] = conflict.value.deployments
    events = runtime.events.subscribe(["deployment_success", "deployment_failed"])
    forced = await runtime.put_app(sleeper("/locked", 3), force=True)
    assert forced.id != locked and locked not in runtime.state.deployments  # forcing cancelled the running one
    await eventually(lambda: len(running(runtime, "/locked")) == 3 and not runtime.state.deployments)
    ended = []
    while not events.queue.empty():
        event = events.queue.get_nowait()
        assert event is not None
        ended.append((event["eventType"], event["id"]))
    events.close()
    assert ended == [("deployment_failed", locked), ("deployment_success", forced.id)]


async def test_dependency_cycle_is_rejected_and_changes_nothing(scheduler: RuntimeHandle) -> None:
    runtime = await scheduler.start()
    await runtime.put_app(sleeper("/a", 0))
    before = runtime.state.root
    with pytest.raises(DeploymentRejected, match="cyclic"):
        await runtime.deploy(lambda root: root.update_app(sleeper("/b", 0), dependencies=["/c"])
                             .update_app(sleeper("/c", 0), dependencies=["/b"]))
    assert runtime.state.root == before


async def test_cancel_with_rollback_returns_to_the_original(scheduler: RuntimeHandle) -> None:
    runtime = await scheduler.start()
    await runtime.put_app(sleeper("/rb", 1))
    await eventually(lambda: len(running(runtime, "/rb")) == 1 and not runtime.state.deployments)
    original_version = runtime.state.apps[AppId("/rb")].version
    # A scale to an impossible size never finishes on this cluster (UNIQUE hostname, 3 agents).
    from mesospaas.model import parse_constraint
    unique = parse_constraint(["hostname", "UNIQUE"])
    assert not isinstance(unique, str)
    stuck = await runtime.put_app(sleeper("/rb", 5, constraints=(unique,)), force=False)
    # It gets as far as it can (one per agent) and stays in progress for those that fit nowhere.
    await eventually(lambda: len(running(runtime, "/rb")) == 3
                     and (d := runtime.diagnostics.get(AppId("/rb"))) is not None and d.unplaced > 0)
    assert stuck.id in runtime.state.deployments
    back = await runtime.cancel_deployment(stuck.id, rollback=True)
    assert back is not None and stuck.id not in runtime.state.deployments
    await eventually(lambda: not runtime.state.deployments and len(running(runtime, "/rb")) == 1
                     and len(runtime.instances_of(AppId("/rb"))) == 1)
    restored = runtime.state.apps[AppId("/rb")]
    assert restored.instances == 1 and restored.constraints == () and restored.version != original_version
    assert all(i.condition is Condition.RUNNING for i in runtime.instances_of(AppId("/rb")))
