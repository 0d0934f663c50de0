"""Losing ZooKeeper quorum under three ``mesospaas serve`` instances (issue 18), all of it real: an ensemble of
three ZooKeeper nodes (two stopped: quorum lost, the data kept), localmesos in process mode, real tasks.

While quorum is lost: the leader stops acting, Mesos keeps every task running, the former leader answers reads
from its last state with ``X-Mesospaas-Stale: true``, standbys (which never loaded state) answer reads 503,
every write gets 503 in Marathon's format. Once quorum returns: a leader is elected, reads carry no header
again, nothing was restarted (same task ids in the API and in Mesos) and a scale-up launches.
"""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import ApiConfig, build_api_app
from scheduler.ha_runner import CurrentPlatform
from scheduler.metrics import Metrics
from tests.chaos.zk_ensemble import ZooKeeperEnsemble
from tests.localmesos.conftest import ThreadedCluster
from tests.polling import wait_for

from .conftest import RuntimeHandle, eventually, running
from .test_ha import Instance, call, leader_of, mesos_running_tasks, running_ids, sleeper

STALE = "X-Mesospaas-Stale"
READS = ("/v2/apps", "/v2/apps/q", "/v2/apps/q/tasks", "/v2/groups", "/v2/tasks", "/v2/deployments",
         "/v2/queue", "/v2/info")


@pytest.fixture
def ensemble(tmp_path: Path) -> Iterator[ZooKeeperEnsemble]:
    zk = ZooKeeperEnsemble(tmp_path / "zk")
    try:
        zk.start_all()
        yield zk
    finally:
        zk.stop_all()


def _reconciliations(inst: Instance) -> float:
    """The instance's own ``mesospaas_task_reconciliations_total`` (each instance serves its own meters)."""
    with urllib.request.urlopen(f"{inst.url}/metrics/prometheus", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("mesospaas_task_reconciliations_total "):
                return float(line.split()[1])
    return 0.0


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


@pytest.mark.slow
def test_reads_stay_and_writes_wait_while_quorum_is_lost(mesos: ThreadedCluster, ensemble: ZooKeeperEnsemble,
                                                         tmp_path: Path) -> None:
    hosts = ",".join(f"{h}:{p}" for h, p in ensemble.addresses)
    zk_url = f"zk://{hosts}/quorum-{uuid.uuid4().hex[:8]}/mesospaas"
    instances = [Instance(f"mesospaas-{n}", zk_url, mesos, tmp_path) for n in range(3)]
    try:
        leader = wait_for(lambda: leader_of(instances), 60, "a leader")
        status, body, headers = call("POST", f"{leader.url}/v2/apps", sleeper("/q", 2))
        assert status == 201, body
        assert _header(headers, STALE) is None
        before = wait_for(lambda: running_ids(leader.url, "/q", 2), 60, "two running tasks")
        assert before <= mesos_running_tasks(mesos)
        for path in READS:
            status, _, headers = call("GET", f"{leader.url}{path}")
            assert status == 200 and _header(headers, STALE) is None, (path, status)

        reconciled = {inst.name: _reconciliations(inst) for inst in instances}
        # Two of three nodes down: no quorum, but the third keeps the data.
        ensemble.nodes[0].stop()
        ensemble.nodes[1].stop()
        wait_for(lambda: ensemble.nodes[2].mode() not in ("leader", "follower"), 60, "the last node without quorum")

        def stale_leader() -> bool:
            status, _, headers = call("GET", f"{leader.url}/v2/apps", timeout=5)
            return status == 200 and _header(headers, STALE) == "true"
        wait_for(stale_leader, 60, "the former leader serving stale reads")
        for path in READS:
            status, body, headers = call("GET", f"{leader.url}{path}", timeout=10)
            assert (status, _header(headers, STALE)) == (200, "true"), (path, status, body)
        status, body, _ = call("GET", f"{leader.url}/v2/apps/q/tasks")
        assert {t["id"] for t in body["tasks"] if t["state"] == "TASK_RUNNING"} == before
        standbys = [i for i in instances if i is not leader]
        for inst in standbys:
            wait_for(lambda: call("GET", f"{inst.url}/v2/apps", timeout=5)[0] == 503, 60,
                     f"{inst.name} answering reads 503 (it never loaded state)")
            status, body, headers = call("GET", f"{inst.url}/v2/apps")
            assert "ZooKeeper" in body["message"] and _header(headers, STALE) is None
        for inst in instances:
            status, body, _ = call("PUT", f"{inst.url}/v2/apps/q", {"instances": 3}, timeout=10)
            assert status == 503 and "ZooKeeper is unavailable" in body["message"], (inst.name, status, body)
            status, body, _ = call("POST", f"{inst.url}/v2/apps", sleeper("/new", 1), timeout=10)
            assert status == 503, (inst.name, status, body)
        assert before <= mesos_running_tasks(mesos)  # Mesos keeps every task running

        # Quorum returns: a leader is elected, nothing was restarted, writes work again.
        ensemble.nodes[0].start()
        ensemble.nodes[1].start()
        ensemble.wait_quorum()
        leader = wait_for(lambda: leader_of(instances), 90, "a leader after quorum returned")
        status, _, headers = call("GET", f"{leader.url}/v2/apps")
        assert status == 200 and _header(headers, STALE) is None
        # The leader (the same one, its session kept, or a new one) reconciles with Mesos after the outage.
        wait_for(lambda: _reconciliations(leader) > reconciled[leader.name], 60, "a reconciliation after the outage")
        assert wait_for(lambda: running_ids(leader.url, "/q", 2), 60, "the same two tasks") == before
        status, body, _ = call("PUT", f"{leader.url}/v2/apps/q", {"instances": 3})
        assert status == 200, body
        after = wait_for(lambda: running_ids(leader.url, "/q", 3), 60, "a third task")
        assert before < after and after <= mesos_running_tasks(mesos)
        for inst in instances:
            status, _, headers = call("GET", f"{inst.url}/v2/apps/q")
            assert status == 200 and _header(headers, STALE) is None, inst.name
    finally:
        for inst in instances:
            inst.stop()


class _View:
    """This instance's election as the API sees it, set by the test (the real one needs ZooKeeper to change)."""

    def __init__(self) -> None:
        self.coordination_lost = True
        self.is_leader = False
        self.leader: str | None = None
        self.me = "127.0.0.1:1"

    async def abdicate(self) -> None:
        raise AssertionError("nothing abdicates here")


async def test_a_former_leader_serves_its_last_state_after_its_term_ended(scheduler: RuntimeHandle) -> None:
    runtime = await scheduler.start()
    direct = build_api_app(runtime, runtime.events, ApiConfig(), metrics=Metrics(process=False))
    async with TestClient(TestServer(direct)) as client:  # the app as a client created it, while leading
        resp = await client.post("/v2/apps", json=sleeper("/kept", 1))
        assert resp.status == 201, await resp.text()
    await eventually(lambda: running(runtime, "/kept"))
    platform = CurrentPlatform()
    view = _View()
    app = build_api_app(platform, runtime.events, ApiConfig(leader_settle_retries=0), leadership=view,
                        metrics=Metrics(process=False))  # type: ignore[arg-type]
    async with TestClient(TestServer(app)) as client:
        # Never led: reads 503 (nothing loaded), writes 503; no stale header on either.
        resp = await client.get("/v2/apps")
        assert resp.status == 503 and STALE not in resp.headers
        assert "never loaded state" in (await resp.json())["message"]
        platform.serve(runtime)  # a term: the runtime serves ...
        platform.serve(None)  # ... and the term ends while ZooKeeper is out of reach
        from api.stale_reads import serving_stale
        resp = await client.get("/v2/apps/kept")
        assert resp.status == 200 and resp.headers[STALE] == "true", await resp.text()
        assert (await resp.json())["app"]["id"] == "/kept"
        resp = await client.put("/v2/apps/kept", json={"instances": 2})
        assert resp.status == 503 and "ZooKeeper is unavailable" in (await resp.json())["message"]
        resp = await client.get("/v2/leader")
        assert resp.status == 503 and STALE not in resp.headers
        # ZooKeeper back, no leader known yet: the usual answer, never stale.
        view.coordination_lost = False
        resp = await client.get("/v2/apps")
        assert resp.status == 502 and STALE not in resp.headers
