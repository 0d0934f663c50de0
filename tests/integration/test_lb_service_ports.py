"""Service ports through the real API on localmesos: 0 is assigned from the range and stored, an update keeps
it, a clash is Marathon's 422, and tasks show their service ports and ``ipAddresses``."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from tests.polling import eventually


async def _call(session: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    async with session.request(method, url, json=body) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_service_port_zero_is_assigned_kept_and_clashes_are_422(served: TestServer) -> None:
    base = f"http://127.0.0.1:{served.port}"
    app = {"id": "/web", "cmd": "sleep 600", "cpus": 0.05, "mem": 16, "instances": 1}
    async with aiohttp.ClientSession() as session:
        status, body = await _call(session, "POST", f"{base}/v2/apps", app)
        assert status == 201, body
        status, body = await _call(session, "GET", f"{base}/v2/apps/web")
        port = body["app"]["portDefinitions"][0]["port"]
        assert 10000 <= port < 20000
        status, body = await _call(session, "PUT", f"{base}/v2/apps/web?force=true", {**app, "cpus": 0.06})
        assert status == 200, body
        status, body = await _call(session, "GET", f"{base}/v2/apps/web")
        assert body["app"]["portDefinitions"][0]["port"] == port
        clash = {**app, "id": "/other", "portDefinitions": [{"port": port}]}
        status, body = await _call(session, "POST", f"{base}/v2/apps", clash)
        assert status == 422, body
        assert body["message"] == f"Requested service port {port} conflicts with a service port in app /web"
        status, body = await _call(session, "GET", f"{base}/v2/apps/other")
        assert status == 404
        async def running_with_addresses() -> list[dict[str, Any]] | None:
            _, tasks = await _call(session, "GET", f"{base}/v2/apps/web/tasks")
            found = [t for t in tasks["tasks"] if t["state"] == "TASK_RUNNING" and t["version"]]
            return found if found and found[0]["ipAddresses"] and len(tasks["tasks"]) == 1 else None
        running = await eventually(running_with_addresses, 60, "the task running with its addresses")
        assert running[0]["servicePorts"] == [port]
        assert running[0]["ipAddresses"][0]["protocol"] == "IPv4"
        assert running[0]["ipAddresses"][0]["ipAddress"].startswith("127.")
