"""The mesospaas scheduler through a Mesos master restart and a master failover (localmesos, real tasks).

What must hold (issue 18): the apps keep running and nothing is restarted (same task ids, same processes), the
scheduler re-subscribes with its framework id (pymesos reconnects after the bare EOF; with ``zk://`` it
follows the new master's address), reconciles, and a scale-up after the restart launches.
"""

from __future__ import annotations

import os
from pathlib import Path

from mesospaas.model import AppId
from scheduler.metrics import PREFIX
from tests.localmesos.conftest import ThreadedCluster, make_config
from tests.localmesos.test_agent_faults import alive
from tests.zookeeper_server import ZooKeeperServer

from .conftest import RACKED, RuntimeHandle, eventually, running, sleeper


def _tasks(runtime: object, app: str) -> dict[str, str]:
    return {str(i.id): str(i.task_id) for i in running(runtime, app)}  # type: ignore[arg-type]


def _reconciliations(runtime: object) -> float:
    """Task reconciliation rounds so far, from the scheduler's own metric."""
    value = runtime.metrics.registry.get_sample_value(f"{PREFIX}_task_reconciliations_total")  # type: ignore[attr-defined]
    return float(value or 0.0)


def _running_updates(runtime: object) -> float:
    """TASK_RUNNING status updates the scheduler received so far (its own metric)."""
    value = runtime.metrics.registry.get_sample_value(  # type: ignore[attr-defined]
        f"{PREFIX}_status_updates_total", {"state": "TASK_RUNNING"})
    return float(value or 0.0)


def _pids(mesos: ThreadedCluster) -> dict[str, int]:
    """task id -> pid of the task's process, from the agents (the master is not asked: it may be restarting)."""
    def collect() -> dict[str, int]:
        out: dict[str, int] = {}
        for agent in mesos.cluster.agents:
            for container in agent.containers.values():
                for task_id, task in container.tasks.items():
                    if task.runner is not None and task.runner.pid is not None:
                        out[task_id] = task.runner.pid
        return out
    return mesos.run(collect)


async def _through_restart(scheduler: RuntimeHandle, *, failover: bool) -> None:
    runtime = await scheduler.start()
    await runtime.put_app(sleeper("/kept", 3))
    await eventually(lambda: len(running(runtime, "/kept")) == 3, 30)
    before = _tasks(runtime, "/kept")
    pids = _pids(scheduler.mesos)
    assert set(before.values()) <= set(pids)
    reconciliations = _reconciliations(runtime)
    running_updates = _running_updates(runtime)
    old_id = scheduler.mesos.master.id
    scheduler.mesos.restart_master(failover=failover, downtime=0.5)
    assert scheduler.mesos.master.id != old_id
    await eventually(lambda: not runtime.subscribed.is_set() or
                     _reconciliations(runtime) > reconciliations, 30)
    await eventually(lambda: runtime.subscribed.is_set() and
                     _reconciliations(runtime) > reconciliations, 60)
    # The new master knows the framework under the same id once the scheduler is back.
    # The round at re-subscription goes unanswered while the agents re-register; a follow-up round gets the
    # three tasks' TASK_RUNNING from the new master (no task changed meanwhile: those are reconcile answers).
    await eventually(lambda: _reconciliations(runtime) >= reconciliations + 2, 60)
    await eventually(lambda: _running_updates(runtime) >= running_updates + 3, 60)
    fid = runtime.state.framework_id
    await eventually(lambda: scheduler.mesos.run(
        lambda: [(f.id, f.connected, f.recovered) for f in scheduler.mesos.master.frameworks.values()])
        == [(fid, True, False)], 30)
    await runtime.put_app(sleeper("/kept", 5))
    await eventually(lambda: len(running(runtime, "/kept")) == 5, 60)
    after = _tasks(runtime, "/kept")
    assert {k: after[k] for k in before} == before  # nothing restarted
    assert all(alive(pids[t]) for t in before.values())
    master_tasks = await eventually(lambda: (lambda ts: ts if len(ts) == 5 else None)(scheduler.mesos.run(
        lambda: sorted(t for f in scheduler.mesos.master.frameworks.values() for t in f.tasks))), 60)
    assert master_tasks == sorted(after.values())
    assert len(runtime.instances_of(AppId("/kept"))) == 5


async def test_scheduler_rides_through_a_master_restart(scheduler: RuntimeHandle) -> None:
    await _through_restart(scheduler, failover=False)


async def test_scheduler_follows_a_master_failover_through_zookeeper(tmp_path: Path,
                                                                     zookeeper_server: ZooKeeperServer) -> None:
    config = make_config(tmp_path, 3, attributes=RACKED, resources="cpus:4;mem:4096;disk:10000")
    config.zk = f"zk://{zookeeper_server.hosts.split('/')[0]}/mesos-{os.getpid()}-{tmp_path.name}"
    mesos = ThreadedCluster(config)
    scheduler = RuntimeHandle(mesos, tmp_path / "state")
    scheduler.start = _starting_with(scheduler, config.zk)  # type: ignore[method-assign]
    try:
        await _through_restart(scheduler, failover=True)
    finally:
        await scheduler.stop()
        mesos.stop()


def _starting_with(handle: RuntimeHandle, master: str):  # type: ignore[no-untyped-def]
    start = handle.start

    async def started(**settings):  # type: ignore[no-untyped-def]
        return await start(**{"master": master, **settings})
    return started
