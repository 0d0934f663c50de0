"""Supervised deployments survive the leader: ``mesospaas serve`` processes on a real ZooKeeper over a real
localmesos cluster, the leader killed (-9) in the middle of a canary pause, of a failing rolling upgrade and
of a crash loop. The new leader resumes each where it was (the pause stays a pause, the crash-loop count
goes on, the rollback is started or finished), and the healthy capacity, sampled from the Mesos master and
the tasks themselves, never breaks ``minimumHealthCapacity``'s promise. The canary's checks are the leader's
own (HTTP, run in ``serve``'s probe worker process); the others are Mesos' (MESOS_HTTP)."""

from __future__ import annotations

import json
import math
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.localmesos.conftest import ThreadedCluster
from tests.polling import wait_for

from .test_ha import Instance, call, leader_of, start, zk_url  # noqa: F401 (fixtures)

TASK = Path(__file__).with_name("versioned_task.py")


def web_app(app_id: str, instances: int, *, health: int = 200, version: str = "v1", mhc: float = 0.5,
            moc: float = 0.5, protocol: str = "MESOS_HTTP", **upgrade: Any) -> dict[str, Any]:
    return {
        "id": app_id, "cpus": 0.05, "mem": 32, "instances": instances,
        "cmd": f"{sys.executable} {TASK} --port $PORT0 --health {health} --version {version}",
        "portDefinitions": [{"port": 0, "name": "http"}],
        "healthChecks": [{"protocol": protocol, "path": "/health", "portIndex": 0, "gracePeriodSeconds": 60,
                          "intervalSeconds": 1, "timeoutSeconds": 1, "delaySeconds": 0,
                          "maxConsecutiveFailures": 1000}],
        "upgradeStrategy": {"minimumHealthCapacity": mhc, "maximumOverCapacity": moc, **upgrade},
        "backoffSeconds": 1, "backoffFactor": 1.0,
    }


def alive(url: str, app_id: str) -> list[dict[str, Any]]:
    status, body, _ = call("GET", f"{url}/v2/apps{app_id}/tasks")
    if status != 200:
        return []
    return [t for t in body["tasks"] if t["state"] == "TASK_RUNNING"
            and t.get("healthCheckResults") and all(r["alive"] for r in t["healthCheckResults"])]


def detail(url: str, deployment_id: str) -> dict[str, Any] | None:
    status, body, _ = call("GET", f"{url}/v2/deployments/{deployment_id}")
    return body if status == 200 else None


def in_state(url: str, deployment_id: str, *states: str) -> dict[str, Any] | None:
    found = detail(url, deployment_id)
    return found if found is not None and found["state"] in states else None


def no_deployments(url: str) -> bool:
    status, body, _ = call("GET", f"{url}/v2/deployments")
    return status == 200 and body == []


def answers(task: dict[str, Any]) -> str:
    with urllib.request.urlopen(f"http://{task['host']}:{task['ports'][0]}/", timeout=5) as resp:
        return resp.read().decode().strip()


class CapacitySampler(threading.Thread):
    """Counts, all the time, the app's tasks that the Mesos master says run and that answer /health 200."""

    def __init__(self, mesos: ThreadedCluster, app_id: str) -> None:
        super().__init__(daemon=True)
        self.mesos = mesos
        self.prefix = app_id.strip("/").replace("/", "_") + ".instance-"
        self.samples: list[int] = []
        self.stopping = threading.Event()

    def healthy_now(self) -> int:
        state = json.loads(urllib.request.urlopen(f"{self.mesos.url}/master/state", timeout=5).read())
        hosts = {s["id"]: s["hostname"] for s in state["slaves"]}
        count = 0
        for framework in state["frameworks"]:
            for task in framework["tasks"]:
                if task["state"] != "TASK_RUNNING" or not task["id"].startswith(self.prefix):
                    continue
                port = int(task["resources"]["ports"].strip("[]").split("-")[0])
                try:
                    with urllib.request.urlopen(f"http://{hosts[task['slave_id']]}:{port}/health", timeout=5) as r:
                        count += r.status == 200
                except (urllib.error.URLError, OSError):
                    pass
        return count

    def run(self) -> None:
        while not self.stopping.wait(0.05):
            self.samples.append(self.healthy_now())

    def __enter__(self) -> CapacitySampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.join(30)

    @property
    def lowest(self) -> int:
        assert self.samples, "no capacity sample was taken"
        return min(self.samples)


@pytest.fixture
def pair(zk_url: str, start: Callable[[str, int], list[Instance]]) -> Iterator[list[Instance]]:  # noqa: F811
    yield start(zk_url, 2)


def kill_leader(instances: list[Instance]) -> Instance:
    """kill -9 of the current leader; returns the new leader (the other instance)."""
    leader = wait_for(lambda: leader_of(instances), what="a leader")
    leader.proc.kill()
    leader.proc.wait()
    survivors = [i for i in instances if i is not leader]
    return wait_for(lambda: leader_of(survivors), timeout=30, what="a new leader")


def test_a_canary_paused_across_a_leader_crash_stays_paused_and_continues(
        mesos: ThreadedCluster, pair: list[Instance]) -> None:
    url = pair[0].url  # a standby proxies to whoever leads
    extensions = {"canary": {"instances": 1, "healthySeconds": 1, "promote": "MANUAL"}, "autoRollback": True}
    # HTTP: checked by the leader itself (in its probe worker process), so the new leader must re-learn health.
    v1 = web_app("/canary", 3, mhc=1.0, moc=0.34, protocol="HTTP", **extensions)
    assert call("POST", f"{url}/v2/apps", v1)[0] == 201
    wait_for(lambda: len(alive(url, "/canary")) == 3 and no_deployments(url), timeout=60, what="v1 healthy")
    status, body, _ = call("PUT", f"{url}/v2/apps/canary", {**v1, "cmd": v1["cmd"].replace("v1", "v2")})
    assert status == 200, body
    deployment_id = body["deploymentId"]
    wait_for(lambda: in_state(url, deployment_id, "paused"), timeout=60, what="the canary paused")
    before = {t["id"] for t in alive(url, "/canary")}
    assert len(before) == 4

    new_leader = kill_leader(pair)
    paused = wait_for(lambda: in_state(new_leader.url, deployment_id, "paused"), timeout=30, what="still paused")
    assert paused["canaries"][0]["promoted"] is False
    wait_for(lambda: len(alive(new_leader.url, "/canary")) == 4, timeout=30, what="health known again")
    assert {t["id"] for t in alive(new_leader.url, "/canary")} == before  # nothing restarted, nothing promoted

    status, moved, _ = call("POST", f"{new_leader.url}/v2/deployments/{deployment_id}/continue")
    assert status == 200 and moved["state"] == "running", moved
    wait_for(lambda: no_deployments(new_leader.url), timeout=90, what="the rollout done")
    tasks = alive(new_leader.url, "/canary")
    assert len(tasks) == 3 and {answers(t) for t in tasks} == {"v2"}
    assert in_state(new_leader.url, deployment_id, "succeeded")


def test_a_failing_upgrade_fails_and_rolls_back_under_a_new_leader_keeping_capacity(
        mesos: ThreadedCluster, pair: list[Instance]) -> None:
    url = pair[0].url
    v1 = web_app("/web", 4, mhc=0.5, moc=0.5, progressDeadlineSeconds=8, autoRollback=True)
    assert call("POST", f"{url}/v2/apps", v1)[0] == 201
    wait_for(lambda: len(alive(url, "/web")) == 4 and no_deployments(url), timeout=60, what="v1 healthy")
    with CapacitySampler(mesos, "/web") as sampler:
        status, body, _ = call("PUT", f"{url}/v2/apps/web", {**v1, "cmd": v1["cmd"].replace(
            "--health 200 --version v1", "--health 500 --version v2")})
        assert status == 200, body
        failed_id = body["deploymentId"]
        wait_for(lambda: len(call("GET", f"{url}/v2/apps/web/tasks")[1]["tasks"]) > 4, timeout=60,
                 what="new tasks launched")
        new_leader = kill_leader(pair)  # mid-rollout: the deadline has not passed yet
        failed = wait_for(lambda: in_state(new_leader.url, failed_id, "failed"), timeout=90, what="it failed")
        assert "no progress" in failed["reason"] and failed["rollbackId"]
        wait_for(lambda: in_state(new_leader.url, failed["rollbackId"], "succeeded"), timeout=90,
                 what="the rollback done")
        wait_for(lambda: len(alive(new_leader.url, "/web")) == 4, timeout=60, what="v1 healthy again")
    assert sampler.lowest >= math.ceil(4 * 0.5), sampler.samples
    assert {answers(t) for t in alive(new_leader.url, "/web")} == {"v1"}


def test_a_crash_loop_counted_across_a_leader_crash_fails_and_rolls_back(
        mesos: ThreadedCluster, pair: list[Instance]) -> None:
    url = pair[0].url
    v1 = web_app("/loop", 2, mhc=0.5, moc=0.0, autoRollback=True)
    assert call("POST", f"{url}/v2/apps", v1)[0] == 201
    wait_for(lambda: len(alive(url, "/loop")) == 2 and no_deployments(url), timeout=60, what="v1 healthy")
    status, body, _ = call("PUT", f"{url}/v2/apps/loop", {**v1, "cmd": "sleep 1; exit 3",
                                                         "backoffSeconds": 3})
    assert status == 200, body
    failed_id = body["deploymentId"]
    wait_for(lambda: (d := detail(url, failed_id)) is not None and d.get("failedTasks", 0) >= 1, timeout=60,
             what="a first failure counted")
    new_leader = kill_leader(pair)
    failed = wait_for(lambda: in_state(new_leader.url, failed_id, "failed"), timeout=90, what="it failed")
    assert "crash loop" in failed["reason"]
    wait_for(lambda: in_state(new_leader.url, failed["rollbackId"], "succeeded"), timeout=90, what="rolled back")
    wait_for(lambda: len(alive(new_leader.url, "/loop")) == 2, timeout=60, what="v1 healthy again")
    status, app, _ = call("GET", f"{new_leader.url}/v2/apps/loop")
    assert app["app"]["cmd"] == v1["cmd"]
