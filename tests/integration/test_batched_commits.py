"""Batched commits (issue 11): deploy requests that arrive while a commit is in flight are planned one by one,
each gets its own answer (201, 409, 422), and those that can go together are committed in ONE ZooKeeper
transaction; a request is answered only after its transaction committed.

Real parts: a ZooKeeper of the test's own, the ZooKeeper store, a runtime on localmesos, the API over real
HTTP. The store is wrapped by ``HeldStore`` to hold the first commit until the test has queued the others
behind it (so the batch forms deterministically, whatever the machine's speed) and to record each commit's
changes; every commit still goes to the real ZooKeeper.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from api.app import ApiConfig, build_api_app
from scheduler.runtime import RuntimeSettings, SchedulerRuntime
from scheduler.store import Change, Put, ZooKeeperStore
from tests.localmesos.conftest import ThreadedCluster
from tests.polling import eventually
from tests.zookeeper_server import ZooKeeperServer


class HeldStore:
    """The real ZooKeeper store; ``hold()`` makes the next commit wait for ``release()``. Records commits."""

    def __init__(self, store: ZooKeeperStore) -> None:
        self.store = store
        self.commits: list[list[Change]] = []
        self._gate = threading.Event()
        self._armed = False
        self.waiting = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def hold(self) -> None:
        self._gate.clear()
        self.waiting.clear()
        self._armed = True

    def release(self) -> None:
        self._gate.set()

    def commit(self, changes: list[Change]) -> None:
        if self._armed:
            self._armed = False
            self.waiting.set()
            self._gate.wait(120)
        self.store.commit(changes)
        self.commits.append(list(changes))


def sleeper(app: str, **kw: Any) -> dict[str, Any]:
    return {"id": app, "cmd": "sleep 600", "cpus": 0.01, "mem": 8, "instances": 1, **kw}


@pytest.fixture
async def held(mesos: ThreadedCluster, own_zookeeper: ZooKeeperServer) -> AsyncIterator[tuple[str, HeldStore,
                                                                                         SchedulerRuntime]]:
    store = HeldStore(ZooKeeperStore.connect(own_zookeeper.hosts, "/mesospaas", timeout=5.0, request_timeout=10.0))
    runtime = SchedulerRuntime(store, RuntimeSettings(master=mesos.address, tick_interval=3600.0, seed=7,  # type: ignore[arg-type]
                                                      decline_refuse_seconds=1.0))
    try:
        await runtime.start()
        await asyncio.wait_for(runtime.subscribed.wait(), 60)  # the framework id is committed before the test
        server = TestServer(build_api_app(runtime, runtime.events, ApiConfig(master=mesos.address)), host="127.0.0.1")
        async with server:
            yield str(server.make_url("")), store, runtime
    finally:
        await runtime.stop()
        store.store.close()


def apps_put(commit: list[Change]) -> set[str]:
    return {c.key for c in commit if isinstance(c, Put) and c.namespace == "apps"}


@pytest.mark.slow
async def test_requests_queued_behind_a_commit_are_answered_each_and_committed_together(
        held: tuple[str, HeldStore, SchedulerRuntime]) -> None:
    url, store, runtime = held
    async with aiohttp.ClientSession() as http:
        async def send(method: str, path: str, body: Any) -> tuple[int, Any, str | None]:
            async with http.request(method, url + path, json=body) as resp:
                return resp.status, await resp.json(), resp.headers.get("Marathon-Deployment-Id")

        base = len(store.commits)
        store.hold()
        first = asyncio.ensure_future(send("POST", "/v2/apps", sleeper("/first")))
        await eventually(store.waiting.is_set)  # the first commit is in flight (held)
        requests = [("POST", "/v2/apps", sleeper(f"/batch/app{n:02d}")) for n in range(20)]
        requests.append(("PUT", "/v2/apps/first", sleeper("/first", cmd="sleep 601")))  # /first's deployment runs
        requests.append(("PUT", "/v2/apps/batch/app03", sleeper("/batch/app03", cmd="sleep 602")))  # twice in the burst
        requests.append(("POST", "/v2/apps", {"id": "/bad", "cmd": "x", "mem": -1}))  # invalid: 422, nothing queued
        requests.append(("PUT", "/v2/groups/batch/empty", {"id": "/batch/empty"}))
        sent = [asyncio.ensure_future(send(*r)) for r in requests]
        queued = len(requests) - 1  # all but the invalid one reach the runtime
        try:
            await eventually(lambda: runtime._events.qsize() >= queued)
            assert len(store.commits) == base  # nothing committed yet: every request waits behind the held one
        finally:
            store.release()
        status, body, first_id = await first
        assert status == 201, body
        answers = await asyncio.gather(*sent)

    created = answers[:20]
    assert all(s == 201 for s, _, _ in created), created
    ids = [d for _, _, d in created] + [first_id]
    assert len(set(ids)) == len(ids) and None not in ids  # distinct deployment ids
    conflict_status, conflict, _ = answers[20]
    assert conflict_status == 409 and conflict["deployments"][0]["id"] == first_id, conflict  # a 409 stays a 409
    again_status, again, _ = answers[21]
    assert again_status == 409 and again["deployments"][0]["id"] == created[3][2], again  # planned after the batch: locked
    assert answers[22][0] == 422 and answers[22][1]["details"], answers[22]
    assert answers[23][0] == 200 and answers[23][1]["deploymentId"], answers[23]  # PUT of a group: 200, as Marathon
    assert runtime.state.root.group("/batch/empty") is not None

    # The first commit alone; the 20 creations (and the group) together in one transaction.
    commits = store.commits[base:]
    assert apps_put(commits[0]) == {"/first"}
    together = [c for c in commits[1:] if apps_put(c) & {f"/batch/app{n:02d}" for n in range(20)}]
    assert len(together) == 1, [sorted(apps_put(c)) for c in commits]
    assert apps_put(together[0]) == {f"/batch/app{n:02d}" for n in range(20)}
    assert sum(1 for c in together[0] if isinstance(c, Put) and c.namespace == "deployments") == 20
    # What every answer promised is what the store holds, and what a new leader would load.
    stored_apps = set(store.store.load("apps"))
    assert {f"/batch/app{n:02d}" for n in range(20)} | {"/first"} <= stored_apps and "/bad" not in stored_apps
    assert set(runtime.state.apps) == stored_apps
    assert set(ids) <= set(store.store.load("deployments")) | set(runtime.state.finished)
