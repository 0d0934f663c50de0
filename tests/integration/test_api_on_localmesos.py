"""The Marathon v2 API over real HTTP (aiohttp's test server) on the scheduler and a real localmesos cluster."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import ApiConfig, build_api_app
from scheduler.runtime import SchedulerRuntime

from .conftest import RuntimeHandle


@pytest.fixture
async def api(scheduler: RuntimeHandle) -> AsyncIterator[TestClient]:
    runtime = await scheduler.start()
    app = build_api_app(runtime, runtime.events, ApiConfig(master=scheduler.mesos.address))
    async with TestClient(TestServer(app)) as client:
        yield client


def web_app(app_id: str = "/web", instances: int = 1, **extra: Any) -> dict[str, Any]:
    return {"id": app_id, "cmd": "sleep 600", "cpus": 0.1, "mem": 32, "instances": instances, **extra}


async def wait_for(client: TestClient, path: str, check: Any, timeout: float = 20) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    body: Any = None
    while asyncio.get_running_loop().time() < deadline:
        resp = await client.get(path)
        body = await resp.json()
        if resp.status == 200 and check(body):
            return body  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} never satisfied the check; last body {json.dumps(body)[:500]}")


async def test_create_scale_delete(api: TestClient) -> None:
    resp = await api.post("/v2/apps", json=web_app(instances=2))
    assert resp.status == 201, await resp.text()
    assert resp.headers["Location"] == "/v2/apps/web" and resp.headers["Marathon-Deployment-Id"]
    assert resp.headers["X-Marathon-Leader"].startswith("http://")
    created = await resp.json()
    assert created["id"] == "/web" and created["instances"] == 2 and created["deployments"]
    body = await wait_for(api, "/v2/apps/web", lambda b: b["app"]["tasksRunning"] == 2)
    app = body["app"]
    assert len(app["tasks"]) == 2 and all(t["state"] == "TASK_RUNNING" for t in app["tasks"])
    assert app["versionInfo"]["lastConfigChangeAt"] == app["version"]
    task = app["tasks"][0]
    assert task["appId"] == "/web" and task["host"].startswith("127.0.0.") and len(task["ports"]) == 1

    resp = await api.put("/v2/apps/web", json={"instances": 3})
    assert resp.status == 200 and set(await resp.json()) == {"deploymentId", "version"}
    body = await wait_for(api, "/v2/apps/web", lambda b: b["app"]["tasksRunning"] == 3)
    assert body["app"]["versionInfo"]["lastConfigChangeAt"] == app["version"]  # a scale is not a config change
    listed = await (await api.get("/v2/apps")).json()
    assert [a["id"] for a in listed["apps"]] == ["/web"] and "tasks" not in listed["apps"][0]
    versions = await (await api.get("/v2/apps/web/versions")).json()
    assert len(versions["versions"]) == 2

    resp = await api.delete("/v2/apps/web")
    assert resp.status == 200
    await wait_for(api, "/v2/apps", lambda b: b["apps"] == [])
    assert (await api.get("/v2/apps/web")).status == 404
    assert await (await api.get("/v2/apps/web")).json() == {"message": "App '/web' does not exist"}


async def test_an_app_rolls_back_to_a_stored_version(api: TestClient) -> None:
    resp = await api.post("/v2/apps", json=web_app(instances=1))
    assert resp.status == 201, await resp.text()
    first = (await wait_for(api, "/v2/apps/web", lambda b: b["app"]["tasksRunning"] == 1))["app"]
    resp = await api.put("/v2/apps/web", json={**web_app(instances=1), "cmd": first["cmd"] + " # v2"})
    assert resp.status == 200, await resp.text()
    await wait_for(api, "/v2/apps/web", lambda b: b["app"]["cmd"].endswith("# v2") and not b["app"]["deployments"])
    resp = await api.put("/v2/apps/web", json={"version": first["version"]})
    assert resp.status == 200, await resp.text()
    assert set(await resp.json()) == {"deploymentId", "version"}
    back = await wait_for(api, "/v2/apps/web", lambda b: not b["app"]["deployments"]
                          and b["app"]["tasksRunning"] == 1)
    assert back["app"]["cmd"] == first["cmd"]
    resp = await api.put("/v2/apps/web", json={"version": "2001-01-01T00:00:00Z"})
    assert (resp.status, await resp.json()) == (404, {"message": "App '/web' does not exist in version "
                                                                 "2001-01-01T00:00:00Z"})


async def test_bad_input_changes_nothing(api: TestClient) -> None:
    resp = await api.post("/v2/apps", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status == 400 and (await resp.json())["message"] == "Invalid JSON"
    resp = await api.post("/v2/apps", json={"id": "/bad", "cmd": "sleep 1", "cpus": -1, "mem": 32,
                                            "upgradeStrategy": {"minimumHealthCapacity": 2}})
    assert resp.status == 422
    body = await resp.json()
    assert body["message"] == "Object is not valid"
    paths = {d["path"] for d in body["details"]}
    assert "/cpus" in paths and "/upgradeStrategy/minimumHealthCapacity" in paths
    resp = await api.post("/v2/apps", json={"id": "/bad", "cmd": "sleep 1", "constraints": [["hostname", "NOPE"]]})
    assert resp.status == 422
    assert [d["path"] for d in (await resp.json())["details"]] == ["/constraints(0)"]
    assert (await (await api.get("/v2/apps")).json()) == {"apps": []}
    resp = await api.post("/v2/apps", data=io.BytesIO(b"x" * (3 * 1024 * 1024)),
                          headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert (await api.get("/v2/nope")).status == 404


async def test_duplicate_create_and_locked_update(api: TestClient) -> None:
    assert (await api.post("/v2/apps", json=web_app("/locked", 2))).status == 201
    await wait_for(api, "/v2/deployments", lambda b: b == [])
    resp = await api.post("/v2/apps", json=web_app("/locked"))
    assert resp.status == 409 and "already exists" in (await resp.json())["message"]
    # A deployment that cannot finish (4 instances, one per host, on 3 agents), then a conflicting change.
    stuck = {"instances": 4, "constraints": [["hostname", "UNIQUE"]]}
    resp = await api.put("/v2/apps/locked", json=stuck)
    assert resp.status == 200
    stuck_id = (await resp.json())["deploymentId"]
    resp = await api.put("/v2/apps/locked", json={"instances": 1})
    assert resp.status == 409  # Marathon's lock body, naming the running deployment
    body = await resp.json()
    assert [d["id"] for d in body["deployments"]] == [stuck_id] and "locked" in body["message"]
    resp = await api.put("/v2/apps/locked?force=true", json={"instances": 1})
    assert resp.status == 200
    await wait_for(api, "/v2/apps/locked", lambda b: b["app"]["tasksRunning"] == 1 and not b["app"]["deployments"])


async def test_tasks_kill_with_scale_and_queue(api: TestClient) -> None:
    assert (await api.post("/v2/apps", json=web_app("/killer", 2))).status == 201
    body = await wait_for(api, "/v2/tasks?status=running", lambda b: len(b["tasks"]) == 2)
    victim = body["tasks"][0]["id"]
    resp = await api.post("/v2/tasks/delete?scale=true", json={"ids": [victim]})
    assert resp.status == 200 and "deploymentId" in await resp.json()
    app = await wait_for(api, "/v2/apps/killer", lambda b: b["app"]["instances"] == 1 and b["app"]["tasksRunning"] == 1
                         and len(b["app"]["tasks"]) == 1)
    assert victim not in {t["id"] for t in app["app"]["tasks"]}
    resp = await api.post("/v2/tasks/delete", json={"ids": ["not a task id"]})
    assert resp.status == 400
    # An app that cannot be placed waits in the queue, with the reasons.
    assert (await api.post("/v2/apps", json=web_app("/huge", 1, cpus=64))).status == 201
    queue = await wait_for(api, "/v2/queue", lambda b: any(
        q["app"]["id"] == "/huge" and q["processedOffersSummary"]["rejectSummaryLastOffers"] for q in b["queue"]))
    item = next(q for q in queue["queue"] if q["app"]["id"] == "/huge")
    reasons = {r["reason"]: r["declined"] for r in item["processedOffersSummary"]["rejectSummaryLastOffers"]}
    assert reasons.get("InsufficientCpus", 0) >= 1 and item["count"] == 1 and item["delay"]["overdue"] is True
    assert (await api.delete("/v2/queue/huge/delay")).status == 404  # not backed off: nothing to reset


async def test_events_stream_reports_api_posts_and_status_updates(api: TestClient) -> None:
    resp = await api.get("/v2/events", headers={"Accept": "text/event-stream"})
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    first = await resp.content.readuntil(b"\r\n\r\n")
    assert first.startswith(b"event: event_stream_attached\r\ndata: ")
    assert (await api.post("/v2/apps", json=web_app("/evented"))).status == 201
    seen = []
    while "status_update_event" not in seen or "api_post_event" not in seen:
        frame = await asyncio.wait_for(resp.content.readuntil(b"\r\n\r\n"), 20)
        if frame.strip():
            seen.append(frame.split(b"\r\n")[0].decode().removeprefix("event: "))
    resp.close()
    assert (await api.get("/v2/events")).status == 405  # without Accept: text/event-stream
