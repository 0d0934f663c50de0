"""pymesos's real MesosExecutorDriver, unmodified, as a custom executor on a localmesos agent."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from pymesos import decode_data, encode_data

from .conftest import ThreadedCluster
from .test_pymesos_scheduler import RecordingScheduler, driver_factory  # noqa: F401  (fixture)

EXECUTOR = Path(__file__).parent / "executors" / "echo_executor.py"


class MessageScheduler(RecordingScheduler):
    def frameworkMessage(self, driver: Any, executor_id: Any, agent_id: Any, data: str) -> None:
        self._add("message", (executor_id, agent_id, decode_data(data)))

    def executorLost(self, driver: Any, executor_id: Any, agent_id: Any, status: int) -> None:
        self._add("executor_lost", (executor_id, status))


def executor_task(offer: dict[str, Any], task_id: str, data: bytes = b"") -> dict[str, Any]:
    return {"name": task_id, "task_id": {"value": task_id}, "agent_id": offer["agent_id"],
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                          {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
            "data": encode_data(data),
            "executor": {"executor_id": {"value": "echo"}, "name": "echo executor",
                         "command": {"value": f"{sys.executable} {EXECUTOR}",
                                     "environment": {"variables": [{"name": "MY_VAR", "value": "from-info"}]}},
                         "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                                       {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}}]}}


def sandbox_of(cluster: ThreadedCluster, framework_id: str) -> Path:
    def find() -> Path:
        for agent in cluster.cluster.agents:
            container = agent.containers.get((framework_id, "echo"))
            if container is not None:
                return Path(container.sandbox)
        raise LookupError("no echo executor container")
    return cluster.run(find)


def test_custom_executor_lifecycle(cluster: ThreadedCluster, driver_factory: Any) -> None:
    sched = MessageScheduler()
    driver = driver_factory(sched)
    framework_id = sched.wait_for(lambda k, p: k == "registered")[1]
    offer = sched.offers.get(timeout=10)
    driver.launchTasks(offer["id"], [executor_task(offer, "ex-1", b"finish"), executor_task(offer, "ex-2")])

    running = sched.status_of("ex-1", "TASK_RUNNING")
    assert running["source"] == "SOURCE_EXECUTOR"
    assert "executor_id" not in running  # the agent does not add it for custom executors (surprise 27)
    assert running["container_status"]["executor_pid"] > 0
    finished = sched.status_of("ex-1", "TASK_FINISHED")
    assert finished["message"] == "done"
    sched.status_of("ex-2", "TASK_RUNNING")

    # The executor got exactly the environment a real agent gives (surprise 25), nothing of ours.
    sandbox = sandbox_of(cluster, framework_id)
    env = json.loads((sandbox / "env.json").read_text())
    agent_host = offer["hostname"]
    assert env["MESOS_AGENT_ENDPOINT"].startswith(agent_host + ":")
    assert env["MESOS_SLAVE_PID"] == f"slave(1)@{env['MESOS_AGENT_ENDPOINT']}"
    assert env["MESOS_EXECUTOR_ID"] == "echo" and env["MESOS_FRAMEWORK_ID"] == framework_id
    assert env["MESOS_CHECKPOINT"] == "0" and env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"] == "5secs"
    assert env["MESOS_DIRECTORY"] == env["MESOS_SANDBOX"] == str(sandbox)
    assert env["MY_VAR"] == "from-info" and env["LIBPROCESS_PORT"] == "0"
    assert "HOME" not in env and "VIRTUAL_ENV" not in env
    subscribed = json.loads((sandbox / "subscribed.json").read_text())
    assert subscribed["executor_info"]["executor_id"] == {"value": "echo"}
    assert subscribed["executor_info"]["resources"][0]["allocation_info"] == {"role": "*"}
    assert subscribed["agent_info"]["id"] == offer["agent_id"]

    # Framework messages travel both ways.
    driver.sendFrameworkMessage({"value": "echo"}, offer["agent_id"], encode_data(b"ping"))
    _, (executor_id, agent_id, data) = sched.wait_for(lambda k, p: k == "message")
    assert (executor_id, agent_id, data) == ({"value": "echo"}, offer["agent_id"], b"echo:ping")

    # KILL goes to the executor, which answers.
    driver.killTask({"value": "ex-2"})
    assert sched.status_of("ex-2", "TASK_KILLED")["message"] == "killed by echo executor"


def test_executor_exit_fails_tasks_and_reports_failure(cluster: ThreadedCluster, driver_factory: Any) -> None:
    sched = MessageScheduler()
    driver = driver_factory(sched)
    offer = sched.offers.get(timeout=10)
    driver.launchTasks(offer["id"], [executor_task(offer, "doomed")])
    sched.status_of("doomed", "TASK_RUNNING")
    for agent in cluster.cluster.agents:
        if agent.id == offer["agent_id"]["value"]:
            assert cluster.run(lambda: agent.kill_task_process("doomed"))
    failed = sched.status_of("doomed", "TASK_FAILED")
    assert (failed["reason"], failed["message"], failed["source"]) == (
        "REASON_EXECUTOR_TERMINATED", "Executor terminated", "SOURCE_AGENT")
    _, (executor_id, status) = sched.wait_for(lambda k, p: k == "executor_lost")
    assert executor_id == {"value": "echo"} and status == 9  # killed by SIGKILL: wait status 9


def test_shutdown_call_stops_executor(cluster: ThreadedCluster, driver_factory: Any) -> None:
    sched = MessageScheduler()
    driver = driver_factory(sched)
    offer = sched.offers.get(timeout=10)
    driver.launchTasks(offer["id"], [executor_task(offer, "long")])
    sched.status_of("long", "TASK_RUNNING")
    # pymesos has no SHUTDOWN helper; send the raw call on its connection.
    driver._send({"type": "SHUTDOWN", "framework_id": driver.framework_id and {"value": driver.framework_id},
                  "shutdown": {"executor_id": {"value": "echo"}, "agent_id": offer["agent_id"]}})
    failed = sched.status_of("long", "TASK_FAILED", timeout=30)
    assert failed["reason"] == "REASON_EXECUTOR_TERMINATED"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and cluster.run(
            lambda: any(("echo" in [k[1] for k in a.containers]) for a in cluster.cluster.agents)):
        time.sleep(0.1)
    assert not cluster.run(lambda: any(("echo" in [k[1] for k in a.containers]) for a in cluster.cluster.agents))
