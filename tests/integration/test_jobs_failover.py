"""Leader failover in the middle of a job run, with real ZooKeeper and ``mesospaas serve`` processes: the
leader is killed (-9) while a run's task is running; the new leader neither loses the run nor starts a
second task for it (counted in the tasks the Mesos master saw, completed ones included)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable

from tests.integration.test_ha import Instance, call, leader_of, start, zk_url  # noqa: F401
from tests.localmesos.conftest import ThreadedCluster
from tests.polling import wait_for


def mesos_tasks_of(mesos: ThreadedCluster, prefix: str) -> list[str]:
    state = json.loads(urllib.request.urlopen(f"{mesos.url}/master/state", timeout=5).read())
    return [t["id"] for f in state["frameworks"] + state["completed_frameworks"]
            for key in ("tasks", "unreachable_tasks", "completed_tasks") for t in f.get(key, [])
            if t["id"].startswith(prefix)]


def test_kill_9_of_the_leader_mid_run_loses_nothing_and_duplicates_nothing(
        mesos: ThreadedCluster, zk_url: str, start: Callable[[str, int], list[Instance]]) -> None:  # noqa: F811
    instances = start(zk_url, 2)
    leader = wait_for(lambda: leader_of(instances), what="a leader")
    standby = next(i for i in instances if i is not leader)
    body = {"id": "nightly.etl", "run": {"cmd": "sleep 4", "cpus": 0.05, "mem": 32, "disk": 0},
            "schedules": [{"id": "off", "cron": "* * * * *", "enabled": False}]}
    assert call("POST", f"{standby.url}/v1/jobs", body)[0] == 201
    status, run, _ = call("POST", f"{standby.url}/v1/jobs/nightly.etl/runs")
    assert status == 201, run
    wait_for(lambda: call("GET", f"{standby.url}/v1/jobs/nightly.etl/runs/{run['id']}")[1]["status"] == "ACTIVE",
             what="the run active")
    leader.proc.kill()  # kill -9 while the run's task runs
    leader.proc.wait()
    new_leader = wait_for(lambda: leader_of([standby]), timeout=30, what="a new leader")

    def succeeded() -> dict | None:  # type: ignore[type-arg]
        status, job, _ = call("GET", f"{new_leader.url}/v1/jobs/nightly.etl?embed=history&embed=activeRuns")
        return job if status == 200 and job["history"]["successCount"] == 1 else None
    job = wait_for(succeeded, timeout=60, what="the run to succeed under the new leader")
    assert job["activeRuns"] == [] and job["history"]["failureCount"] == 0
    finished_run = job["history"]["successfulFinishedRuns"][0]
    assert finished_run["id"] == run["id"] and len(finished_run["tasks"]) == 1
    assert mesos_tasks_of(mesos, f"nightly.etl_{run['id']}") == finished_run["tasks"]  # one task, ever
    assert job["schedules"][0]["enabled"] is False  # a disabled schedule stays disabled
