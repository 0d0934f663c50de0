"""A write whose commit fails in the store (ZooKeeper gone under the request) is answered 503, not 500.

Found by the nemesis run (tests/chaos, issue 18): a PUT /v2/apps in flight while the ZooKeeper ensemble was
killed got ``500 Internal error: StoreError``. The outcome of such a commit is unknown and the runtime stops
acting (it must not act on state it could not persist), so the caller is told to retry later, as for a
leadership lost under the request: 503 in Marathon's format. Real parts: a ZooKeeper of the test's own, the
ZooKeeper store, a runtime on localmesos, the API over real HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from api.app import ApiConfig, build_api_app
from scheduler.runtime import RuntimeSettings, SchedulerRuntime
from scheduler.store import ZooKeeperStore
from tests.localmesos.conftest import ThreadedCluster
from tests.zookeeper_server import ZooKeeperServer


def sleeper(app: str) -> dict[str, Any]:
    return {"id": app, "cmd": "sleep 600", "cpus": 0.05, "mem": 16, "instances": 1}


@pytest.fixture
async def api_on_zookeeper(mesos: ThreadedCluster, own_zookeeper: ZooKeeperServer) -> AsyncIterator[str]:
    store = ZooKeeperStore.connect(own_zookeeper.hosts, "/mesospaas", timeout=5.0, request_timeout=3.0)
    # No ticks and no tasks: nothing but the request commits, so the request's own commit is the one that fails.
    runtime = SchedulerRuntime(store, RuntimeSettings(master=mesos.address, tick_interval=3600.0, seed=7,
                                                      decline_refuse_seconds=1.0))
    try:
        await runtime.start()
        server = TestServer(build_api_app(runtime, runtime.events, ApiConfig(master=mesos.address)),
                            host="127.0.0.1")
        async with server:
            yield str(server.make_url(""))
    finally:
        await runtime.stop()
        store.close()


@pytest.mark.slow
async def test_a_commit_failing_in_zookeeper_answers_503(api_on_zookeeper: str,
                                                         own_zookeeper: ZooKeeperServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.put(f"{api_on_zookeeper}/v2/groups/before", json={"id": "/before"}) as resp:
            assert resp.status in (200, 201), await resp.text()  # the store works before
        own_zookeeper.stop()  # the request's commit fails: connection loss, outcome unknown
        async with http.post(f"{api_on_zookeeper}/v2/apps", json=sleeper("/during")) as resp:
            body = await resp.json()
            assert resp.status == 503, body
            assert "state store failed under this request" in body["message"], body
        async with http.post(f"{api_on_zookeeper}/v2/apps", json=sleeper("/after")) as resp:
            body = await resp.json()
            assert resp.status == 503, body  # the runtime stopped acting: later writes are refused too
            assert "has stopped" in body["message"], body
