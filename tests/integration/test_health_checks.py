"""Health checks end to end on a real localmesos cluster with real task processes (issue 10, "Health").

The tasks are ``health_task.py`` servers (in this folder) that turn unhealthy when the test drops a marker file
named after their task id. The leader's HTTP and TCP checks and Mesos' COMMAND and MESOS_HTTP checks are run
for real; the tests wait on outcomes (kills, replacements, results, events), never on durations.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from marathon.models.app import MarathonApp
from marathon.models.events import EventFactory

from api.app import ApiConfig, build_api_app
from mesospaas.model import AppId
from scheduler.runtime import SchedulerRuntime
from scheduler.task_failures import TASK_FAILURES

from tests.localmesos.conftest import ThreadedCluster, make_config

from .conftest import RACKED, RuntimeHandle

TASK = Path(__file__).parent / "health_task.py"
HEALTH_EVENTS = ("health_status_changed_event", "instance_health_changed_event", "failed_health_check_event",
                 "unhealthy_instance_kill_event")


@pytest.fixture
def mesos(tmp_path: Path) -> Iterator[ThreadedCluster]:
    """The integration cluster, on agent addresses of its own (random loopback addresses; the port slices are
    this test worker's, see ``tests/host_ports.py``): the tasks here listen on their host ports, and a shared test
    machine runs other suites' localmesos tasks on the default ones."""
    rng = random.Random()
    net = f"127.{rng.randrange(10, 250)}.{rng.randrange(1, 250)}"
    config = make_config(tmp_path, 3, attributes=RACKED, resources="cpus:4;mem:4096;disk:10000",
                         agent_ping_timeout=0.5, max_agent_ping_timeouts=2)  # ports: this worker's (host_ports)
    for n, spec in enumerate(config.agents):
        spec.hostname = f"{net}.{n + 2}"
    cluster = ThreadedCluster(config)
    yield cluster
    cluster.stop()


def health_app(app_id: str, markers: Path, check: dict[str, Any], instances: int = 1,
               mode: str = "http") -> dict[str, Any]:
    bind = "--bind-loopback " if check["protocol"].startswith("MESOS_") else ""
    return {"id": app_id,
            "cmd": f"{sys.executable} {TASK} --port $PORT0 --marker-dir {markers} --mode {mode} {bind}".strip(),
            "cpus": 0.1, "mem": 64, "instances": instances, "backoffSeconds": 1, "healthChecks": [check]}


def leader_check(protocol: str = "HTTP", **extra: Any) -> dict[str, Any]:
    check = {"protocol": protocol, "portIndex": 0, "gracePeriodSeconds": 60, "intervalSeconds": 1,
             "timeoutSeconds": 2, "maxConsecutiveFailures": 2, **extra}
    if protocol.endswith("HTTP") or protocol.endswith("HTTPS"):
        check["path"] = "/health"
    return check


@asynccontextmanager
async def api_of(runtime: SchedulerRuntime, master: str) -> AsyncIterator[str]:
    server = TestServer(build_api_app(runtime, runtime.events, ApiConfig(master=master)), host="127.0.0.1")
    async with server:
        yield str(server.make_url("")).rstrip("/")


class EventLog:
    """``/v2/events`` read over real HTTP (SSE) in the background."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._response: aiohttp.ClientResponse | None = None

    async def start(self, session: aiohttp.ClientSession, base: str, types: tuple[str, ...] = ()) -> None:
        query = "".join(f"&event_type={t}" for t in types).lstrip("&")
        resp = await session.get(f"{base}/v2/events" + (f"?{query}" if query else ""),
                                 headers={"Accept": "text/event-stream"}, timeout=aiohttp.ClientTimeout(total=None))
        assert resp.status == 200
        self._response = resp
        attached = await resp.content.readuntil(b"\r\n\r\n")
        assert attached.startswith(b"event: event_stream_attached")

        async def read() -> None:
            while True:
                try:
                    frame = await resp.content.readuntil(b"\r\n\r\n")
                except (aiohttp.ClientError, asyncio.IncompleteReadError):
                    return  # the server went away (end of the test)
                for line in frame.split(b"\r\n"):
                    if line.startswith(b"data: "):
                        self.events.append(json.loads(line[6:]))
        self._task = asyncio.get_running_loop().create_task(read())

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["eventType"] in types]

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._response is not None:
            self._response.close()


async def until(check: Any, timeout: float = 60.0, what: str = "condition") -> Any:
    """Polls an async ``check`` until it returns something truthy (the deadline only bounds a broken run)."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} not met within {timeout}s; last: {json.dumps(last, default=str)[:800]}")


async def get_app(session: aiohttp.ClientSession, base: str, app_id: str, query: str = "") -> dict[str, Any]:
    async with session.get(f"{base}/v2/apps{app_id}{query}") as resp:
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = (await resp.json())["app"]
        return body


def healthy_task(app: dict[str, Any]) -> dict[str, Any] | None:
    tasks = [t for t in app.get("tasks", []) if t["state"] == "TASK_RUNNING" and t["healthCheckResults"]
             and all(r["alive"] for r in t["healthCheckResults"])]
    return tasks[0] if len(tasks) == app["instances"] and app["tasksHealthy"] == app["instances"] else None


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def _kill_and_replace(scheduler: RuntimeHandle, session: aiohttp.ClientSession, tmp_path: Path,
                            check: dict[str, Any], mode: str, app_id: str) -> tuple[dict[str, Any], EventLog, str]:
    """Deploys a checked app, makes its task fail, waits for the replacement; returns the old task, the events
    and the API base."""
    runtime = await scheduler.start()
    markers = tmp_path / "markers"
    markers.mkdir()
    log = EventLog()
    async with api_of(runtime, scheduler.mesos.address) as base:
        await log.start(session, base)
        async with session.post(f"{base}/v2/apps", json=health_app(app_id, markers, check, mode=mode)) as resp:
            assert resp.status == 201, await resp.text()
        first = await until(lambda: _healthy(session, base, app_id), what="a healthy task")
        result = first["healthCheckResults"][0]
        assert result["alive"] is True and result["consecutiveFailures"] == 0
        assert result["firstSuccess"] and result["lastSuccess"] and result["lastFailure"] is None
        assert result["instanceId"] == first["id"].rsplit("._app.", 1)[0]
        (markers / first["id"]).touch()  # the task starts failing its check
        replacement = await until(lambda: _replaced(session, base, app_id, first["id"]), what="a replacement")
        assert replacement["id"] != first["id"]
        backoff = runtime.state.backoffs.get(AppId(app_id))
        assert backoff is not None and backoff.failures >= 1, "the health kill counts as a launch failure"
        app = await get_app(session, base, app_id)
        failure = app["lastTaskFailure"]
        assert failure["taskId"] == first["id"] and failure["state"] == "TASK_KILLED", failure
        assert failure["message"].startswith("Task was killed since health check failed. Reason: ")
        MarathonApp.from_json(app)  # the released client accepts the app with results and lastTaskFailure
        await log.stop()
        return first, log, base


async def _healthy(session: aiohttp.ClientSession, base: str, app_id: str) -> dict[str, Any] | None:
    return healthy_task(await get_app(session, base, app_id))


async def _replaced(session: aiohttp.ClientSession, base: str, app_id: str, old: str) -> dict[str, Any] | None:
    task = healthy_task(await get_app(session, base, app_id))
    return task if task is not None and task["id"] != old else None


async def test_http_check_kills_and_replaces_a_failing_task_with_marathons_events(
        scheduler: RuntimeHandle, session: aiohttp.ClientSession, tmp_path: Path) -> None:
    first, log, _ = await _kill_and_replace(scheduler, session, tmp_path, leader_check("HTTP"), "http", "/hc/http")
    instance = first["id"].rsplit("._app.", 1)[0]
    mine = [e for e in log.of_type(*HEALTH_EVENTS) if e.get("instanceId") == instance]
    kill_at = [e["eventType"] for e in mine].index("unhealthy_instance_kill_event")
    mine = mine[:kill_at + 1]  # what the first task went through (its replacement keeps the instance id)
    kinds = [(e["eventType"], e.get("alive", e.get("healthy"))) for e in mine]
    expected = [("health_status_changed_event", True), ("instance_health_changed_event", True),
                ("failed_health_check_event", None), ("health_status_changed_event", False),
                ("instance_health_changed_event", False), ("failed_health_check_event", None),
                ("failed_health_check_event", None), ("unhealthy_instance_kill_event", None)]
    assert kinds == expected
    kill = mine[-1]
    assert set(kill) == {"eventType", "timestamp", "appId", "taskId", "instanceId", "version", "reason", "host",
                         "slaveId"}
    assert kill["taskId"] == first["id"] and "500 Internal Server Error" in kill["reason"]
    failed = mine[2]
    assert set(failed) == {"eventType", "timestamp", "appId", "instanceId", "healthCheck"}
    assert failed["healthCheck"]["protocol"] == "HTTP" and failed["healthCheck"]["path"] == "/health"
    assert set(mine[0]) == {"eventType", "timestamp", "appId", "instanceId", "version", "alive"}
    assert set(mine[1]) == {"eventType", "timestamp", "instanceId", "runSpecId", "runSpecVersion", "healthy"}
    factory = EventFactory()
    for event in mine:  # the released client knows all four types and their fields
        factory.process(event)


async def test_tcp_check_kills_and_replaces_a_task_that_stops_listening(
        scheduler: RuntimeHandle, session: aiohttp.ClientSession, tmp_path: Path) -> None:
    first, log, _ = await _kill_and_replace(scheduler, session, tmp_path, leader_check("TCP"), "tcp", "/hc/tcp")
    failures = [e for e in log.of_type("failed_health_check_event") if e["instanceId"] in first["id"]]
    assert len(failures) == 3 and failures[0]["healthCheck"]["protocol"] == "TCP"
    kill = log.of_type("unhealthy_instance_kill_event")[-1]
    assert "ConnectException" in kill["reason"]


async def mesos_tasks(session: aiohttp.ClientSession, master: str) -> list[dict[str, Any]]:
    async with session.get(f"http://{master}/master/tasks") as resp:
        tasks: list[dict[str, Any]] = (await resp.json())["tasks"]
        return tasks


async def test_command_check_goes_to_mesos_with_every_field_and_mesos_replaces_the_task(
        scheduler: RuntimeHandle, session: aiohttp.ClientSession, tmp_path: Path) -> None:
    runtime = await scheduler.start()
    markers = tmp_path / "markers"
    markers.mkdir()
    check = {"protocol": "COMMAND", "command": {"value": f"test ! -e {markers}/$MESOS_TASK_ID"},
             "gracePeriodSeconds": 60, "intervalSeconds": 1, "timeoutSeconds": 3, "maxConsecutiveFailures": 2,
             "delaySeconds": 0}
    async with api_of(runtime, scheduler.mesos.address) as base:
        async with session.post(f"{base}/v2/apps", json=health_app("/hc/cmd", markers, check)) as resp:
            assert resp.status == 201, await resp.text()
        first = await until(lambda: _healthy(session, base, "/hc/cmd"), what="Mesos reports the task healthy")
        sent = [t for t in await mesos_tasks(session, scheduler.mesos.address) if t["id"] == first["id"]][0]
        hc = sent["health_check"]
        assert hc["type"] == "COMMAND" and hc["command"]["value"] == check["command"]["value"]
        assert (hc["consecutive_failures"], hc["delay_seconds"], hc["interval_seconds"], hc["timeout_seconds"],
                hc["grace_period_seconds"]) == (2, 0.0, 1.0, 3.0, 60.0)
        result = first["healthCheckResults"][0]
        assert result["alive"] and result["lastSuccess"] and result["firstSuccess"]
        (markers / first["id"]).touch()
        replacement = await until(lambda: _replaced(session, base, "/hc/cmd", first["id"]), what="a replacement")
        assert replacement["id"] != first["id"]


async def test_mesos_http_check_sends_delay_and_zero_failures_and_fills_results(
        scheduler: RuntimeHandle, session: aiohttp.ClientSession, tmp_path: Path) -> None:
    runtime = await scheduler.start()
    markers = tmp_path / "markers"
    markers.mkdir()
    check = {"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0, "gracePeriodSeconds": 60,
             "intervalSeconds": 1, "timeoutSeconds": 2, "maxConsecutiveFailures": 0, "delaySeconds": 1}
    async with api_of(runtime, scheduler.mesos.address) as base:
        async with session.post(f"{base}/v2/apps", json=health_app("/hc/mesos-http", markers, check)) as resp:
            assert resp.status == 201, await resp.text()
        first = await until(lambda: _healthy(session, base, "/hc/mesos-http"), what="Mesos reports healthy")
        sent = [t for t in await mesos_tasks(session, scheduler.mesos.address) if t["id"] == first["id"]][0]
        hc = sent["health_check"]
        assert hc["type"] == "HTTP" and hc["http"]["port"] == first["ports"][0] and hc["http"]["path"] == "/health"
        assert (hc["consecutive_failures"], hc["delay_seconds"]) == (0, 1.0)
        (markers / first["id"]).touch()  # 0 acts as 1 on the agent: the first failure kills
        replacement = await until(lambda: _replaced(session, base, "/hc/mesos-http", first["id"]),
                                  what="a replacement")
        assert replacement["id"] != first["id"]


async def test_mesos_check_port_index_must_address_a_port(served: TestServer,
                                                          session: aiohttp.ClientSession) -> None:
    base = str(served.make_url("")).rstrip("/")
    for protocol in ("MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP", "HTTP"):
        body = {"id": "/hc/bad", "cmd": "sleep 60", "portDefinitions": [{"port": 0}],
                "healthChecks": [{"protocol": protocol, "portIndex": 1}]}
        async with session.post(f"{base}/v2/apps", json=body) as resp:
            assert resp.status == 422, protocol
            problem = await resp.json()
        assert problem["details"] == [{"path": "/healthChecks(0)", "errors": [
            "Health check port indices must address an element of the ports array or container port mappings."]}]
    async with session.get(f"{base}/v2/apps") as resp:
        assert (await resp.json())["apps"] == []


async def test_last_task_failure_is_filled_embedded_persisted_and_removed_with_the_app(
        scheduler: RuntimeHandle, session: aiohttp.ClientSession) -> None:
    runtime = await scheduler.start()
    app = {"id": "/hc/crash", "cmd": "echo boom >&2; exit 1", "cpus": 0.1, "mem": 32, "backoffSeconds": 1}
    async with api_of(runtime, scheduler.mesos.address) as base:
        async with session.post(f"{base}/v2/apps", json=app) as resp:
            assert resp.status == 201

        async def failed() -> dict[str, Any] | None:
            return (await get_app(session, base, "/hc/crash")).get("lastTaskFailure")
        failure = await until(failed, what="lastTaskFailure")
        assert failure["state"] == "TASK_FAILED" and failure["appId"] == "/hc/crash"
        assert set(failure) == {"appId", "taskId", "instanceId", "state", "message", "host", "slaveId",
                                "timestamp", "version"}
        assert failure["taskId"].startswith(failure["instanceId"]) and failure["timestamp"].endswith("Z")
        async with session.get(f"{base}/v2/apps") as resp:
            assert "lastTaskFailure" not in (await resp.json())["apps"][0]
        async with session.get(f"{base}/v2/apps?embed=apps.lastTaskFailure") as resp:
            listed = (await resp.json())["apps"][0]
        assert listed["lastTaskFailure"]["appId"] == "/hc/crash"
        MarathonApp.from_json(listed)
    await scheduler.stop()
    runtime = await scheduler.start()
    assert runtime.state.task_failures[AppId("/hc/crash")].state == "TASK_FAILED", "persisted"
    async with api_of(runtime, scheduler.mesos.address) as base:
        async with session.delete(f"{base}/v2/apps/hc/crash") as resp:
            assert resp.status == 200
        assert AppId("/hc/crash") not in runtime.state.task_failures
        assert runtime.store is not None and runtime.store.load(TASK_FAILURES) == {}


async def test_health_survives_a_leader_failover_and_nothing_healthy_is_killed(
        scheduler: RuntimeHandle, session: aiohttp.ClientSession, tmp_path: Path) -> None:
    runtime = await scheduler.start()
    markers = tmp_path / "markers"
    markers.mkdir()
    app = health_app("/hc/failover", markers, leader_check("HTTP"), instances=2)
    async with api_of(runtime, scheduler.mesos.address) as base:
        async with session.post(f"{base}/v2/apps", json=app) as resp:
            assert resp.status == 201
        await until(lambda: _healthy(session, base, "/hc/failover"), what="two healthy tasks")
        before = sorted(t["id"] for t in (await get_app(session, base, "/hc/failover"))["tasks"])
    await scheduler.stop()
    runtime = await scheduler.start()
    async with api_of(runtime, scheduler.mesos.address) as base:
        fresh = await get_app(session, base, "/hc/failover")
        assert fresh["tasksHealthy"] == 2 and fresh["tasksUnhealthy"] == 0, "the verdict was persisted"
        assert all(t["healthCheckResults"][0]["alive"] for t in fresh["tasks"])
        applied = runtime.health.results_applied
        await until(lambda: _probed(runtime, applied + 10), what="the new leader probed the tasks")
        after = await get_app(session, base, "/hc/failover")
        assert sorted(t["id"] for t in after["tasks"]) == before, "nothing was killed or replaced"
        assert after["tasksHealthy"] == 2
        assert all(t["healthCheckResults"][0]["lastSuccess"] > t["healthCheckResults"][0]["firstSuccess"]
                   for t in after["tasks"])


async def _probed(runtime: SchedulerRuntime, count: int) -> bool:
    return runtime.health.results_applied >= count
