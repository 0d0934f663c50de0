"""A standby in front of a real leader: the scheduler runtime on a real localmesos cluster, over real HTTP.

The leader is the API over a started ``SchedulerRuntime`` with a ``Leadership`` that says it leads; the standby
is an API application over ``NoPlatform`` (it must never read a platform, see ``tests.api.leadership``) whose
``Leadership`` names the leader. Both listen on random ports of 127.0.0.1. What goes through the standby must
come back as the leader answers it, plus the standby's ``X-Marathon-Via``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from api.app import ApiConfig, build_api_app
from tests.api.leadership import Leadership, address, api_app, serve

from .conftest import RuntimeHandle

ZK = "zk://operator:secret@127.0.0.1:2181/mesospaas"


@dataclass
class Pair:
    leader: TestServer
    leading: Leadership
    standby: TestServer
    view: Leadership

    def at(self, server: TestServer, path: str) -> str:
        return f"http://{address(server)}{path}"


@pytest.fixture
async def pair(scheduler: RuntimeHandle) -> AsyncIterator[Pair]:
    runtime = await scheduler.start()
    leading = Leadership(is_leader=True)
    config = ApiConfig(master=scheduler.mesos.address, zk=ZK)
    async with serve(build_api_app(runtime, runtime.events, config, leadership=leading), leading) as leader:
        view = Leadership(leader=leading.me)
        async with serve(api_app(view, master=scheduler.mesos.address, zk=ZK), view) as standby:
            yield Pair(leader, leading, standby, view)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


def web_app(app_id: str = "/web", instances: int = 1) -> dict[str, Any]:
    return {"id": app_id, "cmd": "sleep 600", "cpus": 0.1, "mem": 32, "instances": instances}


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    """Awaits ``check()`` until it returns something truthy; fails with its last value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s; last value: {str(last)[:500]}")


async def get_json(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as resp:
        return resp.status, await resp.json()


async def test_apps_through_a_standby(pair: Pair, http: aiohttp.ClientSession) -> None:
    async with http.post(pair.at(pair.standby, "/v2/apps?force=false"), json=web_app()) as resp:
        assert resp.status == 201, await resp.text()
        assert resp.headers["Location"] == "/v2/apps/web"
        assert resp.headers["Marathon-Deployment-Id"]
        assert resp.headers["X-Marathon-Leader"] == f"http://{pair.leading.me}"
        assert resp.headers["X-Marathon-Via"] == f"1.1 {pair.view.me}"
        created = await resp.json()
        assert created["id"] == "/web" and created["instances"] == 1

    async def running(count: int) -> Any:
        # The same app through both, when nothing changed in between (the leader's answer read on each side).
        status, before = await get_json(http, pair.at(pair.leader, "/v2/apps/web?embed=app.tasks"))
        _, through = await get_json(http, pair.at(pair.standby, "/v2/apps/web?embed=app.tasks"))
        _, after = await get_json(http, pair.at(pair.leader, "/v2/apps/web?embed=app.tasks"))
        stable = status == 200 and before == after and before["app"]["tasksRunning"] == count
        return stable and through == before and through

    await until(lambda: running(1))
    status, listed = await get_json(http, pair.at(pair.standby, "/v2/apps?id=we&embed=apps.counts"))
    assert status == 200 and [a["id"] for a in listed["apps"]] == ["/web"]

    async with http.put(pair.at(pair.standby, "/v2/apps/web?force=true"), json={"instances": 2}) as resp:
        assert resp.status == 200, await resp.text()
        assert set(await resp.json()) == {"deploymentId", "version"} and resp.headers["Marathon-Deployment-Id"]
    await until(lambda: running(2))

    async with http.delete(pair.at(pair.standby, "/v2/apps/web")) as resp:
        assert resp.status == 200 and resp.headers["Marathon-Deployment-Id"]

    async def gone() -> bool:
        status, body = await get_json(http, pair.at(pair.standby, "/v2/apps/web"))
        return status == 404 and body == {"message": "App '/web' does not exist"}

    await until(gone)


async def test_info_and_leader_through_a_standby_and_on_the_leader(pair: Pair, http: aiohttp.ClientSession) -> None:
    answers = []
    for server in (pair.leader, pair.standby):
        async with http.get(pair.at(server, "/v2/info")) as resp:
            assert resp.status == 200
            assert resp.headers["X-Marathon-Leader"] == f"http://{pair.leading.me}"
            assert ("X-Marathon-Via" in resp.headers) == (server is pair.standby)
            answers.append(await resp.json())
    on_leader, through_standby = answers
    assert on_leader == through_standby  # the standby's answer is the leader's
    assert on_leader["elected"] is True and on_leader["leader"] == pair.leading.me
    assert on_leader["marathon_config"]["ha"] is True
    assert on_leader["zookeeper_config"] == {"zk": "zk://127.0.0.1:2181/mesospaas"}  # no credentials shown
    assert "secret" not in json.dumps(on_leader)
    for server in (pair.leader, pair.standby):
        assert await get_json(http, pair.at(server, "/v2/leader")) == (200, {"leader": pair.leading.me})


async def test_the_event_stream_is_reached_through_the_redirect(pair: Pair, http: aiohttp.ClientSession) -> None:
    path = "/v2/events?event_type=event_stream_attached"
    async with http.get(pair.at(pair.standby, path), headers={"Accept": "text/event-stream"}) as resp:
        assert [r.status for r in resp.history] == [302]
        assert str(resp.url) == pair.at(pair.leader, path)
        assert resp.status == 200 and resp.headers["X-Marathon-Leader"] == f"http://{pair.leading.me}"
        frame = await resp.content.readuntil(b"\r\n\r\n")
    assert frame.startswith(b"event: event_stream_attached\r\n")
