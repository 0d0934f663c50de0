"""Jobs end to end: the Metronome API on a real localmesos cluster (process mode: real task processes).

Each test drives the API over real HTTP (aiohttp TestServer on 127.0.0.1) and checks what Mesos saw in the
master's ``/master/state`` (``tasks`` and ``completed_tasks`` of our framework). Cron tests run the runtime
on a clock the test moves (``ManualClock``): no minutes of waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from api.app import ApiConfig, build_api_app
from scheduler.events import EventBus
from scheduler.runtime import RuntimeSettings, SchedulerRuntime
from scheduler.store import LocalDirectoryStore
from tests.integration.conftest import eventually
from tests.localmesos.conftest import ThreadedCluster


class ManualClock:
    """A wall clock the test sets; the runtime reads it on every tick."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class JobsCluster:
    """The scheduler runtime and its API on one store directory; restartable (same store, new runtime)."""

    def __init__(self, mesos: ThreadedCluster, state_dir: Path, clock: Any = None, **settings: Any) -> None:
        self.mesos, self.state_dir, self.clock, self.settings = mesos, state_dir, clock, settings
        self.runtime: SchedulerRuntime | None = None
        self.store: LocalDirectoryStore | None = None
        self.server: TestServer | None = None
        self.http: aiohttp.ClientSession | None = None
        self.events = EventBus()
        """Kept across restarts, so a test can subscribe before a new runtime's first tick."""

    async def start(self) -> None:
        self.store = LocalDirectoryStore(self.state_dir)
        settings: dict[str, Any] = {"master": self.mesos.address, "tick_interval": 0.1, "seed": 11,
                                    "decline_refuse_seconds": 1.0, **self.settings}
        kwargs: dict[str, Any] = {"events": self.events}
        if self.clock is not None:
            kwargs["clock"] = self.clock
        self.runtime = SchedulerRuntime(self.store, RuntimeSettings(**settings), **kwargs)
        await self.runtime.start()
        await asyncio.wait_for(self.runtime.subscribed.wait(), 20)
        self.server = TestServer(build_api_app(self.runtime, self.runtime.events,
                                               ApiConfig(master=self.mesos.address)), host="127.0.0.1")
        await self.server.start_server()
        self.http = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None
        if self.server is not None:
            await self.server.close()
            self.server = None
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = None
        if self.store is not None:
            self.store.close()
            self.store = None

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        assert self.http is not None and self.server is not None
        async with self.http.request(method, str(self.server.make_url(path)), json=body) as response:
            text = await response.text()
            try:
                import json
                return response.status, json.loads(text) if text else None
            except ValueError:
                return response.status, text

    async def job(self, job_id: str, embed: str = "activeRuns,history") -> dict[str, Any]:
        status, body = await self.call("GET", f"/v1/jobs/{job_id}?embed={embed}")
        assert status == 200, body
        return dict(body)

    def mesos_tasks(self, prefix: str) -> list[dict[str, Any]]:
        """Every task Mesos saw whose id starts with ``prefix`` (running and completed)."""
        state = self.mesos.run(lambda: _master_state(self.mesos))
        out = []
        for framework in state.get("frameworks", []) + state.get("completed_frameworks", []):
            for task in framework.get("tasks", []) + framework.get("completed_tasks", []):
                if task["id"].startswith(prefix):
                    out.append(task)
        return out


def _master_state(mesos: ThreadedCluster) -> dict[str, Any]:
    from localmesos.master_http import state_json
    return state_json(mesos.cluster.master)  # type: ignore[no-any-return]


def job(job_id: str, cmd: str, **run: Any) -> dict[str, Any]:
    return {"id": job_id, "run": {"cmd": cmd, "cpus": 0.1, "mem": 32, "disk": 0, **run}}


@pytest.fixture
async def jobs(mesos: ThreadedCluster, tmp_path: Path) -> AsyncIterator[JobsCluster]:
    cluster = JobsCluster(mesos, tmp_path / "state")
    await cluster.start()
    yield cluster
    await cluster.stop()


async def finished(jobs: JobsCluster, job_id: str, successes: int = 0, failures: int = 0) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        body = await jobs.job(job_id)
        h = body["history"]
        return body if h["successCount"] >= successes and h["failureCount"] >= failures and \
            (h["successCount"], h["failureCount"]) != (0, 0) else None
    return await poll(check)


async def poll(check: Any, timeout: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    last = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"not reached within {timeout}s: {last!r}")


async def test_a_run_succeeds_once_with_its_output_readable(jobs: JobsCluster) -> None:
    status, body = await jobs.call("POST", "/v1/jobs", job("hello", "echo hello-from-job; echo oops >&2"))
    assert status == 201, body
    status, run = await jobs.call("POST", "/v1/jobs/hello/runs")
    assert status == 201 and run["status"] == "INITIAL" and run["jobId"] == "hello"
    body = await finished(jobs, "hello", successes=1)
    entry = body["history"]["successfulFinishedRuns"][0]
    assert entry["id"] == run["id"] and entry["taskDetails"][0]["exitCode"] == 0
    assert body["activeRuns"] == []
    status, out = await jobs.call("GET", f"/v1/jobs/hello/runs/{run['id']}/files/stdout")
    assert status == 200 and "hello-from-job" in out["data"], out
    status, err = await jobs.call("GET", f"/v1/jobs/hello/runs/{run['id']}/files/stderr?tail=5")
    assert status == 200 and err["data"] == "oops\n", err
    status, part = await jobs.call("GET", f"/v1/jobs/hello/runs/{run['id']}/files/stdout?offset=6&length=4")
    assert status == 200 and part == {"taskId": entry["tasks"][0], "data": "from", "offset": 6}
    # A finished run is never launched again: after a later run has come and gone, Mesos saw one task for it.
    status, second = await jobs.call("POST", "/v1/jobs/hello/runs")
    await finished(jobs, "hello", successes=2)
    assert len(jobs.mesos_tasks(f"hello_{run['id']}")) == 1
    assert len(jobs.mesos_tasks(f"hello_{second['id']}")) == 1


async def test_on_failure_retries_with_backoff_until_the_active_deadline(jobs: JobsCluster) -> None:
    spec = job("flaky", "exit 3", restart={"policy": "ON_FAILURE", "activeDeadlineSeconds": 3})
    assert (await jobs.call("POST", "/v1/jobs", spec))[0] == 201
    status, run = await jobs.call("POST", "/v1/jobs/flaky/runs")
    body = await finished(jobs, "flaky", failures=1)
    entry = body["history"]["failedFinishedRuns"][0]
    assert entry["id"] == run["id"] and entry["reason"] == "active deadline exceeded"
    assert len(entry["tasks"]) >= 2  # retried, 1 s then 2 s apart
    assert {t["exitCode"] for t in entry["taskDetails"]} == {3}
    seen = jobs.mesos_tasks(f"flaky_{run['id']}")
    assert sorted(t["id"] for t in seen) == sorted(entry["tasks"])  # one Mesos task per attempt, no more


async def test_never_policy_fails_at_the_first_failure(jobs: JobsCluster) -> None:
    assert (await jobs.call("POST", "/v1/jobs", job("once", "exit 7")))[0] == 201
    status, run = await jobs.call("POST", "/v1/jobs/once/runs")
    body = await finished(jobs, "once", failures=1)
    entry = body["history"]["failedFinishedRuns"][0]
    assert len(entry["tasks"]) == 1 and entry["taskDetails"][0]["exitCode"] == 7


async def test_stop_kills_the_task_and_fails_the_run(jobs: JobsCluster) -> None:
    assert (await jobs.call("POST", "/v1/jobs", job("long", "sleep 600", taskKillGracePeriodSeconds=1)))[0] == 201
    status, run = await jobs.call("POST", "/v1/jobs/long/runs")

    async def active() -> bool:
        status, body = await jobs.call("GET", f"/v1/jobs/long/runs/{run['id']}")
        return status == 200 and body["status"] == "ACTIVE"
    await poll(active)
    status, stopped = await jobs.call("POST", f"/v1/jobs/long/runs/{run['id']}/actions/stop")
    assert status == 200 and stopped["status"] == "FAILED"
    assert (await jobs.call("GET", f"/v1/jobs/long/runs/{run['id']}"))[0] == 404  # only active runs there

    async def killed() -> bool:
        return [t["state"] for t in jobs.mesos_tasks(f"long_{run['id']}")] == ["TASK_KILLED"]
    await poll(killed)
    body = await jobs.job("long")
    assert body["history"]["failureCount"] == 1 and body["history"]["failedFinishedRuns"][0]["reason"] == "stopped"


async def test_dependencies_run_the_child_after_its_parent_succeeded(jobs: JobsCluster) -> None:
    assert (await jobs.call("POST", "/v1/jobs", job("etl.extract", "true")))[0] == 201
    child = {**job("etl.load", "true"), "dependencies": [{"id": "etl.extract"}]}
    assert (await jobs.call("POST", "/v1/jobs", child))[0] == 201
    status, body = await jobs.call("POST", "/v1/jobs", {**job("orphan", "true"), "dependencies": [{"id": "nope"}]})
    assert status == 422 and body["message"] == "Object is not valid"
    cyclic = {**job("etl.extract", "true"), "dependencies": [{"id": "etl.load"}]}
    status, body = await jobs.call("PUT", "/v1/jobs/etl.extract", cyclic)
    assert status == 422 and "cycle" in str(body["details"]), body
    scheduled = {**child, "id": "etl.both", "schedules": [{"id": "daily", "cron": "0 0 * * *"}]}
    assert (await jobs.call("POST", "/v1/jobs", scheduled))[0] == 422
    status, body = await jobs.call("DELETE", "/v1/jobs/etl.extract")
    assert status == 409 and "etl.load" in body["message"]
    assert (await jobs.job("etl.load"))["history"]["successCount"] == 0  # nothing ran yet
    await jobs.call("POST", "/v1/jobs/etl.extract/runs")
    body = await finished(jobs, "etl.load", successes=1)
    parent = (await jobs.job("etl.extract"))["history"]
    assert parent["successCount"] == 1
    assert body["history"]["successfulFinishedRuns"][0]["createdAt"] >= parent["lastSuccessAt"]


async def test_history_is_bounded_by_the_flag(mesos: ThreadedCluster, tmp_path: Path) -> None:
    cluster = JobsCluster(mesos, tmp_path / "state", job_history_limit=3)
    await cluster.start()
    try:
        assert (await cluster.call("POST", "/v1/jobs", job("tick", "true")))[0] == 201
        ids = []
        for n in range(5):
            ids.append((await cluster.call("POST", "/v1/jobs/tick/runs"))[1]["id"])
            await finished(cluster, "tick", successes=n + 1)
        history = (await cluster.job("tick"))["history"]
        assert history["successCount"] == 5
        assert [r["id"] for r in history["successfulFinishedRuns"]] == ids[::-1][:3]
    finally:
        await cluster.stop()


async def test_stop_honours_the_kill_grace_period(jobs: JobsCluster) -> None:
    # The TERM handler needs 4 s; the agent's default grace is 3 s, the job's 30 s: "cleaned" is only written
    # if the job's grace period is the one applied.
    cmd = "trap 'sleep 4; echo cleaned; exit 0' TERM; echo started; sleep 600 & wait"
    assert (await jobs.call("POST", "/v1/jobs", job("graceful", cmd, taskKillGracePeriodSeconds=30)))[0] == 201
    status, run = await jobs.call("POST", "/v1/jobs/graceful/runs")

    async def started() -> bool:
        status, out = await jobs.call("GET", f"/v1/jobs/graceful/runs/{run['id']}/files/stdout")
        return status == 200 and "started" in out["data"]
    await poll(started)
    assert (await jobs.call("POST", f"/v1/jobs/graceful/runs/{run['id']}/actions/stop"))[0] == 200

    async def ended() -> bool:
        return bool(jobs.mesos_tasks(f"graceful_{run['id']}")[0]["state"] in ("TASK_KILLED", "TASK_FINISHED"))
    await poll(ended)
    status, out = await jobs.call("GET", f"/v1/jobs/graceful/runs/{run['id']}/files/stdout")
    assert status == 200 and "cleaned" in out["data"], out
