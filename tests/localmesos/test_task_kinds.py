"""Simulated agents, task groups on the default executor, and Mesos-native health checks through the agent."""

from __future__ import annotations

import json
import urllib.request
from typing import Any, Callable

from .conftest import ThreadedCluster
from .test_pymesos_scheduler import RecordingScheduler, task_info, driver_factory  # noqa: F401


def test_simulated_agents_script_lifecycles(start_cluster: Callable[..., ThreadedCluster],
                                            driver_factory: Any) -> None:
    sim = start_cluster(50, simulate=True)
    sched = RecordingScheduler()
    driver = driver_factory(sched, on=sim)
    sched.wait_for(lambda k, p: k == "offers" and len(p) == 50)
    offer = sched.offers.get(timeout=10)
    driver.launchTasks(offer["id"], [task_info(offer, "short", "sleep 0.2"), task_info(offer, "bad", "exit 3"),
                                     task_info(offer, "forever", "./server --port $PORT0")])
    assert sched.status_of("short", "TASK_FINISHED")["message"] == "Command exited with status 0"
    assert sched.status_of("bad", "TASK_FAILED")["message"] == "Command exited with status 3"
    running = sched.status_of("forever", "TASK_RUNNING")
    assert running["executor_id"] == {"value": "forever"} and "uuid" in running
    driver.killTask({"value": "forever"})
    sched.status_of("forever", "TASK_KILLED")
    # No agent of a simulated cluster serves HTTP, yet the master's view is complete.
    state = json.loads(urllib.request.urlopen(f"{sim.url}/master/state", timeout=5).read())
    assert state["activated_slaves"] == 50.0


def test_task_group_on_default_executor(cluster: ThreadedCluster, driver_factory: Any) -> None:
    sched = RecordingScheduler()
    driver = driver_factory(sched)
    offer = sched.offers.get(timeout=10)
    group = {"type": "LAUNCH_GROUP", "launch_group": {
        "executor": {"executor_id": {"value": "pod-1"}, "type": "DEFAULT",
                     "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                                   {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}]},
        "task_group": {"tasks": [
            {k: v for k, v in task_info(offer, "pod-a", "sleep 60").items()},
            {k: v for k, v in task_info(offer, "pod-b", "exit 0").items()}]}}}
    driver.acceptOffers([offer["id"]], [group])
    a = sched.status_of("pod-a", "TASK_RUNNING")
    b = sched.status_of("pod-b", "TASK_FINISHED")
    assert a["executor_id"] == b["executor_id"] == {"value": "pod-1"}
    driver.killTask({"value": "pod-a"})
    sched.status_of("pod-a", "TASK_KILLED")


def test_task_group_with_a_bad_task_fails_as_a_whole(cluster: ThreadedCluster, driver_factory: Any) -> None:
    sched = RecordingScheduler()
    driver = driver_factory(sched)
    offer = sched.offers.get(timeout=10)
    group = {"type": "LAUNCH_GROUP", "launch_group": {
        "executor": {"executor_id": {"value": "pod-2"}, "type": "DEFAULT"},
        "task_group": {"tasks": [task_info(offer, "g-ok", "sleep 60"),
                                 task_info(offer, "g-huge", "sleep 60", cpus=1000)]}}}
    driver.acceptOffers([offer["id"]], [group])
    for task_id in ("g-ok", "g-huge"):
        status = sched.status_of(task_id, "TASK_ERROR")
        assert status["reason"] == "REASON_TASK_GROUP_INVALID"


def test_health_check_reports_once_when_known(cluster: ThreadedCluster, driver_factory: Any) -> None:
    sched = RecordingScheduler()
    driver = driver_factory(sched)
    offer = sched.offers.get(timeout=10)
    task = task_info(offer, "checked", "sleep 60")
    task["health_check"] = {"type": "COMMAND", "command": {"value": "true"}, "delay_seconds": 0,
                            "interval_seconds": 0.2, "grace_period_seconds": 1}
    driver.launchTasks(offer["id"], [task])
    starting = sched.status_of("checked", "TASK_STARTING")
    running = sched.status_of("checked", "TASK_RUNNING")
    assert "healthy" not in starting and "healthy" not in running
    _, healthy = sched.wait_for(lambda k, p: k == "status" and p.get("healthy") is True)
    assert healthy["reason"] == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED" and healthy["state"] == "TASK_RUNNING"
    # Not repeated while health stays the same: kill, and nothing healthy came in between.
    import time
    time.sleep(1.0)
    driver.killTask({"value": "checked"})
    sched.status_of("checked", "TASK_KILLED")
    updates = [p for k, p in sched.events if k == "status" and p["task_id"]["value"] == "checked"]
    assert [u["state"] for u in updates] == ["TASK_STARTING", "TASK_RUNNING", "TASK_RUNNING", "TASK_KILLED"]


def test_failing_health_check_kills_the_task(cluster: ThreadedCluster, driver_factory: Any) -> None:
    sched = RecordingScheduler()
    driver = driver_factory(sched)
    offer = sched.offers.get(timeout=10)
    task = task_info(offer, "sick", "sleep 60")
    task["health_check"] = {"type": "TCP", "tcp": {"port": 1}, "delay_seconds": 0, "interval_seconds": 0.1,
                            "grace_period_seconds": 0, "consecutive_failures": 2, "timeout_seconds": 1}
    driver.launchTasks(offer["id"], [task])
    killed = sched.status_of("sick", "TASK_KILLED", timeout=20)
    assert killed.get("healthy") is False
    unhealthy = [p for k, p in sched.events if k == "status" and p.get("healthy") is False
                 and p["state"] == "TASK_RUNNING"]
    assert unhealthy and unhealthy[0]["reason"] == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"


def test_monitor_statistics_reports_running_executors(cluster: ThreadedCluster, driver_factory: Any) -> None:
    sched = RecordingScheduler()
    driver = driver_factory(sched)
    offer = sched.offers.get(timeout=10)
    driver.launchTasks(offer["id"], [task_info(offer, "busy", "sleep 60", cpus=0.5, mem=64)])
    sched.status_of("busy", "TASK_RUNNING")
    agent = next(a for a in cluster.cluster.agents if a.id == offer["agent_id"]["value"])
    stats = json.loads(urllib.request.urlopen(f"http://{agent.ip}:{agent.port}/monitor/statistics",
                                              timeout=5).read())
    entry = next(e for e in stats if e["executor_id"] == "busy")
    assert entry["framework_id"] == driver.framework_id and entry["source"] == "busy"
    s = entry["statistics"]
    assert s["mem_rss_bytes"] > 0 and s["cpus_soft_limit"] == 0.6
    assert s["mem_limit_bytes"] == s["mem_soft_limit_bytes"] == 96 * 1024 * 1024
    assert set(s) >= {"timestamp", "cpus_user_time_secs", "cpus_system_time_secs"}
