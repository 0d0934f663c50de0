"""Faults on demand: agent stop/restart and killing a task's process, with what real Mesos then does."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from typing import Any, Callable

from .conftest import ThreadedCluster
from .test_pymesos_scheduler import RecordingScheduler, task_info, driver_factory  # noqa: F401


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def wait_dead(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def post(url: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url, method="POST", data=b"")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def fast_cluster(start_cluster: Callable[..., ThreadedCluster]) -> ThreadedCluster:
    return start_cluster(2, agent_ping_timeout=0.3, max_agent_ping_timeouts=2)


def launch_on_second_agent(sched: RecordingScheduler, driver: Any, cluster: ThreadedCluster,
                           task_id: str) -> tuple[dict[str, Any], int]:
    second = cluster.cluster.agents[1].id
    while True:
        offer = sched.offers.get(timeout=10)
        if offer["agent_id"]["value"] == second:
            break
    driver.launchTasks(offer["id"], [task_info(offer, task_id, "sleep 120")])
    running = sched.status_of(task_id, "TASK_RUNNING")
    return running, running["container_status"]["executor_pid"]


def test_agent_stop_loses_non_checkpointed_tasks_at_once(start_cluster: Callable[..., ThreadedCluster],
                                                         driver_factory: Any) -> None:
    cluster = fast_cluster(start_cluster)
    sched = RecordingScheduler()
    driver = driver_factory(sched, on=cluster)
    _, pid = launch_on_second_agent(sched, driver, cluster, "plain")
    assert alive(pid)
    status, _ = post(f"{cluster.url}/localmesos/agents/1/stop")
    assert status == 200
    lost = sched.status_of("plain", "TASK_LOST")
    assert (lost["reason"], lost["message"]) == ("REASON_AGENT_DISCONNECTED",
                                                 f"Agent {cluster.cluster.agents[1].hostname} disconnected")
    assert wait_dead(pid)  # a non-checkpointing framework's executor does not outlive its agent
    # The FAILURE (slaveLost) comes only once the ping timeout has passed.
    _, agent_id = sched.wait_for(lambda k, p: k == "agent_lost", timeout=30)
    assert agent_id == {"value": cluster.cluster.agents[1].id}
    slaves = json.loads(urllib.request.urlopen(f"{cluster.url}/master/slaves", timeout=5).read())["slaves"]
    assert cluster.cluster.agents[1].id not in {s["id"] for s in slaves}


def test_checkpointed_task_survives_agent_restart(start_cluster: Callable[..., ThreadedCluster],
                                                  driver_factory: Any) -> None:
    cluster = fast_cluster(start_cluster)
    sched = RecordingScheduler()
    framework = {"user": "root", "name": "ckpt", "checkpoint": True, "failover_timeout": 60,
                 "capabilities": [{"type": "PARTITION_AWARE"}]}
    driver = driver_factory(sched, framework, on=cluster)
    _, pid = launch_on_second_agent(sched, driver, cluster, "durable")
    cluster.call(cluster.cluster.stop_agent(1))
    unreachable = sched.status_of("durable", "TASK_UNREACHABLE", timeout=30)
    assert unreachable["reason"] == "REASON_AGENT_REMOVED" and "unreachable_time" in unreachable
    assert alive(pid)
    cluster.call(cluster.cluster.restart_agent(1))
    back = sched.wait_for(lambda k, p: k == "status" and p.get("reason") == "REASON_AGENT_REREGISTERED")[1]
    assert (back["state"], back["message"]) == ("TASK_RUNNING", "Unreachable agent re-reregistered")
    assert back["container_status"]["executor_pid"] == pid and alive(pid)
    driver.killTask({"value": "durable"})
    sched.status_of("durable", "TASK_KILLED")
    assert wait_dead(pid)


def test_kill_task_process_from_outside(cluster: ThreadedCluster, driver_factory: Any) -> None:
    sched = RecordingScheduler()
    driver = driver_factory(sched)
    offer = sched.offers.get(timeout=10)
    driver.launchTasks(offer["id"], [task_info(offer, "victim", "sleep 120")])
    pid = sched.status_of("victim", "TASK_RUNNING")["container_status"]["executor_pid"]
    assert post(f"{cluster.url}/localmesos/tasks/victim/kill")[0] == 200
    failed = sched.status_of("victim", "TASK_FAILED")
    assert failed["message"] == "Command terminated with signal Killed"
    assert wait_dead(pid)
    assert post(f"{cluster.url}/localmesos/tasks/nope/kill")[0] == 404
    assert post(f"{cluster.url}/localmesos/agents/99/stop")[0] == 404


def test_cluster_shutdown_ends_tasks_of_a_stopped_agent(start_cluster: Callable[..., ThreadedCluster],
                                                         driver_factory: Any) -> None:
    cluster = fast_cluster(start_cluster)
    sched = RecordingScheduler()
    framework = {"user": "root", "name": "ckpt", "checkpoint": True, "failover_timeout": 60}
    driver = driver_factory(sched, framework, on=cluster)
    _, pid = launch_on_second_agent(sched, driver, cluster, "orphan")
    cluster.call(cluster.cluster.stop_agent(1))
    assert alive(pid)  # a checkpointed task outlives its agent...
    driver.stop(failover=True)
    driver.join()
    cluster.stop()
    assert wait_dead(pid)  # ...but not the cluster
