"""The mesospaas executor against a localmesos agent, driven by a bare pymesos scheduler (no mesospaas
scheduler): only the v1 executor API between them, as on a real agent. Covers what the full platform does
not choose: a framework without checkpointing, a KILL carrying its own kill policy, the SHUTDOWN call, the
exit once the last update is acknowledged, and a task that is not ours to understand."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from executor import process_tree
from executor.main import build_parser
from mesospaas.executor_protocol import LogRotation, TaskCommand, TaskSpec, decode_health, encode_task_spec
from tests.localmesos.conftest import ThreadedCluster, cluster, start_cluster  # noqa: F401 (fixtures)
from tests.localmesos.test_pymesos_scheduler import RecordingScheduler, driver_factory  # noqa: F401 (fixture)
from tests.polling import wait_for

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
TRAPS_TERM = "echo $$ > pid; trap 'echo got TERM' TERM; while true; do sleep 0.05; done"


def our_task(offer: dict[str, Any], task_id: str, command: str, **extra: Any) -> dict[str, Any]:
    spec = TaskSpec(TaskCommand(command), LogRotation())
    return {"name": task_id, "task_id": {"value": task_id}, "agent_id": offer["agent_id"],
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                          {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
            "data": base64.b64encode(encode_task_spec(spec)).decode(),
            "executor": {"executor_id": {"value": task_id}, "name": "mesospaas", "type": "CUSTOM",
                         "command": {"value": f"{sys.executable} -m executor", "environment": {"variables": [
                             {"name": "PYTHONPATH", "value": str(REPO)}]}}},
            **extra}


def container_of(cluster: ThreadedCluster, framework_id: str, executor_id: str) -> Any:
    def find() -> Any:
        for agent in cluster.cluster.agents:
            container = agent.containers.get((framework_id, executor_id))
            if container is not None:
                return container
        return None
    return cluster.run(find)


def alive(pid: int) -> bool:
    stat = process_tree.read_stat(pid)
    return stat is not None and stat.state != "Z"


def started(cluster: ThreadedCluster, sched: RecordingScheduler, framework_id: str,
            task_id: str) -> tuple[Path, int, int]:
    sched.status_of(task_id, "TASK_RUNNING", timeout=30)
    container = container_of(cluster, framework_id, task_id)
    sandbox = Path(container.sandbox)
    pid = wait_for(lambda: int((sandbox / "pid").read_text()) if (sandbox / "pid").exists()
                   and (sandbox / "pid").read_text().strip() else None, 30, "the task's pid")
    return sandbox, int(container.process.pid), pid


def states_of(sched: RecordingScheduler, task_id: str) -> list[str]:
    return [p["state"] for k, p in sched.events if k == "status" and p["task_id"]["value"] == task_id]


def test_kill_policy_of_the_kill_call_wins_and_killing_needs_the_capability(cluster: ThreadedCluster,
                                                                           driver_factory: Any) -> None:
    sched = RecordingScheduler()
    driver = driver_factory(sched, {"user": "root", "name": "bare"})  # no TASK_KILLING_STATE
    framework_id = sched.wait_for(lambda k, p: k == "registered")[1]
    offer = sched.offers.get(timeout=10)
    # The task's own policy would wait an hour; the KILL's policy (no grace) is the one honoured.
    driver.launchTasks(offer["id"], [our_task(offer, "k1", TRAPS_TERM,
                                              kill_policy={"grace_period": {"nanoseconds": 3600 * 10**9}})])
    sandbox, executor, pid = started(cluster, sched, framework_id, "k1")
    driver._send({"type": "KILL", "framework_id": {"value": framework_id},
                  "kill": {"task_id": {"value": "k1"}, "kill_policy": {"grace_period": {"nanoseconds": 0}}}})
    killed = sched.status_of("k1", "TASK_KILLED", timeout=30)
    assert killed["message"] == "Command terminated with signal Killed"
    assert "TASK_KILLING" not in states_of(sched, "k1")  # the framework did not ask for it
    assert states_of(sched, "k1")[:2] == ["TASK_STARTING", "TASK_RUNNING"]
    assert not alive(pid)
    wait_for(lambda: not alive(executor), 60, "the executor exited once its update was acknowledged")


def test_shutdown_kills_the_task_reports_it_and_exits(cluster: ThreadedCluster, driver_factory: Any) -> None:
    sched = RecordingScheduler()
    driver = driver_factory(sched, {"user": "root", "name": "bare", "capabilities": [{"type": "TASK_KILLING_STATE"}]})
    framework_id = sched.wait_for(lambda k, p: k == "registered")[1]
    offer = sched.offers.get(timeout=10)
    driver.launchTasks(offer["id"], [our_task(offer, "s1", "echo $$ > pid; exec sleep 600")])
    sandbox, executor, pid = started(cluster, sched, framework_id, "s1")
    driver._send({"type": "SHUTDOWN", "framework_id": {"value": framework_id},
                  "shutdown": {"executor_id": {"value": "s1"}, "agent_id": offer["agent_id"]}})
    killed = sched.status_of("s1", "TASK_KILLED", timeout=30)
    assert killed["source"] == "SOURCE_EXECUTOR" and killed["message"] == "Command terminated with signal Terminated"
    assert states_of(sched, "s1")[-2:] == ["TASK_KILLING", "TASK_KILLED"]
    wait_for(lambda: not alive(executor) and not alive(pid), 60, "executor and task gone")
    assert "shutting down" in (sandbox / "executor.log").read_text()


def test_without_checkpointing_the_agent_going_away_ends_everything(cluster: ThreadedCluster,
                                                                    driver_factory: Any) -> None:
    sched = RecordingScheduler()
    driver = driver_factory(sched, {"user": "root", "name": "bare", "checkpoint": False})
    framework_id = sched.wait_for(lambda k, p: k == "registered")[1]
    offer = sched.offers.get(timeout=10)
    driver.launchTasks(offer["id"], [our_task(offer, "c1", "echo $$ > pid; sleep 600 & wait")])
    sandbox, executor, pid = started(cluster, sched, framework_id, "c1")
    agent = next(a for a in cluster.cluster.agents if a.id == offer["agent_id"]["value"])
    cluster.call(agent.stop())
    wait_for(lambda: not alive(executor) and not alive(pid), 60, "executor and task gone")
    assert not [s for s in process_tree.all_stats() if s.session == pid and s.state != "Z"]


def test_health_details_travel_in_the_status_data(cluster: ThreadedCluster, driver_factory: Any) -> None:
    """The executor's side of the health contract: what it writes in TaskStatus.data the scheduler's decoder
    reads (consecutive failures, last failure cause, first success), on Mesos' ``healthy`` updates."""
    sched = RecordingScheduler()
    driver = driver_factory(sched)
    sched.wait_for(lambda k, p: k == "registered")
    offer = sched.offers.get(timeout=10)
    check = {"type": "COMMAND", "command": {"value": "test ! -f broken"}, "delay_seconds": 0.0,
             "interval_seconds": 0.05, "timeout_seconds": 5.0, "consecutive_failures": 2, "grace_period_seconds": 0.0}
    driver.launchTasks(offer["id"], [our_task(offer, "h1", "echo $$ > pid; sleep 0.5; touch broken; exec sleep 600",
                                              health_check=check)])
    healthy = sched.wait_for(lambda k, p: k == "status" and p.get("healthy") is True, 30)[1]
    assert healthy["state"] == "TASK_RUNNING" and healthy["reason"] == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
    first = decode_health(base64.b64decode(healthy["data"]))
    assert first.healthy and first.consecutive_failures == 0 and first.first_success_at is not None
    unhealthy = sched.wait_for(lambda k, p: k == "status" and p.get("healthy") is False
                               and p["state"] == "TASK_RUNNING", 30)[1]
    detail = decode_health(base64.b64decode(unhealthy["data"]))
    assert (detail.healthy, detail.consecutive_failures) == (False, 1)
    assert detail.last_failure_cause == unhealthy["message"] == "Command exited with status 1"
    assert detail.first_success_at == first.first_success_at
    killed = sched.status_of("h1", "TASK_KILLED", timeout=30)  # killed by the executor for failing its check
    assert killed["healthy"] is False


def test_task_data_it_cannot_read_fails_the_task(cluster: ThreadedCluster, driver_factory: Any) -> None:
    sched = RecordingScheduler()
    driver = driver_factory(sched)
    sched.wait_for(lambda k, p: k == "registered")
    offer = sched.offers.get(timeout=10)
    task = our_task(offer, "bad", "true")
    task["data"] = base64.b64encode(b'{"mesospaas_executor": 99, "type": "task"}').decode()
    driver.launchTasks(offer["id"], [task])
    failed = sched.status_of("bad", "TASK_FAILED", timeout=30)
    assert failed["reason"] == "REASON_TASK_INVALID"
    assert "protocol version 99 is not supported" in failed["message"]


def test_flags_and_environment_are_documented() -> None:
    text = build_parser().format_help()
    for item in ("--log-file", "--default-kill-grace", "--recovery-timeout", "--ack-wait", "MESOSPAAS_EXECUTOR_",
                 "MESOS_CHECKPOINT", "MESOS_RECOVERY_TIMEOUT", "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"):
        assert item in text
    out = subprocess.run([sys.executable, "-m", "executor"], cwd=REPO, capture_output=True, timeout=60,
                         env={k: v for k, v in os.environ.items() if not k.startswith("MESOS_")})
    assert out.returncode == 2 and b"not started by a Mesos agent" in out.stderr
