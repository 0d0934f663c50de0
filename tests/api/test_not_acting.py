"""A request that reaches an instance while it cannot act (its leader term just ended, or its runtime stopped)
gets 503 in Marathon's error shape, never a 500."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from api.app import ApiConfig, build_api_app
from scheduler.events import EventBus
from scheduler.ha_runner import CurrentPlatform
from scheduler.metrics import Metrics


async def test_a_platform_between_terms_answers_503() -> None:
    platform = CurrentPlatform()  # the real HA platform with no term serving: every use raises NotLeader
    # The composition root wires the scheduler's event bus and meters in, as serve_ha does.
    app = build_api_app(platform, EventBus(), ApiConfig(), metrics=Metrics(process=False))  # type: ignore[arg-type]
    async with TestClient(TestServer(app)) as client:
        for method, path, body in (("GET", "/v2/apps", None), ("GET", "/v2/apps/web", None),
                                   ("POST", "/v2/apps", {"id": "/web", "cmd": "sleep 1"}),
                                   ("GET", "/v2/deployments", None), ("GET", "/v2/queue", None)):
            resp = await client.request(method, path, json=body)
            payload = await resp.json()
            assert resp.status == 503, (method, path, resp.status, payload)
            assert "cannot handle this now" in payload["message"]
