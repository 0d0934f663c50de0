"""``/v2/groups`` over real HTTP on the scheduler and a real localmesos cluster (reference §1.2, §1.3, §5.7).

Each test gets its own cluster, runtime and API (the ``groups_api`` fixture stops them all). The released
marathon-python 0.13.0 models parse what the API sends (groups, and deployment events with the heavy plan),
because that client raises on any key it does not know.
"""

from __future__ import annotations

import asyncio
import collections
import collections.abc
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from api.app import ApiConfig, build_api_app
from api.plans import minimal_app_json
from api.schemas import load_app
from mesospaas.model import AppId, Condition

from .conftest import RuntimeHandle

if not hasattr(collections, "Iterable"):  # marathon-python 0.13.0 predates Python 3.10 (see marathon_compat)
    collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]

from marathon import MarathonApp, MarathonClient  # noqa: E402
from marathon.models.events import EventFactory  # noqa: E402
from marathon.models.group import MarathonGroup  # noqa: E402

GROUP_KEYS = {"id", "apps", "groups", "pods", "dependencies", "version"}
CYCLE = "Dependency graph has cyclic dependencies."


@pytest.fixture
async def groups_api(scheduler: RuntimeHandle) -> AsyncIterator[TestClient]:
    runtime = await scheduler.start()
    app = build_api_app(runtime, runtime.events, ApiConfig(master=scheduler.mesos.address))
    async with TestClient(TestServer(app)) as client:
        yield client


def an_app(app_id: str, instances: int = 1, **extra: Any) -> dict[str, Any]:
    return {"id": app_id, "cmd": "sleep 600", "cpus": 0.1, "mem": 32, "instances": instances, **extra}


async def body_of(resp: ClientResponse, status: int) -> Any:
    assert resp.status == status, f"{resp.status}: {await resp.text()}"
    return await resp.json()


async def eventually(client: TestClient, path: str, check: Any, timeout: float = 90) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    body: Any = None
    while asyncio.get_running_loop().time() < deadline:
        resp = await client.get(path)
        body = await resp.json()
        if check(resp.status, body):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never satisfied the check; last body {json.dumps(body)[:500]}")


def running(status: int, body: Any, counts: dict[str, int]) -> bool:
    """``/v2/tasks`` shows exactly ``counts`` running tasks per app (apps not named: none)."""
    seen: dict[str, int] = {}
    for task in body["tasks"]:
        if task["state"] == "TASK_RUNNING":
            seen[task["appId"]] = seen.get(task["appId"], 0) + 1
    return status == 200 and seen == counts


async def next_event(stream: ClientResponse, event_type: str) -> dict[str, Any]:
    while True:
        frame = (await asyncio.wait_for(stream.content.readuntil(b"\r\n\r\n"), 20)).strip()
        if frame.startswith(f"event: {event_type}\r\n".encode()):
            event: dict[str, Any] = json.loads(frame.split(b"\r\n", 1)[1].removeprefix(b"data: "))
            return event


def tree_keys_ok(group: dict[str, Any]) -> bool:
    return set(group) <= GROUP_KEYS and all(tree_keys_ok(child) for child in group.get("groups", []))


PROD = {
    "id": "prod",
    "apps": [an_app("web", 2, dependencies=["db"]), an_app("/prod/db")],
    "groups": [{"id": "batch", "dependencies": ["../web"], "apps": [an_app("nightly")]}],
}


async def test_nested_group_deploys_in_dependency_order_with_heavy_plan_events(
        groups_api: TestClient, scheduler: RuntimeHandle) -> None:
    stream = await groups_api.get("/v2/events?event_type=deployment_info&event_type=deployment_success"
                                  "&event_type=group_change_success", headers={"Accept": "text/event-stream"})
    assert stream.status == 200
    resp = await groups_api.post("/v2/groups", json=PROD)
    created = await body_of(resp, 201)
    assert set(created) == {"deploymentId", "version"} and resp.headers["Location"] == "/v2/groups/prod"
    assert resp.headers["Marathon-Deployment-Id"] == created["deploymentId"]

    info = await next_event(stream, "deployment_info")
    plan = info["plan"]
    assert set(plan) == {"id", "version", "steps", "original", "target"} and plan["id"] == created["deploymentId"]
    order = [[(a["action"], a["app"]) for a in step["actions"]] for step in plan["steps"]]
    assert order[1:] == [[("ScaleApplication", "/prod/db")], [("ScaleApplication", "/prod/web")],
                         [("ScaleApplication", "/prod/batch/nightly")]], order
    assert plan["original"]["groups"] == [] and tree_keys_ok(plan["original"]) and tree_keys_ok(plan["target"])
    (prod,) = plan["target"]["groups"]
    assert prod["id"] == "/prod" and [a["id"] for a in prod["apps"]] == ["/prod/db", "/prod/web"]
    web = prod["apps"][1]
    assert web["cmd"] == "sleep 600" and web["dependencies"] == ["/prod/db"] and web["version"] == created["version"]
    assert prod["groups"][0]["dependencies"] == ["/prod/web"]
    parsed = EventFactory().process(info)  # the released client needs plan.original and plan.target
    assert parsed.plan.target.id == "/" and parsed.plan.original.id == "/"
    success = await next_event(stream, "deployment_success")
    assert success["id"] == created["deploymentId"] and "original" in success["plan"]
    EventFactory().process(success)
    changed = await next_event(stream, "group_change_success")
    assert changed["groupId"] == "/" and changed["version"] == success["plan"]["version"]
    stream.close()

    # Dependencies first: every db task was staged before any web task, and web before the nightly batch.
    runtime = scheduler.runtime
    assert runtime is not None
    staged = {app: [i.staged_at or 0.0 for i in runtime.instances_of(AppId(app))
                    if i.condition is Condition.RUNNING]
              for app in ("/prod/db", "/prod/web", "/prod/batch/nightly")}
    assert [len(v) for v in staged.values()] == [1, 2, 1]
    assert max(staged["/prod/db"]) < min(staged["/prod/web"]) <= max(staged["/prod/web"]) < min(
        staged["/prod/batch/nightly"])

    # The tree: root with /prod, apps as AppInfo, child groups, and nothing the released client rejects.
    root = await body_of(await groups_api.get("/v2/groups"), 200)
    assert root["id"] == "/" and root["apps"] == [] and [g["id"] for g in root["groups"]] == ["/prod"]
    assert tree_keys_ok(root) and root["pods"] == [] and root["version"].endswith("Z")
    group = MarathonGroup.from_json(root["groups"][0])
    assert [a.id for a in group.apps] == ["/prod/db", "/prod/web"] and group.groups[0].id == "/prod/batch"
    assert group.apps[1].tasks_running == 2 and group.apps[1].dependencies == ["/prod/db"]
    only_apps = await body_of(await groups_api.get("/v2/groups/prod?embed=group.apps.tasks"), 200)
    assert "groups" not in only_apps and len(only_apps["apps"][1]["tasks"]) == 2
    only_groups = await body_of(await groups_api.get("/v2/groups/prod?embed=group.groups"), 200)
    assert "apps" not in only_groups and only_groups["groups"][0]["id"] == "/prod/batch"
    # Every definition of the tree is what /v2/apps shows.
    app = (await body_of(await groups_api.get("/v2/apps/prod/web"), 200))["app"]
    assert app["instances"] == 2 and app["dependencies"] == ["/prod/db"] and app["version"] == created["version"]
    assert await body_of(await groups_api.get("/v2/groups/prod/versions"), 200) == [root["groups"][0]["version"]]


async def test_update_scale_dry_run_and_delete(groups_api: TestClient) -> None:
    await body_of(await groups_api.post("/v2/groups", json={"id": "/shop", "apps": [an_app("a"), an_app("b")]}), 201)
    await eventually(groups_api, "/v2/tasks", lambda s, b: running(s, b, {"/shop/a": 1, "/shop/b": 1}))
    # the creation's deployment over too (its id is on the apps while it runs)
    await eventually(groups_api, "/v2/deployments", lambda s, b: s == 200 and b == [])
    before = await body_of(await groups_api.get("/v2/groups/shop"), 200)

    # A dry run answers the plan and changes nothing.
    plan = await body_of(await groups_api.put("/v2/groups/shop?dryRun=true", json={"apps": [an_app("a")]}), 200)
    assert plan == {"steps": [{"actions": [{"action": "StopApplication", "app": "/shop/b"}]}]}
    assert await body_of(await groups_api.get("/v2/groups/shop"), 200) == before

    # scaleBy multiplies every app below the group; the definitions follow.
    scaled = await body_of(await groups_api.put("/v2/groups/shop", json={"scaleBy": 2}), 200)
    assert set(scaled) == {"deploymentId", "version"}
    await eventually(groups_api, "/v2/tasks", lambda s, b: running(s, b, {"/shop/a": 2, "/shop/b": 2}))
    app = (await body_of(await groups_api.get("/v2/apps/shop/b"), 200))["app"]
    assert app["instances"] == 2 and app["versionInfo"]["lastConfigChangeAt"] != app["version"]  # a scale

    # An update that leaves an app out stops it; a rollback to the current version changes nothing.
    await body_of(await groups_api.put("/v2/groups/shop", json={"apps": [an_app("a", 2)]}), 200)
    await eventually(groups_api, "/v2/tasks", lambda s, b: running(s, b, {"/shop/a": 2}))
    assert (await groups_api.get("/v2/apps/shop/b")).status == 404
    (version,) = await body_of(await groups_api.get("/v2/groups/shop/versions"), 200)
    back = await body_of(await groups_api.put("/v2/groups/shop", json={"version": version}), 200)
    assert set(back) == {"deploymentId", "version"}
    resp = await groups_api.put("/v2/groups/shop", json={"version": "2015-01-01T00:00:00.000Z"})
    assert (await body_of(resp, 422))["message"].startswith(
        "Group /shop not available in version 2015-01-01T00:00:00.000Z")
    shown = await body_of(await groups_api.get(f"/v2/groups/shop/versions/{version}"), 200)
    assert shown["version"] == version and [a["id"] for a in shown["apps"]] == ["/shop/a"]

    # Deleting the group removes everything in it, in one deployment; its event still shows what was there.
    stream = await groups_api.get("/v2/events?event_type=deployment_info", headers={"Accept": "text/event-stream"})
    deleted = await body_of(await groups_api.delete("/v2/groups/shop"), 200)
    info = await next_event(stream, "deployment_info")
    stream.close()
    assert info["plan"]["id"] == deleted["deploymentId"] and info["plan"]["target"]["groups"] == []
    (gone,) = info["plan"]["original"]["groups"]
    assert [(a["id"], a["instances"], a["cmd"]) for a in gone["apps"]] == [("/shop/a", 2, "sleep 600")]
    EventFactory().process(info)
    await eventually(groups_api, "/v2/tasks", lambda s, b: running(s, b, {}))
    assert await body_of(await groups_api.get("/v2/groups/shop"), 404) == {"message": "Group '/shop' does not exist"}
    assert (await body_of(await groups_api.get("/v2/groups"), 200))["groups"] == []
    await eventually(groups_api, "/v2/deployments", lambda s, b: b == [])


async def test_rejected_requests_change_nothing(groups_api: TestClient) -> None:
    await body_of(await groups_api.post("/v2/groups", json={"id": "/a", "apps": [an_app("x", 0)]}), 201)
    await body_of(await groups_api.post("/v2/apps", json=an_app("/solo", 0)), 201)
    before = await body_of(await groups_api.get("/v2/groups"), 200)

    resp = await groups_api.post("/v2/groups", json={"id": "/a"})
    assert await body_of(resp, 409) == {"message": "Group /a is already created. Use PUT to change this group."}
    resp = await groups_api.post("/v2/groups", json={"id": "/solo"})
    assert await body_of(resp, 409) == {"message": "An app with the path /solo already exists."}
    # A cycle inside the body (the schema's check), and one through an app outside it (the planner's).
    resp = await groups_api.post("/v2/groups", json={"id": "/c", "apps": [
        an_app("p", dependencies=["q"]), an_app("q", dependencies=["p"])]})
    assert (await body_of(resp, 422))["details"] == [{"path": "/", "errors": [CYCLE]}]
    resp = await groups_api.put("/v2/groups/a", json={"apps": [an_app("x", 0, dependencies=["/b/y"])],
                                                      "dependencies": []})
    await body_of(resp, 200)
    resp = await groups_api.put("/v2/groups/b", json={"apps": [an_app("y", 0, dependencies=["/a/x"])]})
    assert await body_of(resp, 422) == {"message": CYCLE}
    await body_of(await groups_api.put("/v2/groups/a", json={"apps": [an_app("x", 0)]}), 200)
    # Invalid apps are reported at their place in the tree; a group cannot take an app's id.
    resp = await groups_api.put("/v2/groups", json={"groups": [{"id": "a", "apps": [an_app("x", cpus=-1)]}]})
    assert [d["path"] for d in (await body_of(resp, 422))["details"]] == ["/groups(0)/apps(0)/cpus"]
    resp = await groups_api.put("/v2/groups/solo", json={"apps": [an_app("z", 0)]})
    assert "may not have the same identifier" in (await body_of(resp, 422))["message"]
    resp = await groups_api.put("/v2/groups/a", data=b"{nope", headers={"Content-Type": "application/json"})
    assert (await body_of(resp, 400))["message"] == "Invalid JSON"
    # Unknown groups.
    assert await body_of(await groups_api.get("/v2/groups/nope"), 404) == {"message": "Group '/nope' does not exist"}
    await body_of(await groups_api.delete("/v2/groups/nope"), 404)
    await body_of(await groups_api.delete("/v2/groups/solo"), 404)  # an app is not a group
    await body_of(await groups_api.put("/v2/groups/nope", json={"scaleBy": 2}), 404)
    await body_of(await groups_api.get("/v2/groups/nope/versions"), 404)

    after = await body_of(await groups_api.get("/v2/groups"), 200)
    assert [g["id"] for g in after["groups"]] == [g["id"] for g in before["groups"]] == ["/a"]
    assert [a["id"] for a in after["apps"]] == ["/solo"] and after["groups"][0]["apps"][0]["dependencies"] == []


async def test_locked_group_needs_force(groups_api: TestClient) -> None:
    # An app that no agent can hold keeps its deployment running: a lock that does not go away by itself.
    await body_of(await groups_api.post("/v2/groups", json={"id": "/stuck", "apps": [an_app("huge", cpus=64)]}), 201)
    resp = await groups_api.put("/v2/groups/stuck", json={"apps": [an_app("huge", cpus=32)]})
    locked = await body_of(resp, 409)
    assert locked["deployments"] and "locked" in locked["message"]
    await body_of(await groups_api.put("/v2/groups/stuck?force=true", json={"apps": [an_app("huge", cpus=0.1)]}), 200)
    await eventually(groups_api, "/v2/tasks", lambda s, b: running(s, b, {"/stuck/huge": 1}))
    await eventually(groups_api, "/v2/deployments", lambda s, b: b == [])


async def test_the_released_client_drives_groups(groups_api: TestClient) -> None:
    client = MarathonClient([str(groups_api.make_url("")).rstrip("/")])
    group = MarathonGroup.from_json({"id": "/tools", "apps": [an_app("/tools/cli")]})
    created = await asyncio.to_thread(client.create_group, group)
    assert set(created) == {"deploymentId", "version"}
    listed = await asyncio.to_thread(client.list_groups)
    assert [g.id for g in listed] == ["/tools"] and listed[0].apps[0].cmd == "sleep 600"
    await eventually(groups_api, "/v2/deployments", lambda s, b: b == [])  # scale_group cannot force
    await asyncio.to_thread(client.scale_group, "/tools", 2)
    await eventually(groups_api, "/v2/tasks", lambda s, b: running(s, b, {"/tools/cli": 2}))
    fetched = await asyncio.to_thread(client.get_group, "/tools")
    assert fetched.apps[0].instances == 2
    await asyncio.to_thread(client.rollback_group, "/tools", fetched.version)  # PUT .../versions/{v}
    await asyncio.to_thread(client.delete_group, "/tools")
    await eventually(groups_api, "/v2/groups", lambda s, b: b["groups"] == [])


def test_apps_without_a_stored_definition_still_render_for_the_released_client() -> None:
    # A plan's original may hold apps whose definitions the runtime already dropped: they render from the spec.
    spec = load_app(an_app("/x/y", 3, constraints=[["hostname", "UNIQUE"], ["rack", "GROUP_BY", "2"]],
                           labels={"k": "v"}, portDefinitions=[{"port": 0, "name": "http"}])).spec
    rendered = minimal_app_json(spec, frozenset({"/x/db"}))
    app = MarathonApp.from_json(rendered)
    assert (app.id, app.instances, app.cmd, app.dependencies) == ("/x/y", 3, "sleep 600", ["/x/db"])
    assert rendered["constraints"] == [["hostname", "UNIQUE"], ["rack", "GROUP_BY", "2"]]
