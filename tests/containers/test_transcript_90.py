"""localmesos against transcript 90 (a real Mesos 1.11 agent with only the Mesos containerizer): the same five
ContainerInfos give the same updates (state, reason, source, message; uuid, executor_id and container_status
present or not), and the master's and agent's state echo each ContainerInfo with the same defaults filled in."""

from __future__ import annotations

import copy
import json
import urllib.request
from typing import Any, Callable

import pytest

from tests.containers.test_localmesos_containers import one_agent
from tests.localmesos.conftest import ThreadedCluster, start_cluster  # noqa: F401
from tests.localmesos.test_pymesos_scheduler import driver_factory  # noqa: F401
from tests.localmesos.transcripts import load

RECORDING = load("90")
RECORDED_RESOURCES = "cpus:2;mem:2048;disk:10000;ports:[31000-32000]"
# Default agent ports, listened on by the tasks: never beside another such test (tests/host_ports.py).
pytestmark = pytest.mark.xdist_group("default-agent-ports")
CASES = sorted(key.removeprefix("accept-") for key in RECORDING["exchanges"] if key.startswith("accept-"))


def recorded_task(case: str) -> dict[str, Any]:
    body = RECORDING["exchanges"][f"accept-{case}"]["request"]["body"]
    return body["accept"]["operations"][0]["launch"]["task_infos"][0]


def recorded_container_echo(task_id: str) -> dict[str, Any] | None:
    """The ``container`` the real agent's /state showed for the task (after the failures, or while it ran)."""
    for view in ("agent-state-after-failures", "agent-state-while-a-runs"):
        text = json.dumps(RECORDING["state"][view]["response"]["body"]["json"])
        state = json.loads(text)
        for framework in state.get("frameworks", []):
            for executor in framework.get("executors", []) + framework.get("completed_executors", []):
                for task in executor.get("tasks", []) + executor.get("completed_tasks", []):
                    if task["id"] == task_id and "container" in task:
                        return dict(task["container"])
    return None


def agent_state_tasks(cluster: ThreadedCluster) -> dict[str, dict[str, Any]]:
    agent = cluster.cluster.agents[0]
    with urllib.request.urlopen(f"http://{agent.ip}:{agent.port}/state", timeout=10) as response:
        state = json.loads(response.read())
    tasks = {}
    for framework in state.get("frameworks", []) + state.get("completed_frameworks", []):
        for executor in framework.get("executors", []) + framework.get("completed_executors", []):
            for task in executor.get("tasks", []) + executor.get("completed_tasks", []):
                tasks[task["id"]] = task
    return tasks


@pytest.mark.parametrize("case", CASES)
def test_each_container_case_answers_as_the_recorded_agent(
        start_cluster: Callable[..., ThreadedCluster], driver_factory: Any, case: str) -> None:  # noqa: F811
    recorded = recorded_task(case)
    task_id = recorded["task_id"]["value"]
    expected = [u for u in RECORDING["update_summary"] if u["task"] == task_id]
    # The recorded tasks ask for the recorded host ports (31000+), which their containers listen on.
    cluster, sched, driver, offer = one_agent(start_cluster, driver_factory, None, resources=RECORDED_RESOURCES)
    task = copy.deepcopy(recorded)
    task["agent_id"] = offer["agent_id"]
    for resource in task["resources"]:
        resource.pop("allocation_info", None)
    driver.launchTasks(offer["id"], [task])
    final = sched.status_of(task_id, expected[-1]["state"] if len(expected) == 1 else expected[1]["state"])
    updates = [p for k, p in sched.events if k == "status" and p["task_id"]["value"] == task_id]
    wanted = expected if len(expected) == 1 else expected[:2]  # (a) runs 30 s: its first two updates
    assert [(u["state"], u.get("reason"), u["source"], u.get("message")) for u in updates[:len(wanted)]] == [
        (u["state"], u.get("reason"), u["source"], u.get("message")) for u in wanted]
    if final["source"] == "SOURCE_AGENT":  # transcript README, surprise 31
        assert "uuid" in final and "executor_id" in final and "container_status" not in final
    if final["source"] == "SOURCE_MASTER":
        assert "uuid" not in final
    echo = recorded_container_echo(task_id)
    if echo is not None:
        assert agent_state_tasks(cluster)[task_id]["container"] == echo
    if len(expected) > 1:
        driver.killTask({"value": task_id})
        sched.status_of(task_id, "TASK_KILLED")
