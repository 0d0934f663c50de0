"""``mesospaas lb --run-haproxy`` end to end on localmesos: real tasks, real HAProxy, loopback, free ports.

An HTTP app behind a vhost answers through HAProxy while it is scaled, has tasks killed and is rolled to a new
version, with a steady stream of requests running the whole time: every failed request is counted and the
test fails on any. ``mesospaas lb zdd`` moves the traffic to a new colour without a failed request. A bad label on one app leaves that app out and later changes still apply. With two API
instances under ZooKeeper, the lb follows the new leader when the old one is killed.

Health gating uses MESOS_TCP checks (Mesos runs them, the verdict reaches ``healthCheckResults``); Marathon-level
HTTP checks are covered by the renderer's golden tests.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from scheduler.lb.haproxy import stand_in_path
from tests.integration.test_ha import Instance, call, leader_of, start, zk_url  # noqa: F401 - fixtures
from tests.polling import wait_for
from tests.routing.lb_process import ROOT, LbProcess, graceful_app
from tests.zookeeper_server import free_port

pytestmark = pytest.mark.slow


class Load:
    """Steady GETs through HAProxy's vhost frontend, a fresh connection each; every failure is kept."""

    def __init__(self, port: int, vhost: str, interval: float = 0.02) -> None:
        self.url = f"http://127.0.0.1:{port}/"
        self.vhost = vhost
        self.interval = interval
        self.ok = 0
        self.failures: list[str] = []
        self.bodies: list[str] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=15)) as session:
            while True:
                began = time.monotonic()
                try:
                    async with session.get(self.url, headers={"Host": self.vhost}) as resp:
                        text = await resp.text()
                        if resp.status == 200:
                            self.ok += 1
                            self.bodies.append(text.strip())
                        else:
                            self.failures.append(f"{time.strftime('%H:%M:%S')} HTTP {resp.status}: {text[:60]}")
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    self.failures.append(f"{time.strftime('%H:%M:%S')} {exc!r}")
                await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - began)))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def until(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} not met within {timeout} s; last: {last!r}")


@pytest.fixture
async def lb(served: TestServer, tmp_path: Path) -> AsyncIterator[LbProcess]:
    process = await asyncio.to_thread(LbProcess, [f"http://127.0.0.1:{served.port}"], tmp_path / "lb")
    yield process
    await asyncio.to_thread(process.stop)
    print(process.log())  # shown when the test failed


async def api(session: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    async with session.request(method, url, json=body) as resp:
        return resp.status, await resp.json(content_type=None)


async def ready_servers(lb: LbProcess, backend: str) -> list[dict[str, Any]]:
    servers = await asyncio.to_thread(lb.servers, backend)
    return [s for s in servers if s["state"] == "ready"]


async def deployments_done(session: aiohttp.ClientSession, base: str) -> bool:
    status, body = await api(session, "GET", f"{base}/v2/deployments")
    return status == 200 and body == []


async def test_no_request_fails_while_scaling_killing_and_rolling(served: TestServer, lb: LbProcess) -> None:
    base = f"http://127.0.0.1:{served.port}"
    port = free_port()
    backend = f"web_{port}"
    async with aiohttp.ClientSession() as session:
        status, body = await api(session, "POST", f"{base}/v2/apps", graceful_app("/web", port, 2))
        assert status == 201, body
        await until(lambda: deployments_done(session, base), what="first deployment")
        await until(lambda: _len_is(ready_servers(lb, backend), 2), what="two servers")
        load = Load(lb.http_port, "web.test")
        load.start()
        try:
            await until(lambda: _async(load.ok >= 20), what="requests flowing")
            # scale: new servers through the runtime API
            reloads = (await asyncio.to_thread(lb.status))["reloads"]
            status, body = await api(session, "PUT", f"{base}/v2/apps/web", {"instances": 4})
            assert status == 200, body
            await until(lambda: _len_is(ready_servers(lb, backend), 4), what="four servers")
            after_scale = await asyncio.to_thread(lb.status)
            assert after_scale["runtimeUpdates"] >= 1 and after_scale["reloads"] == reloads
            # kill a task: it drains, its replacement joins
            status, tasks = await api(session, "GET", f"{base}/v2/apps/web/tasks")
            victim = tasks["tasks"][0]["id"]
            status, body = await api(session, "DELETE", f"{base}/v2/apps/web/tasks/{victim}")
            assert status == 200, body

            async def replaced() -> bool:
                ready = await ready_servers(lb, backend)
                return len(ready) == 4 and victim not in {s["taskId"] for s in ready}
            await until(replaced, what="killed task replaced")
            # roll to v2 with health checks
            app = graceful_app("/web", port, 4, version="v2")
            status, body = await api(session, "PUT", f"{base}/v2/apps/web", app)
            assert status == 200, body
            await until(lambda: deployments_done(session, base), timeout=120, what="rolling deployment")
            await until(lambda: _async(bool(load.bodies) and load.bodies[-1].startswith("v2")), what="v2 serving")
            seen = len(load.bodies)
            await until(lambda: _async(len(load.bodies) >= seen + 20), what="more requests")
            assert all(b.startswith("v2") for b in load.bodies[seen:])
        finally:
            await load.stop()
    assert load.failures == [], (load.failures[:10], lb.log())
    assert load.ok > 100


async def test_a_bad_label_leaves_that_app_out_and_other_changes_still_apply(served: TestServer,
                                                                            lb: LbProcess) -> None:
    base = f"http://127.0.0.1:{served.port}"
    good_port, bad_port = free_port(), free_port()
    async with aiohttp.ClientSession() as session:
        status, body = await api(session, "POST", f"{base}/v2/apps", graceful_app("/good", good_port, 1))
        assert status == 201, body
        await until(lambda: _len_is(ready_servers(lb, f"good_{good_port}"), 1), what="good app served")
        bad = graceful_app("/bad", bad_port, 1, vhost="bad.test",
                           labels={"HAPROXY_0_BALANCE": "no-such-algorithm"})
        status, body = await api(session, "POST", f"{base}/v2/apps", bad)
        assert status == 201, body

        async def bad_excluded() -> dict[str, Any] | None:
            excluded = (await asyncio.to_thread(lb.status))["excluded"]
            return next((e for e in excluded if e["appId"] == "/bad"), None)
        reason = await until(bad_excluded, what="bad app left out")
        assert "HAProxy rejects its config" in reason["reason"]
        status, body = await api(session, "PUT", f"{base}/v2/apps/good", {"instances": 2})
        assert status == 200, body
        await until(lambda: _len_is(ready_servers(lb, f"good_{good_port}"), 2), what="good app scaled")
    assert "mesospaas_lb_invalid_configs_total" in lb.metrics()
    assert f"bad_{bad_port}" not in lb.config.read_text()


def test_the_lb_follows_the_new_leader(start: Callable[[str, int], list[Instance]], zk_url: str,  # noqa: F811
                                       tmp_path: Path) -> None:
    instances = start(zk_url, 2)
    leader = wait_for(lambda: leader_of(instances), 60, "a leader")
    port = free_port()
    status, body, _ = call("POST", f"{leader.url}/v2/apps", graceful_app("/web", port, 1))
    assert status == 201, body
    lb = LbProcess([i.url for i in instances], tmp_path / "lb")
    try:
        wait_for(lambda: len([s for s in lb.servers(f"web_{port}") if s["state"] == "ready"]) == 1, 60,
                 "served through the first leader")
        leader.proc.send_signal(signal.SIGKILL)
        leader.proc.wait()
        survivors = [i for i in instances if i is not leader]
        new = wait_for(lambda: leader_of(survivors), 60, "a new leader")
        status, body, _ = call("PUT", f"{new.url}/v2/apps/web", {"instances": 2})
        assert status == 200, body
        wait_for(lambda: len([s for s in lb.servers(f"web_{port}") if s["state"] == "ready"]) == 2, 90,
                 "the change made on the new leader applied")
        assert lb.status()["api"] == new.url
    finally:
        lb.stop()


async def _len_is(servers: Any, count: int) -> bool:
    return len(await servers) == count


async def _async(value: bool) -> bool:
    return value


async def _zdd(base: str, lb: LbProcess, definition: dict[str, Any], work: Path) -> tuple[int, str]:
    path = work / f"{definition['env']['VERSION']}.json"
    path.write_text(json.dumps(definition))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "scheduler.cli", "lb", "zdd", "--api", base, "--json", str(path),
        "--marathon-lb", f"http://127.0.0.1:{lb.stats_port}", "--step-delay", "0.5", "--max-wait", "120",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=300)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, output.decode(errors="replace")


async def test_zdd_shifts_traffic_to_the_new_colour_without_a_failed_request(served: TestServer, lb: LbProcess,
                                                                             tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{served.port}"
    port, alt = free_port(), free_port()
    labels = {"HAPROXY_DEPLOYMENT_GROUP": "shop", "HAPROXY_DEPLOYMENT_ALT_PORT": str(alt)}

    def definition(version: str) -> dict[str, Any]:
        app = graceful_app("/shop", port, 2, version=version, vhost="shop.test", labels=labels)
        app["upgradeStrategy"] = {"minimumHealthCapacity": 1, "maximumOverCapacity": 1}
        return app
    code, output = await _zdd(base, lb, definition("v1"), tmp_path)
    assert code == 0, output
    backend = f"shop_{port}"
    await until(lambda: _len_is(ready_servers(lb, backend), 2), what="blue served")
    load = Load(lb.http_port, "shop.test")
    load.start()
    try:
        await until(lambda: _async(load.ok >= 20), what="requests flowing")
        code, output = await _zdd(base, lb, definition("v2"), tmp_path)
        assert code == 0, output
        seen = len(load.bodies)
        await until(lambda: _async(len(load.bodies) >= seen + 20), what="more requests")
    finally:
        await load.stop()
    async with aiohttp.ClientSession() as session:
        status, body = await api(session, "GET", f"{base}/v2/apps")
    assert sorted(a["id"] for a in body["apps"]) == ["/shop-green"]
    assert all(b.startswith("v2") for b in load.bodies[seen:])
    assert load.failures == [], (load.failures[:10], lb.log())


async def test_the_lb_serves_from_a_work_dir_too_deep_for_haproxy_sockets(served: TestServer, tmp_path: Path) -> None:
    """HAProxy refuses socket paths over 97 bytes; the lb's stand-ins (``socket_path``) carry the master's
    ``show proc`` and the runtime API, and are gone when the lb stops."""
    work = tmp_path / ("d" * 60) / ("e" * 60) / "lb"
    config = (work / "haproxy.cfg").resolve()
    stand_ins = [stand_in_path(config.with_name("haproxy.cfg.master.sock")), stand_in_path(config.with_suffix(".sock"))]
    assert all(stand_ins), stand_ins  # both sockets are too long where the lb would put them
    base = f"http://127.0.0.1:{served.port}"
    port = free_port()
    lb = await asyncio.to_thread(LbProcess, [base], work)
    try:
        async with aiohttp.ClientSession() as session:
            status, body = await api(session, "POST", f"{base}/v2/apps", graceful_app("/deep", port, 1))
            assert status == 201, body
            await until(lambda: _len_is(ready_servers(lb, f"deep_{port}"), 1), what="served")
            assert all(p is not None and p.is_socket() for p in stand_ins), stand_ins
            status, body = await api(session, "PUT", f"{base}/v2/apps/deep", {"instances": 2})
            assert status == 200, body
            await until(lambda: _len_is(ready_servers(lb, f"deep_{port}"), 2), what="scaled")
            status_now = await asyncio.to_thread(lb.status)
            assert status_now["haproxy"]["running"] and status_now["haproxy"]["restarts"] == 0, lb.log()
            assert status_now["runtimeUpdates"] >= 1, status_now  # the scale-up went through the admin socket
    finally:
        await asyncio.to_thread(lb.stop)
        print(lb.log())
    assert not [p for p in stand_ins if p is not None and p.parent.exists()], stand_ins
