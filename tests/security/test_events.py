"""``/v2/events`` per principal: only events of apps it may read, deployment plans pruned to those apps.

One deployment changes both tenants at once (a root group with ``/team-a`` and ``/team-b``), so its events
carry a plan that names both; each tenant's reader must get the events, with the other tenant cut out of the
steps and of the original and target groups, and none of the other tenant's task events. Then the per
principal limit of concurrent streams (429).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from api.auth import AUTH
from tests.polling import eventually
from tests.security.conftest import Secured

APP = {"cmd": "sleep 600", "cpus": 0.05, "mem": 16, "instances": 1}


async def stream(s: Secured, who: str, into: list[dict[str, Any]], attached: asyncio.Event) -> None:
    async with s.session.get(s.url.rstrip("/") + "/v2/events", headers={**s.who(who),
                                                                         "Accept": "text/event-stream"}) as response:
        assert response.status == 200
        async for line in response.content:
            if line.startswith(b"data: "):
                event = json.loads(line[len(b"data: "):])
                into.append(event)
                if event["eventType"] == "event_stream_attached":
                    attached.set()


def mentions(events: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    return [e for e in events if text in json.dumps(e)]


async def test_each_reader_sees_only_its_tenant_and_pruned_plans(secured: Secured) -> None:
    s = secured
    received: dict[str, list[dict[str, Any]]] = {"reader-a": [], "reader-b": [], "admin": []}
    readers = []
    for who, events in received.items():
        attached = asyncio.Event()
        readers.append(asyncio.create_task(stream(s, who, events, attached)))
        await asyncio.wait_for(attached.wait(), 30)
    try:
        status, _, headers = await s.call("PUT", "/v2/groups", "admin", {"id": "/", "groups": [
            {"id": "/team-a", "apps": [{"id": "/team-a/web", **APP}]},
            {"id": "/team-b", "apps": [{"id": "/team-b/web", **APP}]}]})
        assert status == 200
        deployment = headers["Marathon-Deployment-Id"]

        def finished(who: str) -> bool:
            return any(e["eventType"] == "deployment_success" and e.get("id") == deployment for e in received[who])
        await eventually(lambda: all(finished(w) for w in received), timeout=60, what="deployment_success everywhere")
        await eventually(lambda: all(any(e["eventType"] == "status_update_event" and e["taskStatus"] == "TASK_RUNNING"
                                         for e in received[w]) for w in received), timeout=60, what="task events")
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)

    admin = received["admin"]
    assert mentions(admin, "/team-a/web") and mentions(admin, "/team-b/web")  # the admin sees both: the test is live
    for who, own, other in (("reader-a", "/team-a/web", "/team-b"), ("reader-b", "/team-b/web", "/team-a")):
        events = received[who]
        assert not mentions(events, other), (who, mentions(events, other)[:2])
        success = [e for e in events if e["eventType"] == "deployment_success" and e["id"] == deployment][0]
        plan = success["plan"]
        assert {a["app"] for step in plan["steps"] for a in step["actions"]} == {own}
        target_apps = [a["id"] for g in plan["target"]["groups"] for a in g["apps"]]
        assert target_apps == [own]
        running = [e for e in events if e["eventType"] == "status_update_event"]
        assert running and {e["appId"] for e in running} == {own}


async def test_event_streams_per_principal_are_limited(secured: Secured) -> None:
    s = secured
    s.server.app[AUTH].config.max_event_streams = 1
    attached = asyncio.Event()
    events: list[dict[str, Any]] = []
    first = asyncio.create_task(stream(s, "reader-a", events, attached))
    try:
        await asyncio.wait_for(attached.wait(), 30)
        status, body, _ = await s.call("GET", "/v2/events", "reader-a", headers={"Accept": "text/event-stream"})
        assert status == 429 and "event streams" in body["message"]
        other = asyncio.Event()
        second = asyncio.create_task(stream(s, "reader-b", [], other))  # another principal is not affected
        await asyncio.wait_for(other.wait(), 30)
        second.cancel()
    finally:
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)

    async def freed() -> bool:
        status, _, _ = await s.call("GET", "/v2/events", "reader-a", headers={"Accept": "text/plain"})
        return status == 405 and not s.server.app[AUTH].streams.get("reader-a")
    await eventually(freed, timeout=30, what="the stream's slot released")
