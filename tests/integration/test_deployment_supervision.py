"""Deployments that fail, roll back, pause and continue, end to end: the HTTP API over the scheduler on a real
localmesos cluster with real task processes (``versioned_task.py``), health checked by Mesos' own checks.

Healthy capacity is sampled independently of the scheduler's view the whole time: a sampler reads the Mesos
master's ``/master/state`` for the app's running tasks and asks each of them for ``/health`` itself; the
tests assert the lowest count it saw never broke ``minimumHealthCapacity``'s promise.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.localmesos.conftest import ThreadedCluster

from .conftest import RuntimeHandle
from .marathon_compat import MarathonClient

TASK = Path(__file__).with_name("versioned_task.py")


def web_app(app_id: str, instances: int, *, health: int = 200, version: str = "v1", mhc: float = 0.5,
            moc: float = 0.5, ready_file: Path | None = None, protocol: str = "MESOS_HTTP",
            **upgrade: Any) -> dict[str, Any]:
    cmd = f"{sys.executable} {TASK} --port $PORT0 --health {health} --version {version}"
    if ready_file is not None:
        cmd += f" --ready-file {ready_file}"
    app: dict[str, Any] = {
        "id": app_id, "cmd": cmd, "cpus": 0.05, "mem": 32, "instances": instances,
        "portDefinitions": [{"port": 0, "name": "http"}],
        "healthChecks": [{"protocol": protocol, "path": "/health", "portIndex": 0, "gracePeriodSeconds": 30,
                          "intervalSeconds": 1, "timeoutSeconds": 1, "delaySeconds": 0,
                          "maxConsecutiveFailures": 1000}],
        "upgradeStrategy": {"minimumHealthCapacity": mhc, "maximumOverCapacity": moc, **upgrade},
        "backoffSeconds": 1, "backoffFactor": 1.0,
    }
    return app


class Api:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.url + path, json=body) as resp:
            text = await resp.text()
            return resp.status, json.loads(text) if text else None

    async def deployments(self) -> list[dict[str, Any]]:
        status, body = await self.call("GET", "/v2/deployments")
        assert status == 200, body
        return body

    async def detail(self, deployment_id: str) -> dict[str, Any]:
        status, body = await self.call("GET", f"/v2/deployments/{deployment_id}")
        assert status == 200, body
        return body

    async def tasks(self, app_id: str) -> list[dict[str, Any]]:
        status, body = await self.call("GET", f"/v2/apps{app_id}/tasks")
        assert status == 200, body
        return body["tasks"]


class CapacitySampler:
    """Counts, every few tens of milliseconds, the app's tasks that Mesos says run and that answer /health 200."""

    def __init__(self, session: aiohttp.ClientSession, mesos: ThreadedCluster, app_id: str) -> None:
        self.session = session
        self.mesos = mesos
        self.prefix = app_id.strip("/").replace("/", "_") + ".instance-"
        self.samples: list[int] = []
        self._task: asyncio.Task[None] | None = None

    async def healthy_now(self) -> int:
        async with self.session.get(f"{self.mesos.url}/master/state") as resp:
            state = await resp.json()
        hosts = {s["id"]: s["hostname"] for s in state["slaves"]}
        urls = []
        for framework in state["frameworks"]:
            for task in framework["tasks"]:
                if task["state"] == "TASK_RUNNING" and task["id"].startswith(self.prefix):
                    port = int(task["resources"]["ports"].strip("[]").split("-")[0])
                    urls.append(f"http://{hosts[task['slave_id']]}:{port}/health")

        async def healthy(url: str) -> bool:
            try:
                async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as resp:
                    return resp.status == 200
            except (aiohttp.ClientError, asyncio.TimeoutError):
                return False
        return sum(await asyncio.gather(*(healthy(u) for u in urls)))

    async def _run(self) -> None:
        while True:
            self.samples.append(await self.healthy_now())
            await asyncio.sleep(0.05)

    def __enter__(self) -> CapacitySampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    @property
    def lowest(self) -> int:
        assert self.samples, "no capacity sample was taken"
        return min(self.samples)


@pytest.fixture
async def api(served: TestServer) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, str(served.make_url("")).rstrip("/"))


async def deploy_and_settle(api: Api, app: dict[str, Any]) -> None:
    status, body = await api.call("POST", "/v2/apps", app)
    assert status == 201, body

    async def settled() -> bool:
        tasks = await api.tasks(app["id"])
        healthy = [t for t in tasks if all(r["alive"] for r in t.get("healthCheckResults", [{"alive": False}]))]
        return len(healthy) == app["instances"] and not await api.deployments()
    await until(settled, 60)


async def until(check: Any, timeout: float = 60) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout} s; last: {last!r}")


@pytest.mark.parametrize("protocol", ["MESOS_HTTP", "HTTP"])  # checked by Mesos, or by the leader itself
async def test_a_version_that_never_becomes_healthy_fails_and_rolls_back_keeping_capacity(
        api: Api, mesos: ThreadedCluster, scheduler: RuntimeHandle, protocol: str) -> None:
    v1 = web_app("/shop/web", 4, progressDeadlineSeconds=6, autoRollback=True, protocol=protocol)
    await deploy_and_settle(api, v1)
    runtime = scheduler.runtime
    assert runtime is not None
    events = runtime.events.subscribe(["deployment_failed", "deployment_success", "deployment_info"])
    with CapacitySampler(api.session, mesos, "/shop/web") as sampler:
        status, body = await api.call("PUT", "/v2/apps/shop/web", {**v1, "cmd": v1["cmd"].replace(
            "--health 200 --version v1", "--health 500 --version v2")})
        assert status == 200, body
        failed_id = body["deploymentId"]

        async def rolled_back() -> dict[str, Any] | None:
            detail = await api.detail(failed_id)
            return detail if detail["state"] == "failed" and detail.get("rollbackId") else None
        failed = await until(rolled_back, 90)
        assert "no progress" in failed["reason"]
        rollback = await api.detail(failed["rollbackId"])
        assert rollback["rollbackOf"] == failed_id

        async def back_on_v1() -> bool:
            tasks = await api.tasks("/shop/web")
            alive = [t for t in tasks if t["state"] == "TASK_RUNNING"
                     and all(r["alive"] for r in t.get("healthCheckResults", [{"alive": False}]))]
            return len(alive) == 4 and len(tasks) == 4 and not await api.deployments()
        await until(back_on_v1, 90)
    assert (await api.detail(failed["rollbackId"]))["state"] == "succeeded"
    # Every task answers as v1 again, and the promise of minimumHealthCapacity 0.5 held throughout.
    for task in await api.tasks("/shop/web"):
        async with api.session.get(f"http://{task['host']}:{task['ports'][0]}/") as resp:
            assert (await resp.text()).strip() == "v1"
    assert sampler.lowest >= math.ceil(4 * 0.5), sampler.samples
    seen = []
    while not events.queue.empty():
        event = events.queue.get_nowait()
        assert event is not None
        seen.append((event["eventType"], event.get("id") or event["plan"]["id"]))
    events.close()
    assert ("deployment_failed", failed_id) in seen
    assert seen.index(("deployment_failed", failed_id)) < seen.index(("deployment_info", failed["rollbackId"]))
    assert ("deployment_success", failed["rollbackId"]) in seen
    _, app_json = await api.call("GET", "/v2/apps/shop/web")
    assert "--version v1" in app_json["app"]["cmd"]


async def test_a_crash_looping_version_fails_the_deployment(api: Api, scheduler: RuntimeHandle) -> None:
    v1 = web_app("/loop", 2, autoRollback=True)
    await deploy_and_settle(api, v1)
    status, body = await api.call("PUT", "/v2/apps/loop", {**v1, "cmd": "exit 3"})
    assert status == 200, body
    failed_id = body["deploymentId"]

    async def failed() -> dict[str, Any] | None:
        detail = await api.detail(failed_id)
        return detail if detail["state"] == "failed" else None
    detail = await until(failed, 90)
    assert "crash loop" in detail["reason"] and detail["rollbackId"]

    async def healed() -> bool:
        tasks = await api.tasks("/loop")
        return len([t for t in tasks if t["state"] == "TASK_RUNNING"]) == 2 and not await api.deployments()
    await until(healed, 90)
    _, app_json = await api.call("GET", "/v2/apps/loop")
    assert app_json["app"]["cmd"] == v1["cmd"]
    assert app_json["app"]["lastTaskFailure"]["state"] == "TASK_FAILED"


async def test_a_failing_deployment_without_rollback_stops_where_it_is(api: Api) -> None:
    v1 = web_app("/stay", 2, mhc=1.0, moc=0.5, progressDeadlineSeconds=4)
    await deploy_and_settle(api, v1)
    status, body = await api.call("PUT", "/v2/apps/stay", {**v1, "cmd": v1["cmd"].replace("--health 200",
                                                                                           "--health 500")})
    assert status == 200, body

    async def failed() -> dict[str, Any] | None:
        detail = await api.detail(body["deploymentId"])
        return detail if detail["state"] == "failed" else None
    detail = await until(failed, 90)
    assert detail["rollbackId"] is None
    assert await api.deployments() == []  # the app is not locked any more
    _, app_json = await api.call("GET", "/v2/apps/stay")
    assert "--health 500" in app_json["app"]["cmd"]  # the target stays the app's definition
    tasks = await api.tasks("/stay")
    alive = [t for t in tasks if all(r["alive"] for r in t.get("healthCheckResults", [{"alive": False}]))]
    assert len(alive) >= 2  # minimumHealthCapacity 1.0: both old tasks still serve


async def test_a_manual_canary_pauses_while_marathon_clients_keep_working_then_continues(
        api: Api, served: TestServer) -> None:
    extensions = {"progressDeadlineSeconds": 300, "autoRollback": True,
                  "canary": {"instances": 1, "healthySeconds": 1, "promote": "MANUAL"}}
    v1 = {**web_app("/canary", 3, mhc=1.0, moc=0.34, **extensions),
          "placementStrategy": "BINPACK",
          "affinity": {"apps": [{"app": "/other", "type": "ANTI_AFFINITY", "mode": "PREFERRED"}]}}
    await deploy_and_settle(api, v1)
    status, body = await api.call("PUT", "/v2/apps/canary", {**v1, "cmd": v1["cmd"].replace("v1", "v2")})
    assert status == 200, body
    deployment_id = body["deploymentId"]

    async def paused() -> dict[str, Any] | None:
        detail = await api.detail(deployment_id)
        return detail if detail["state"] == "paused" else None
    detail = await until(paused, 60)
    (canary,) = detail["canaries"]
    assert (canary["app"], canary["instances"], canary["healthy"], canary["promoted"]) == ("/canary", 1, 1, False)
    tasks = await api.tasks("/canary")
    assert len(tasks) == 4  # three old ones untouched plus the canary

    # The released client lists everything while the app uses every extension and the canary is paused.
    client = MarathonClient(str(served.make_url("")).rstrip("/"), timeout=10)
    try:
        apps = await asyncio.to_thread(client.list_apps, embed_tasks=True)
        assert [a.id for a in apps] == ["/canary"]
        assert len(await asyncio.to_thread(client.list_tasks)) == 4
        (listed,) = await asyncio.to_thread(client.list_deployments)
        assert listed.id == deployment_id
        app = await asyncio.to_thread(client.get_app, "/canary")
        assert app.upgrade_strategy.minimum_health_capacity == 1.0
    finally:
        client.session.close()
    _, plain = await api.call("GET", "/v2/apps/canary")
    assert "placementStrategy" not in plain["app"] and "canary" not in plain["app"]["upgradeStrategy"]
    _, full = await api.call("GET", "/v2/apps/canary?embed=app.extensions")
    assert full["app"]["upgradeStrategy"]["canary"]["promote"] == "MANUAL"
    assert full["app"]["placementStrategy"] == "BINPACK"

    await asyncio.sleep(1.5)  # paused means paused: nothing moves on by itself
    assert (await api.detail(deployment_id))["state"] == "paused" and len(await api.tasks("/canary")) == 4
    status, moved = await api.call("POST", f"/v2/deployments/{deployment_id}/continue")
    assert status == 200 and moved["state"] == "running" and moved["canaries"][0]["promoted"], moved

    async def done() -> bool:
        tasks = await api.tasks("/canary")
        return len(tasks) == 3 and not await api.deployments()
    await until(done, 90)
    assert (await api.detail(deployment_id))["state"] == "succeeded"
    for task in await api.tasks("/canary"):
        async with api.session.get(f"http://{task['host']}:{task['ports'][0]}/") as resp:
            assert (await resp.text()).strip() == "v2"
    status, again = await api.call("POST", f"/v2/deployments/{deployment_id}/continue")
    assert status == 404, again


async def test_readiness_gates_the_rollout(api: Api, tmp_path: Path) -> None:
    ready_file = tmp_path / "ready"
    v1 = web_app("/ready", 2, mhc=1.0, moc=0.5)
    await deploy_and_settle(api, v1)
    v2 = {**web_app("/ready", 2, mhc=1.0, moc=0.5, version="v2", ready_file=ready_file),
          "readinessChecks": [{"portName": "http", "path": "/ready", "intervalSeconds": 2, "timeoutSeconds": 1,
                               "preserveLastResponse": True}]}
    status, body = await api.call("PUT", "/v2/apps/ready", v2)
    assert status == 200, body

    async def answered() -> list[dict[str, Any]] | None:
        (deployment,) = await api.deployments()
        results = deployment["currentActions"][0]["readinessCheckResults"]
        # The first poll may come before the task listens (no answer: no lastResponse).
        return results if results and "lastResponse" in results[0] else None
    results = await until(answered, 60)
    assert results[0]["ready"] is False and results[0]["lastResponse"]["status"] == 503
    await asyncio.sleep(2)  # not ready: no old task is stopped, the deployment waits
    old = [t for t in await api.tasks("/ready") if t["version"] != body["version"]]
    assert len(old) == 2 and await api.deployments()
    _, embedded = await api.call("GET", "/v2/apps?embed=apps.readiness")
    assert embedded["apps"][0]["readinessCheckResults"][0]["ready"] is False
    ready_file.touch()

    async def done() -> bool:
        tasks = await api.tasks("/ready")
        return len(tasks) == 2 and all(t["version"] == body["version"] for t in tasks) \
            and not await api.deployments()
    await until(done, 90)


async def test_deployment_detail_of_an_unknown_id_is_a_404(api: Api) -> None:
    status, body = await api.call("GET", "/v2/deployments/nope")
    assert (status, body) == (404, {"message": "DeploymentPlan nope does not exist"})
    status, body = await api.call("POST", "/v2/deployments/nope/continue")
    assert status == 404


async def test_continuing_a_deployment_that_holds_nothing_is_a_409(api: Api) -> None:
    v1 = web_app("/plain", 1, mhc=1.0, moc=0.0)
    await deploy_and_settle(api, v1)
    status, body = await api.call("PUT", "/v2/apps/plain", {**v1, "cmd": v1["cmd"].replace("--health 200",
                                                                                            "--health 500")})
    assert status == 200
    status, conflict = await api.call("POST", f"/v2/deployments/{body['deploymentId']}/continue")
    assert status == 409 and "nothing to continue" in conflict["message"]
    status, _ = await api.call("DELETE", f"/v2/deployments/{body['deploymentId']}?force=true")
    assert status == 202
    assert (await api.detail(body["deploymentId"]))["state"] == "canceled"

