"""Placement end to end: apps posted to the API, placed by the scheduler on a 3-agent localmesos cluster with
real task processes, and checked where the Mesos master says the tasks run.

The cluster (``conftest.mesos``): three agents with ``cpus:4;mem:4096``, attributes ``rack:r1;zone:a``,
``rack:r2;zone:a``, ``rack:r3;zone:b``. Every check reads ``/master/state`` (the tasks RUNNING there, on which
agent, that agent's hostname and attributes) and first cross-checks it with what the scheduler's API reports
for the app (task ids and agents), so a scheduler whose model disagreed with Mesos would fail here.

Covered: Marathon's constraint operators on the hostname and on agent attributes (UNIQUE, GROUP_BY, CLUSTER,
MAX_PER, LIKE, UNLIKE, IS), ``placementStrategy`` BINPACK against the default SPREAD, and the affinity
extension between apps: REQUIRED AFFINITY / ANTI_AFFINITY on the hostname and on an attribute field, and
PREFERRED rules, which steer placement but never keep an instance from launching.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from tests.localmesos.conftest import ThreadedCluster
from tests.polling import eventually

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Placed:
    """One RUNNING task as the Mesos master reports it."""

    task_id: str
    agent_id: str
    hostname: str
    rack: str
    zone: str


class Cluster:
    """The API of the served scheduler and the Mesos master next to it."""

    def __init__(self, http: ClientSession, served: TestServer, mesos: ThreadedCluster) -> None:
        self.http = http
        self.served = served
        self.mesos = mesos

    async def post_app(self, body: dict[str, Any]) -> None:
        app = {"cmd": "sleep 600", "cpus": 0.1, "mem": 32, **body}
        async with self.http.post(self.served.make_url("/v2/apps"), json=app) as resp:
            assert resp.status == 201, await resp.text()

    async def get(self, path: str) -> Any:
        async with self.http.get(self.served.make_url(path)) as resp:
            assert resp.status == 200, (path, resp.status, await resp.text())
            return await resp.json()

    async def master_state(self) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            with urllib.request.urlopen(f"{self.mesos.url}/master/state", timeout=10) as resp:
                state: dict[str, Any] = json.loads(resp.read())
            return state
        return await asyncio.to_thread(read)

    async def _snapshot(self, app: str) -> tuple[list[Placed], bool]:
        """The app's RUNNING tasks in ``/master/state``, and whether the API reports exactly those."""
        state = await self.master_state()
        agents = {a["id"]: a for a in state["slaves"]}
        prefix = app.strip("/").replace("/", "_") + "."
        tasks = [t for f in state["frameworks"] for t in f["tasks"]
                 if t["id"].startswith(prefix) and t["state"] == "TASK_RUNNING"]
        ours = (await self.get(f"/v2/apps{app}/tasks"))["tasks"]
        ours_running = {(t["id"], t["slaveId"], t["host"]) for t in ours if t["state"] == "TASK_RUNNING"}
        in_mesos = {(t["id"], t["slave_id"], agents[t["slave_id"]]["hostname"]) for t in tasks}
        placed = [Placed(t["id"], t["slave_id"], agents[t["slave_id"]]["hostname"],
                         agents[t["slave_id"]]["attributes"]["rack"], agents[t["slave_id"]]["attributes"]["zone"])
                  for t in tasks]
        return placed, ours_running == in_mesos

    async def placed(self, app: str) -> list[Placed]:
        """The app's RUNNING tasks in ``/master/state``, once the API reports the same ones (its view of the
        status updates may lag a moment behind the master's; a lasting disagreement fails)."""
        async def agreed() -> tuple[list[Placed]] | None:
            placed, same = await self._snapshot(app)
            return (placed,) if same else None
        return (await eventually(agreed, what=f"the scheduler and Mesos to agree on {app}'s tasks"))[0]

    async def running(self, app: str, count: int, settled: bool = True) -> list[Placed]:
        """Waits until exactly ``count`` tasks of ``app`` run in Mesos (and the API agrees), and with ``settled``
        no deployment of the app is left (without: for an app some of whose instances fit nowhere)."""
        async def check() -> list[Placed] | None:
            placed, same = await self._snapshot(app)
            deployments = await self.get("/v2/deployments")
            busy = settled and [d for d in deployments if app in d["affectedApps"]]
            return placed if same and len(placed) == count and not busy else None
        return await eventually(check, what=f"{count} tasks of {app} running in Mesos")

    async def waiting(self, app: str, count: int, reasons: set[str]) -> dict[str, Any]:
        """Waits until ``count`` instances of ``app`` wait in the queue, offers rejected for ``reasons``."""
        async def check() -> dict[str, Any] | None:
            entries = [e for e in (await self.get("/v2/queue"))["queue"] if e["app"]["id"] == app]
            if not entries or entries[0]["count"] != count:
                return None
            summary = entries[0]["processedOffersSummary"]
            seen = {line["reason"] for line in summary["rejectSummaryLastOffers"] if line["declined"]}
            return entries[0] if reasons <= seen else None
        return await eventually(check, what=f"{count} of {app} waiting, rejected for {reasons}")


@pytest.fixture
async def cluster(served: TestServer, mesos: ThreadedCluster) -> AsyncIterator[Cluster]:
    async with ClientSession() as http:
        yield Cluster(http, served, mesos)


def hosts(placed: list[Placed]) -> Counter[str]:
    return Counter(p.hostname for p in placed)


# -- Marathon's constraint operators ----------------------------------------------------------------------
async def test_unique_hostname_one_per_agent_and_no_fourth(cluster: Cluster) -> None:
    await cluster.post_app({"id": "/web", "instances": 3, "constraints": [["hostname", "UNIQUE"]]})
    placed = await cluster.running("/web", 3)
    assert len(hosts(placed)) == 3
    async with cluster.http.put(cluster.served.make_url("/v2/apps/web"), json={"instances": 4}) as resp:
        assert resp.status == 200, await resp.text()
    await cluster.waiting("/web", 1, {"UnfulfilledConstraint"})  # there is no fourth host
    assert sorted(p.task_id for p in await cluster.placed("/web")) == sorted(p.task_id for p in placed)


async def test_group_by_rack_balances(cluster: Cluster) -> None:
    await cluster.post_app({"id": "/spread", "instances": 6, "constraints": [["rack", "GROUP_BY"]]})
    placed = await cluster.running("/spread", 6)
    assert Counter(p.rack for p in placed) == {"r1": 2, "r2": 2, "r3": 2}


async def test_cluster_and_max_per_on_the_zone_attribute(cluster: Cluster) -> None:
    await cluster.post_app({"id": "/zoned", "instances": 2, "constraints": [["zone", "CLUSTER", "b"]]})
    await cluster.post_app({"id": "/perzone", "instances": 3, "constraints": [["zone", "MAX_PER", "1"]]})
    assert {p.zone for p in await cluster.running("/zoned", 2)} == {"b"}
    perzone = await cluster.running("/perzone", 2, settled=False)
    assert sorted(p.zone for p in perzone) == ["a", "b"]
    await cluster.waiting("/perzone", 1, {"UnfulfilledConstraint"})  # only two zones
    assert set(await cluster.placed("/perzone")) == set(perzone)  # the third never launched anywhere


async def test_like_places_only_on_matching_attribute_values(cluster: Cluster) -> None:
    await cluster.post_app({"id": "/liked", "instances": 4, "constraints": [["rack", "LIKE", "r[12]"]]})
    placed = await cluster.running("/liked", 4)
    assert Counter(p.rack for p in placed) == {"r1": 2, "r2": 2}  # spread over the two that match


async def test_unlike_keeps_off_matching_attribute_values(cluster: Cluster) -> None:
    await cluster.post_app({"id": "/unliked", "instances": 3, "constraints": [["zone", "UNLIKE", "a"]]})
    placed = await cluster.running("/unliked", 3)
    assert {(p.rack, p.zone) for p in placed} == {("r3", "b")}


async def test_is_places_only_on_that_exact_value(cluster: Cluster) -> None:
    await cluster.post_app({"id": "/exact", "instances": 2, "constraints": [["rack", "IS", "r2"]]})
    await cluster.post_app({"id": "/nowhere", "instances": 1, "constraints": [["rack", "IS", "r"]]})  # not a prefix
    assert {p.rack for p in await cluster.running("/exact", 2)} == {"r2"}
    await cluster.waiting("/nowhere", 1, {"UnfulfilledConstraint"})
    assert await cluster.placed("/nowhere") == []


async def test_constraint_on_the_hostname_field(cluster: Cluster) -> None:
    state = await cluster.master_state()
    target = sorted(a["hostname"] for a in state["slaves"])[1]
    await cluster.post_app({"id": "/pinned", "instances": 2, "constraints": [["hostname", "IS", target]]})
    assert set(hosts(await cluster.running("/pinned", 2))) == {target}


# -- placementStrategy --------------------------------------------------------------------------------------
async def test_binpack_fills_one_agent_where_spread_uses_all(cluster: Cluster) -> None:
    await cluster.post_app({"id": "/packed", "instances": 3, "placementStrategy": "BINPACK"})
    packed = await cluster.running("/packed", 3)
    assert len(hosts(packed)) == 1  # best fit: the agent it started on has the least room left
    await cluster.post_app({"id": "/spread", "instances": 3})  # SPREAD, the default
    assert len(hosts(await cluster.running("/spread", 3))) == 3
    app = await cluster.get("/v2/apps/packed?embed=app.extensions")
    assert app["app"]["placementStrategy"] == "BINPACK"


# -- affinity between apps (mesospaas extension) ------------------------------------------------------------
def rule(app: str, kind: str, field: str = "hostname", mode: str = "REQUIRED", **extra: Any) -> dict[str, Any]:
    return {"app": app, "type": kind, "field": field, "mode": mode, **extra}


async def test_required_affinity_on_the_hostname(cluster: Cluster) -> None:
    await cluster.post_app({"id": "/db", "instances": 1})
    [db] = await cluster.running("/db", 1)
    await cluster.post_app({"id": "/web", "instances": 3, "affinity": {"apps": [rule("/db", "AFFINITY")]}})
    assert set(hosts(await cluster.running("/web", 3))) == {db.hostname}  # spread would have used all three


async def test_required_anti_affinity_on_the_hostname(cluster: Cluster) -> None:
    await cluster.post_app({"id": "/cache", "instances": 1})
    [cache] = await cluster.running("/cache", 1)
    await cluster.post_app({"id": "/web", "instances": 4,
                            "affinity": {"apps": [rule("/cache", "ANTI_AFFINITY")]}})
    placed = await cluster.running("/web", 4)
    assert cache.hostname not in hosts(placed) and len(hosts(placed)) == 2


async def test_required_affinity_on_an_attribute_field(cluster: Cluster) -> None:
    await cluster.post_app({"id": "/db", "instances": 1, "constraints": [["rack", "IS", "r1"]]})
    await cluster.running("/db", 1)
    await cluster.post_app({"id": "/web", "instances": 4, "affinity": {"apps": [rule("/db", "AFFINITY", "zone")]}})
    placed = await cluster.running("/web", 4)
    assert Counter(p.rack for p in placed) == {"r1": 2, "r2": 2}  # zone a: both of its racks, not r3 (zone b)
    # ANTI_AFFINITY on the same field: only the other zone.
    await cluster.post_app({"id": "/far", "instances": 2,
                            "affinity": {"apps": [rule("/db", "ANTI_AFFINITY", "zone")]}})
    assert {p.zone for p in await cluster.running("/far", 2)} == {"b"}


async def test_preferred_affinity_steers_but_never_blocks(cluster: Cluster) -> None:
    await cluster.post_app({"id": "/db", "instances": 1, "constraints": [["rack", "IS", "r1"]]})
    [db] = await cluster.running("/db", 1)
    # Preferred: next to /db (without it, the least loaded agents, i.e. not /db's, would be chosen).
    await cluster.post_app({"id": "/near", "instances": 1,
                            "affinity": {"apps": [rule("/db", "AFFINITY", mode="PREFERRED", weight=100)]}})
    [near] = await cluster.running("/near", 1)
    assert near.hostname == db.hostname
    # Too big for what is left on /db's agent (4 - 0.1 - 0.1 cpus): a preference gives way and it runs
    # elsewhere, where the same rule REQUIRED keeps it waiting.
    await cluster.post_app({"id": "/soft", "instances": 1, "cpus": 3.9,
                            "affinity": {"apps": [rule("/db", "AFFINITY", mode="PREFERRED")]}})
    await cluster.post_app({"id": "/hard", "instances": 1, "cpus": 3.9,
                            "affinity": {"apps": [rule("/db", "AFFINITY")]}})
    [soft] = await cluster.running("/soft", 1)
    assert soft.hostname != db.hostname
    await cluster.waiting("/hard", 1, {"AffinityUnmet", "InsufficientCpus"})
    assert await cluster.placed("/hard") == []
    app = await cluster.get("/v2/apps/soft?embed=app.extensions")
    assert app["app"]["affinity"]["apps"][0]["mode"] == "PREFERRED"


async def test_preferred_anti_affinity_outweighs_the_load(cluster: Cluster) -> None:
    await cluster.post_app({"id": "/noisy", "instances": 1, "constraints": [["rack", "IS", "r2"]]})  # zone a
    await cluster.post_app({"id": "/filler", "instances": 1, "cpus": 2, "constraints": [["rack", "IS", "r3"]]})
    await cluster.running("/noisy", 1)
    await cluster.running("/filler", 1)
    # Left to the load alone, r1 (empty) would be chosen; the preference for a zone without /noisy wins: r3.
    await cluster.post_app({"id": "/quiet", "instances": 1,
                            "affinity": {"apps": [rule("/noisy", "ANTI_AFFINITY", "zone", "PREFERRED")]}})
    assert [(p.rack, p.zone) for p in await cluster.running("/quiet", 1)] == [("r3", "b")]
