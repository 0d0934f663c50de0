"""Runs a schedule starts are held to their tenant's quota, as ``POST /v1/jobs/{id}/runs`` is: a due trigger
whose run would cross the quota is recorded as a FAILED run naming the quota (history and a
``job_run_failed`` event), no task reaches Mesos, and the next due time tries again (and runs once there is
room). Real scheduler runtime on a real localmesos cluster, the API with authentication on; the cron clock is
a ``ManualClock`` the test moves, so nothing waits for a minute to pass. The quota comes from the principals
file the way ``serve`` wires it (``runtime.jobs.quotas = security.current_quotas``, set before the runtime
starts)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from api.app import ApiConfig, build_api_app
from api.auth import AuthConfig
from scheduler.cli import main
from scheduler.runtime import RuntimeSettings, SchedulerRuntime
from scheduler.store import LocalDirectoryStore
from tests.integration.test_jobs_on_localmesos import ManualClock, _master_state
from tests.localmesos.conftest import ThreadedCluster
from tests.polling import eventually
from tests.security.conftest import bearer

START = datetime(2027, 1, 15, 7, 59, 30, tzinfo=timezone.utc).timestamp()
QUOTA_MESSAGE = "quota of /team-a exceeded: instances would be 2, the quota is 1"


async def test_a_scheduled_run_over_the_quota_is_not_started_and_the_next_trigger_tries_again(
        mesos: ThreadedCluster, principals: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    auth_file, tokens = principals
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["auth", "quota", "--file", str(auth_file), "--prefix", "/team-a", "--instances", "1"]) == 0
    clock = ManualClock(START)
    store = LocalDirectoryStore(tmp_path / "state")
    runtime = SchedulerRuntime(store, RuntimeSettings(master=mesos.address, tick_interval=0.1, seed=5,
                                                      decline_refuse_seconds=1.0), clock=clock)
    security = AuthConfig(auth_file=auth_file)
    runtime.jobs.quotas = security.current_quotas  # as scheduler/serve.py wires it
    failed = runtime.events.subscribe(["job_run_failed"])
    server: TestServer | None = None
    try:
        await runtime.start()
        await asyncio.wait_for(runtime.subscribed.wait(), 20)
        server = TestServer(build_api_app(runtime, runtime.events, ApiConfig(master=mesos.address),
                                          security=security), host="127.0.0.1")
        await server.start_server()
        async with aiohttp.ClientSession(headers=bearer(tokens["deployer-a"])) as http:
            async def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
                assert server is not None
                async with http.request(method, str(server.make_url(path)),
                                        data=json.dumps(body) if body is not None else None,
                                        headers={"Content-Type": "application/json"}) as response:
                    text = await response.text()
                    return response.status, json.loads(text) if text else None

            async def history() -> dict[str, Any]:
                status, body = await call("GET", "/v1/jobs/team-a.nightly?embed=history,activeRuns")
                assert status == 200, body
                return dict(body)

            status, body = await call("POST", "/v2/apps", {"id": "/team-a/web", "cmd": "sleep 600", "cpus": 0.05,
                                                           "mem": 16, "instances": 1})
            assert status == 201, body  # the tenant's one instance
            job = {"id": "team-a.nightly", "run": {"cmd": "true", "cpus": 0.05, "mem": 32, "disk": 0},
                   "schedules": [{"id": "minutely", "cron": "* * * * *"}]}
            status, body = await call("POST", "/v1/jobs", job)
            assert status == 201, body
            await eventually(lambda: runtime.jobs.jobs["team-a.nightly"].cursor is not None,
                             what="the schedule's cursor started")

            clock.now = START + 31  # 08:00:01: the 08:00 trigger is due, and there is no room for its run
            event = await eventually(lambda: None if failed.queue.empty() else failed.queue.get_nowait(),
                                     what="a job_run_failed event")
            assert event["jobId"] == "team-a.nightly" and event["trigger"] == "schedule"
            assert event["previousStatus"] is None and event["taskId"] is None
            assert event["reason"] == f"not started: {QUOTA_MESSAGE}"
            body = await history()
            assert body["activeRuns"] == [] and body["history"]["successCount"] == 0
            refused = body["history"]["failedFinishedRuns"]
            assert [r["id"] for r in refused] == [event["runId"]] and QUOTA_MESSAGE in refused[0]["reason"]
            assert not [t for t in mesos_tasks(mesos) if t["id"].startswith("team-a.nightly_")]

            status, body = await call("PUT", "/v2/apps/team-a/web?force=true", {"instances": 0})
            assert status == 200, body  # room for one run again
            clock.now = START + 91  # 08:01:01: the next trigger

            async def succeeded() -> dict[str, Any] | None:
                body = await history()
                return body if body["history"]["successCount"] == 1 else None
            body = await eventually(succeeded, timeout=60, what="the 08:01 run succeeded")
            assert body["history"]["failureCount"] == 1  # the 08:00 trigger was not tried again
            ran = [t for t in mesos_tasks(mesos) if t["id"].startswith("team-a.nightly_")]
            assert [t["state"] for t in ran] == ["TASK_FINISHED"]
    finally:
        runtime.events.unsubscribe(failed)
        if server is not None:
            await server.close()
        await runtime.stop()
        store.close()


def mesos_tasks(mesos: ThreadedCluster) -> list[dict[str, Any]]:
    """Every task the master knows of (running and completed), from its ``/master/state``."""
    state = mesos.run(lambda: _master_state(mesos))
    return [t for f in state.get("frameworks", []) + state.get("completed_frameworks", [])
            for t in f.get("tasks", []) + f.get("completed_tasks", [])]
