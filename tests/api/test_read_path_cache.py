"""The read path's caches (issue 11) answer byte for byte what a render from scratch gives, before and after
changes, and long renders give the event loop back between apps.

The scheduler runs on a real localmesos cluster (process mode, real ``sleep`` tasks, the integration fixtures);
the expected bodies come from a fresh ``Renderer`` (no cache) over the same runtime state, dumped the plain
way (``json.dumps`` of the whole dict, what every route answered before the caches)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api import render_pacing
from api.app import ApiConfig, build_api_app
from api.render_pacing import Pacer
from api.routes_apps import Renderer, task_json
from mesospaas.model import AppId, Condition
from scheduler.runtime import SchedulerRuntime
from tests.integration.conftest import RuntimeHandle, mesos, scheduler  # noqa: F401 (fixtures)
from tests.polling import eventually

LIST = {"counts", "deployments"}
SINGLE = {"counts", "tasks", "lastTaskFailure", "deployments"}


@pytest.fixture
async def api(scheduler: RuntimeHandle) -> AsyncIterator[tuple[TestClient, SchedulerRuntime]]:  # noqa: F811
    runtime = await scheduler.start()
    app = build_api_app(runtime, runtime.events, ApiConfig(master=scheduler.mesos.address))
    async with TestClient(TestServer(app)) as client:
        yield client, runtime


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def expected(runtime: SchedulerRuntime, path: str) -> bytes:
    """The body of ``path`` rendered from scratch."""
    fresh = Renderer()
    apps = sorted(runtime.state.apps)
    live = [i for i in runtime.state.instances.values() if i.has_live_task]
    if path == "/v2/apps":
        return dumps({"apps": [fresh.app(runtime, a, set(LIST)) for a in apps]})
    if path == "/v2/apps?embed=apps.tasks":
        return dumps({"apps": [fresh.app(runtime, a, LIST | {"tasks"}) for a in apps]})
    if path == "/v2/tasks":
        return dumps({"tasks": [task_json(i, fresh.definition(runtime, i.app_id), runtime.health_records(i))
                                for i in live]})
    if path == "/v2/tasks?status=running":
        return dumps({"tasks": [task_json(i, fresh.definition(runtime, i.app_id), runtime.health_records(i))
                                for i in live if i.condition is Condition.RUNNING]})
    if path.endswith("/tasks"):
        app_id = AppId(path.removeprefix("/v2/apps").removesuffix("/tasks"))
        return dumps({"tasks": [task_json(i, fresh.definition(runtime, app_id), runtime.health_records(i))
                                for i in live if i.app_id == app_id]})
    return dumps({"app": fresh.app(runtime, AppId(path.removeprefix("/v2/apps")), set(SINGLE))})


ROUTES = ["/v2/apps", "/v2/apps?embed=apps.tasks", "/v2/tasks", "/v2/tasks?status=running",
          "/v2/apps/shop/web", "/v2/apps/shop/web/tasks", "/v2/apps/shop/worker", "/v2/apps/idle"]


async def same_as_fresh(client: TestClient, runtime: SchedulerRuntime) -> bool:
    """Every route's body equals the render from scratch (True), or the state moved meanwhile (False: again)."""
    generation = runtime.generation
    bodies = {}
    for path in ROUTES:
        resp = await client.get(path)
        assert resp.status == 200, (path, await resp.text())
        bodies[path] = await resp.read()
    if runtime.generation != generation:
        return False
    for path, body in bodies.items():
        assert body == expected(runtime, path), path
    return True


async def settled(client: TestClient, runtime: SchedulerRuntime, running: dict[str, int],
                  also: Callable[[], bool] = lambda: True) -> bool:
    """No deployment in progress, each app with that many RUNNING tasks, and ``also()``."""
    resp = await client.get("/v2/deployments")
    if await resp.json():
        return False
    return all(sum(1 for i in runtime.instances_of(AppId(a)) if i.condition is Condition.RUNNING) == n
               for a, n in running.items()) and also()


async def test_cached_bodies_are_the_renders_from_scratch_before_and_after_changes(
        api: tuple[TestClient, SchedulerRuntime]) -> None:
    client, runtime = api
    for body in ({"id": "/shop/web", "cmd": "sleep 600", "cpus": 0.1, "mem": 32, "instances": 3,
                  "labels": {"tier": "front"}, "portDefinitions": [{"port": 0}, {"port": 0, "name": "admin"}]},
                 {"id": "/shop/worker", "cmd": "sleep 600", "cpus": 0.1, "mem": 32, "instances": 2,
                  "portDefinitions": []},
                 {"id": "/idle", "cmd": "sleep 600", "cpus": 0.1, "mem": 32, "instances": 0}):
        resp = await client.post("/v2/apps", json=body)
        assert resp.status == 201, await resp.text()
    want = {"/shop/web": 3, "/shop/worker": 2}
    await eventually(lambda: settled(client, runtime, want), what="apps running")
    await eventually(lambda: same_as_fresh(client, runtime), what="bodies equal to a fresh render")
    await eventually(lambda: same_as_fresh(client, runtime), what="cached bodies equal to a fresh render")

    # One app changes: the others' cached JSON is reused, the changed one re-rendered.
    resp = await client.put("/v2/apps/shop/web", json={"instances": 4})
    assert resp.status == 200, await resp.text()
    want["/shop/web"] = 4
    await eventually(lambda: settled(client, runtime, want), what="scaled up")
    await eventually(lambda: same_as_fresh(client, runtime), what="bodies after a scale-up")

    # A task is killed and replaced: a new instance object in an app whose other tasks are cached.
    victim = next(i for i in runtime.instances_of(AppId("/shop/worker")) if i.condition is Condition.RUNNING)
    resp = await client.delete(f"/v2/apps/shop/worker/tasks/{victim.task_id}")
    assert resp.status == 200, await resp.text()
    await eventually(lambda: settled(client, runtime, want, lambda: all(
        i.task_id != victim.task_id for i in runtime.instances_of(AppId("/shop/worker")) if i.has_live_task)),
        what="the killed task replaced")
    await eventually(lambda: same_as_fresh(client, runtime), what="bodies after a replacement")

    # The definition changes (a new version, new service ports): every cached task of the app is stale.
    resp = await client.put("/v2/apps/shop/worker", json={"cmd": "sleep 601", "portDefinitions": [{"port": 0}]})
    assert resp.status == 200, await resp.text()
    await eventually(lambda: settled(client, runtime, want, lambda: all(
        i.app_version == runtime.state.apps[AppId("/shop/worker")].version
        for i in runtime.instances_of(AppId("/shop/worker")) if i.has_live_task)), what="worker restarted")
    await eventually(lambda: same_as_fresh(client, runtime), what="bodies after a new version")

    resp = await client.delete("/v2/apps/idle")
    assert resp.status == 200
    await eventually(lambda: AppId("/idle") not in runtime.state.apps, what="idle removed")
    resp = await client.get("/v2/apps/idle")
    assert resp.status == 404
    listed = await (await client.get("/v2/apps")).json()
    assert [a["id"] for a in listed["apps"]] == ["/shop/web", "/shop/worker"]


async def test_list_renders_yield_at_every_app_and_still_answer_the_same(
        api: tuple[TestClient, SchedulerRuntime], monkeypatch: pytest.MonkeyPatch) -> None:
    client, runtime = api
    for n in range(6):
        resp = await client.post("/v2/apps", json={"id": f"/many/app-{n}", "cmd": "sleep 600", "cpus": 0.1,
                                                  "mem": 32, "instances": 1 if n % 2 else 0})
        assert resp.status == 201, await resp.text()
    await eventually(lambda: settled(client, runtime, {f"/many/app-{n}": 1 for n in range(1, 6, 2)}),
                     what="apps running")
    monkeypatch.setattr(render_pacing, "DEFAULT_BUDGET", 0.0)  # every tick gives the loop back
    for path in ("/v2/apps", "/v2/apps?embed=apps.tasks", "/v2/tasks"):
        async def fresh_equal(path: str = path) -> bool:
            generation = runtime.generation
            body = await (await client.get(path)).read()
            return runtime.generation == generation and body == expected(runtime, path)
        await eventually(fresh_equal, what=f"{path} rendered in yielding chunks")


async def test_a_pacer_yields_once_its_budget_is_spent_and_not_before() -> None:
    order: list[str] = []
    loop = asyncio.get_running_loop()

    spent = Pacer(budget=0.0)
    loop.call_soon(order.append, "other work")
    await spent.tick()
    order.append("render goes on")
    assert order == ["other work", "render goes on"] and spent.yields == 1

    order.clear()
    fresh = Pacer(budget=3600.0)
    loop.call_soon(order.append, "other work")
    await fresh.tick()
    order.append("render goes on")
    assert order == ["render goes on"] and fresh.yields == 0
    await asyncio.sleep(0)
    assert order == ["render goes on", "other work"]
