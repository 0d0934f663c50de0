"""``Accept: text/plain`` on ``/v2/tasks`` and ``/v2/apps/{id}/tasks`` over real HTTP, on real tasks: both write
Marathon's one layout, and the README's ``awk '{print $3}'`` finds exactly one endpoint that serves."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from .test_api_on_localmesos import api, wait_for, web_app

__all__ = ["api"]  # the fixture: the API of a scheduler on a real localmesos cluster
TEXT = {"Accept": "text/plain"}


async def text(api: TestClient, path: str) -> str:
    resp = await api.get(path, headers=TEXT)
    assert resp.status == 200 and resp.content_type == "text/plain"
    return await resp.text()


async def test_both_task_routes_write_one_line_per_app_and_service_port(api: TestClient) -> None:
    two_ports = web_app("/shop/web", 2, portDefinitions=[{"port": 0}, {"port": 0}],
                        constraints=[["hostname", "UNIQUE"]])
    assert (await api.post("/v2/apps", json=two_ports)).status == 201
    assert (await api.post("/v2/apps", json=web_app("/thumbnailer", 1, portDefinitions=[]))).status == 201
    assert (await api.post("/v2/apps", json=web_app("/idle", 0))).status == 201
    body = await wait_for(api, "/v2/tasks?status=running", lambda b: len(b["tasks"]) == 3)
    web_tasks = sorted((t for t in body["tasks"] if t["appId"] == "/shop/web"), key=lambda t: t["host"])
    worker = next(t for t in body["tasks"] if t["appId"] == "/thumbnailer")
    apps = {a["id"]: a for a in (await (await api.get("/v2/apps")).json())["apps"]}
    web_ports = [p["port"] for p in apps["/shop/web"]["portDefinitions"]]
    idle_port = apps["/idle"]["portDefinitions"][0]["port"]

    expected_web = "".join(
        f"shop_web\t{service_port}\t" + "".join(f"{t['host']}:{t['ports'][i]}\t" for t in web_tasks) + "\n"
        for i, service_port in enumerate(web_ports))
    assert await text(api, "/v2/apps/shop/web/tasks") == expected_web
    assert await text(api, "/v2/apps/thumbnailer/tasks") == f"thumbnailer\t \t{worker['host']}\t\n"
    assert await text(api, "/v2/apps/idle/tasks") == f"idle\t{idle_port}\t\n"
    assert await text(api, "/v2/tasks") == (f"idle\t{idle_port}\t\n" + expected_web
                                            + f"thumbnailer\t \t{worker['host']}\t\n")
    # The README's first-app step: the third column of the app's list is one endpoint.
    first_line = (await text(api, "/v2/apps/shop/web/tasks")).splitlines()[0]
    assert first_line.split()[2] == f"{web_tasks[0]['host']}:{web_tasks[0]['ports'][0]}"
    # JSON stays the default, and wins when both are accepted.
    resp = await api.get("/v2/tasks", headers={"Accept": "application/json, text/plain"})
    assert resp.status == 200 and len((await resp.json())["tasks"]) == 3
