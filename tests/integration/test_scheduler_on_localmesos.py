"""The scheduler on a 3-agent localmesos cluster with rack and zone attributes, with real task processes.

Where tasks are placed (constraints, strategies, affinity) is tested in ``test_placement_on_localmesos.py``,
against the Mesos master's own view."""

from __future__ import annotations

import asyncio

from mesospaas.model import AppId, UnreachableEnabled, parse_constraint

from .conftest import RuntimeHandle, eventually, running, sleeper


def constraint(*parts: str):  # type: ignore[no-untyped-def]
    parsed = parse_constraint(list(parts))
    assert not isinstance(parsed, str), parsed
    return parsed


async def test_scale_up_and_down(scheduler: RuntimeHandle) -> None:
    runtime = await scheduler.start()
    await runtime.put_app(sleeper("/scale", 2))
    await eventually(lambda: len(running(runtime, "/scale")) == 2)
    await runtime.put_app(sleeper("/scale", 5))
    await eventually(lambda: len(running(runtime, "/scale")) == 5)
    await runtime.put_app(sleeper("/scale", 1))
    await eventually(lambda: len(runtime.instances_of(AppId("/scale"))) == 1 and len(running(runtime, "/scale")) == 1)
    await runtime.put_app(sleeper("/scale", 0))
    await eventually(lambda: not runtime.instances_of(AppId("/scale")))
    assert await runtime.delete_app(AppId("/scale"))
    assert not await runtime.delete_app(AppId("/scale"))


async def test_killed_task_is_replaced_with_backoff(scheduler: RuntimeHandle) -> None:
    runtime = await scheduler.start()
    await runtime.put_app(sleeper("/crashy", 1, backoff_seconds=1.0, backoff_factor=2.0))
    first = (await eventually(lambda: running(runtime, "/crashy")))[0]
    assert first.task_id is not None
    assert scheduler.mesos.run(lambda: scheduler.mesos.cluster.kill_task_process(str(first.task_id)))
    backoff = await eventually(lambda: runtime.state.backoffs.get(AppId("/crashy")))
    assert backoff.failures == 1 and backoff.delay == 1.0
    replaced = (await eventually(lambda: (r := running(runtime, "/crashy")) and r[0].task_id != first.task_id and r))[0]
    assert replaced.id == first.id and replaced.incarnation == first.incarnation + 1
    assert replaced.started_at is not None and replaced.started_at >= backoff.launch_allowed_at - 0.05
    # A second crash doubles the delay (backoffFactor 2).
    assert scheduler.mesos.run(lambda: scheduler.mesos.cluster.kill_task_process(str(replaced.task_id)))
    await eventually(lambda: (b := runtime.state.backoffs.get(AppId("/crashy"))) and b.failures == 2 and b.delay == 2.0)


async def test_lost_agent_instances_are_replaced_elsewhere(scheduler: RuntimeHandle) -> None:
    runtime = await scheduler.start()
    quick = UnreachableEnabled(inactive_after_seconds=0.5, expunge_after_seconds=2.0)
    unique = (constraint("hostname", "UNIQUE"),)
    await runtime.put_app(sleeper("/ha", 2, constraints=unique, unreachable_strategy=quick))
    await eventually(lambda: len(running(runtime, "/ha")) == 2)
    hosts = {i.agent.hostname for i in running(runtime, "/ha") if i.agent}
    victim_host = sorted(hosts)[0]
    scheduler.mesos.call(scheduler.mesos.cluster.stop_agent(victim_host))
    # The lost instance is replaced on the free agent; the old one is expunged later.
    await eventually(lambda: {i.agent.hostname for i in running(runtime, "/ha") if i.agent} ==
                     (hosts - {victim_host}) | ({a.hostname for a in scheduler.mesos.cluster.agents} - hosts),
                     timeout=30)
    await eventually(lambda: len(runtime.instances_of(AppId("/ha"))) == 2, timeout=30)


async def test_restarted_scheduler_adopts_running_tasks(scheduler: RuntimeHandle) -> None:
    runtime = await scheduler.start()
    await runtime.put_app(sleeper("/durable", 3))
    before = await eventually(lambda: (r := running(runtime, "/durable")) and len(r) == 3 and r)
    tasks_before = {i.id: i.task_id for i in before}
    launched_before = runtime.stats.tasks_launched
    await scheduler.stop()
    runtime = await scheduler.start()
    assert {i.id: i.task_id for i in running(runtime, "/durable")} == tasks_before
    # After reconciliation with Mesos nothing was relaunched or killed.
    await asyncio.sleep(1.5)
    after = running(runtime, "/durable")
    assert {i.id: i.task_id for i in after} == tasks_before
    assert runtime.stats.tasks_launched == 0 and launched_before == 3
    assert runtime.stats.unknown_tasks_killed == 0


async def test_status_updates_are_published_as_events(scheduler: RuntimeHandle) -> None:
    runtime = await scheduler.start()
    subscription = runtime.events.subscribe(["status_update_event"])
    try:
        await runtime.put_app(sleeper("/evented", 1))
        seen: list[dict[str, object]] = []
        async for event in subscription.events(keepalive=5):
            assert event is not None, "no event within 5 s"
            seen.append(event)
            if event["taskStatus"] == "TASK_RUNNING":
                break
        assert [e["taskStatus"] for e in seen] == ["TASK_STARTING", "TASK_RUNNING"]
        running_event = seen[-1]
        instance = running(runtime, "/evented")[0]
        assert running_event["appId"] == "/evented" and running_event["taskId"] == instance.task_id
        assert running_event["host"] == instance.agent.hostname if instance.agent else False
        assert running_event["ports"] == list(instance.host_ports) and running_event["version"] == instance.app_version
        assert str(running_event["timestamp"]).endswith("Z")
    finally:
        subscription.close()
