"""Tenants as Mesos roles, end to end: a top-level group with ``enforceRole`` makes its apps launch under the
role named after it (Marathon 1.9+'s multi-role), the framework subscribes that role (UPDATE_FRAMEWORK), and
a real localmesos master (process mode, real tasks) shows both in ``/master/state``; an app outside the
group keeps the default role, and the role is given up when the group goes. Roles an app may not have are refused with Marathon's 422 and change nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import ApiConfig, build_api_app
from tests.integration.conftest import RuntimeHandle
from tests.localmesos import transcripts as T
from tests.polling import eventually

APP = {"cmd": "sleep 600", "cpus": 0.1, "mem": 16, "instances": 1}


@pytest.fixture
async def api(scheduler: RuntimeHandle) -> AsyncIterator[TestClient]:
    runtime = await scheduler.start()
    client = TestClient(TestServer(build_api_app(runtime, runtime.events, ApiConfig(master=scheduler.mesos.address)),
                                   host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


async def call(api: TestClient, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with api.request(method, path, data=json.dumps(body) if body is not None else None,
                           headers={"Content-Type": "application/json"}) as response:
        text = await response.text()
        return response.status, json.loads(text) if text else None


def master_state(scheduler: RuntimeHandle) -> dict[str, Any]:
    response = T.request(scheduler.mesos.address, "GET", "/master/state")
    assert response.status == 200
    return dict(response.json())


async def test_an_enforced_group_runs_its_apps_under_its_role(api: TestClient, scheduler: RuntimeHandle) -> None:
    status, body = await call(api, "POST", "/v2/groups", {"id": "/team-a", "enforceRole": True,
                                                         "apps": [{"id": "web", **APP}]})
    assert status == 201, body
    status, body = await call(api, "POST", "/v2/apps", {"id": "/plain", **APP})
    assert status == 201, body
    assert (await call(api, "GET", "/v2/apps/team-a/web"))[1]["app"]["role"] == "team-a"
    assert (await call(api, "GET", "/v2/apps/plain"))[1]["app"]["role"] == "*"

    # the group keeps enforcing: a new app there gets its role, other roles are refused
    status, body = await call(api, "POST", "/v2/apps", {"id": "/team-a/api", **APP, "instances": 0})
    assert status == 201 and body["role"] == "team-a", body
    for role in ("*", "team-b"):
        status, body = await call(api, "POST", "/v2/apps", {"id": "/team-a/other", **APP, "role": role})
        assert status == 422, body
        assert body == {"message": "Object is not valid",
                        "details": [{"path": "/role", "errors": ["is not one of (team-a)"]}]}
    status, body = await call(api, "PUT", "/v2/groups/team-a", {"apps": [{"id": "web", **APP, "role": "ops"}]})
    assert status == 422 and body["details"] == [{"path": "/apps(/team-a/web)/role",
                                                  "errors": ["is not one of (team-a)"]}], body
    status, body = await call(api, "POST", "/v2/apps", {"id": "/loose", **APP, "role": "team-a"})
    assert status == 422 and body["details"][0]["errors"] == ["is not one of (*)"], body
    runtime = scheduler.runtime
    assert runtime is not None
    assert "/team-a/other" not in runtime.state.apps and "/loose" not in runtime.state.apps
    assert runtime.state.apps["/team-a/web"].role == "team-a"

    def launched() -> dict[str, Any] | None:
        state = master_state(scheduler)
        ours = [f for f in state["frameworks"] if f["name"] == "mesospaas"]
        if not ours:
            return None
        running = {t["id"].split(".")[0]: t for t in ours[0]["tasks"] if t["state"] == "TASK_RUNNING"}
        return ours[0] if {"team-a_web", "plain"} <= set(running) else None
    framework = await eventually(launched, timeout=60, what="both apps running on Mesos")
    assert framework["roles"] == ["*", "team-a"]
    roles = {t["id"].split(".")[0]: t["role"] for t in framework["tasks"]}
    assert roles == {"team-a_web": "team-a", "plain": "*"}  # the task's role is its resources' allocation role

    # the group goes: the framework gives its role up again (UPDATE_FRAMEWORK)
    status, body = await call(api, "DELETE", "/v2/groups/team-a?force=true")
    assert status == 200, body

    def roles_now() -> list[str]:
        return next(f["roles"] for f in master_state(scheduler)["frameworks"] if f["name"] == "mesospaas")
    await eventually(lambda: roles_now() == ["*"], timeout=30, what="the framework back to the default role")
