"""Apps with containers end to end: the API, the scheduler and localmesos with a local Docker registry.

An image app sees the image's files (a page only the image has; the host's /etc/os-release absent), gets its
ports, is health-checked by a COMMAND check that runs inside the container through busybox, and is routed by
HAProxy like any app; a bridge-networking app is reached on its container port through its host port; an
image the registry lacks fails as a real agent fails it, and the API shows it in ``lastTaskFailure``.
Needs root (namespaces, chroot), busybox-static and haproxy (``.ci/setup --test``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.containers.images import build_image
from tests.integration.conftest import RACKED
from tests.integration.test_lb_on_localmesos import api, until
from tests.localmesos.conftest import ThreadedCluster, make_config
from tests.routing.lb_process import LbProcess
from tests.zookeeper_server import free_port

IMAGE = {"type": "MESOS", "docker": {"image": "busybox:1.36"}}


@pytest.fixture
def mesos(tmp_path: Path) -> Iterator[ThreadedCluster]:
    """The integration cluster, with a local registry holding busybox:1.36 built from /bin/busybox."""
    registry = tmp_path / "registry"
    build_image(registry, files={"/www/index.html": "served from the image\n"})
    cluster = ThreadedCluster(make_config(tmp_path, 3, attributes=RACKED, resources="cpus:4;mem:4096;disk:10000",
                                          agent_ping_timeout=0.5, max_agent_ping_timeouts=2,
                                          docker_registry=registry))
    yield cluster
    cluster.stop()


async def fetch(url: str, headers: dict[str, str] | None = None) -> str | None:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session:
            async with session.get(url, headers=headers or {}) as resp:
                return await resp.text() if resp.status == 200 else None
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return None


async def healthy_tasks(session: aiohttp.ClientSession, base: str, app: str) -> list[dict[str, Any]]:
    status, body = await api(session, "GET", f"{base}/v2/apps/{app}/tasks")
    if status != 200:
        return []
    return [t for t in body["tasks"] if t["state"] == "TASK_RUNNING"
            and any(r.get("alive") for r in t.get("healthCheckResults") or ())]


async def test_an_image_app_runs_in_its_image_is_checked_and_routed(served: TestServer, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{served.port}"
    service_port = free_port()
    app = {"id": "/site", "cpus": 0.1, "mem": 32, "container": IMAGE,
           "cmd": "test -e /etc/os-release || echo absent > /www/os-release.txt; "
                  "exec httpd -f -p $HOST:$PORT0 -h /www",
           "portDefinitions": [{"port": service_port, "name": "http"}],
           "healthChecks": [{"protocol": "COMMAND", "command": {"value": "wget -q -O /dev/null http://$HOST:$PORT0/"},
                             "gracePeriodSeconds": 30, "intervalSeconds": 1, "timeoutSeconds": 2,
                             "maxConsecutiveFailures": 3, "delaySeconds": 0}],
           "labels": {"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": "site.test", "HAPROXY_0_BIND_ADDR": "127.0.0.1"}}
    async with aiohttp.ClientSession() as session:
        status, body = await api(session, "POST", f"{base}/v2/apps", app)
        assert status == 201, body
        (task,) = await until(lambda: healthy_tasks(session, base, "site"), what="a healthy image task")
        assert len(task["ports"]) == 1 and task["servicePorts"] == [service_port]
        url = f"http://{task['host']}:{task['ports'][0]}"
        assert await fetch(f"{url}/index.html") == "served from the image\n"
        assert await fetch(f"{url}/os-release.txt") == "absent\n"  # the host's /etc is not the task's
        lb = await asyncio.to_thread(LbProcess, [base], tmp_path / "lb")
        try:
            routed = await until(lambda: fetch(f"http://127.0.0.1:{lb.http_port}/index.html",
                                                {"Host": "site.test"}), what="the page through HAProxy")
            assert routed == "served from the image\n"
        finally:
            await asyncio.to_thread(lb.stop)


async def test_a_bridge_app_is_reached_on_its_container_port_through_its_host_port(served: TestServer) -> None:
    base = f"http://127.0.0.1:{served.port}"
    app = {"id": "/bridged", "cpus": 0.1, "mem": 32, "networks": [{"mode": "container/bridge"}],
           "container": {**IMAGE, "portMappings": [{"containerPort": 8080, "hostPort": 0, "name": "http"}]},
           "cmd": "echo $PORT0 $PORT_HTTP $PORT_8080 > /www/ports.txt; exec httpd -f -p 127.0.0.1:8080 -h /www",
           "healthChecks": [{"protocol": "MESOS_HTTP", "portIndex": 0, "path": "/index.html",
                             "gracePeriodSeconds": 30, "intervalSeconds": 1, "timeoutSeconds": 2,
                             "delaySeconds": 0}]}
    async with aiohttp.ClientSession() as session:
        status, body = await api(session, "POST", f"{base}/v2/apps", app)
        assert status == 201, body
        (task,) = await until(lambda: healthy_tasks(session, base, "bridged"), what="a healthy bridge task")
        (host_port,) = task["ports"]
        assert host_port != 8080
        page = await until(lambda: fetch(f"http://{task['host']}:{host_port}/index.html"), what="forwarded page")
        assert page == "served from the image\n"
        assert await fetch(f"http://{task['host']}:{host_port}/ports.txt") == f"{host_port} {host_port} {host_port}\n"


async def test_an_image_the_registry_lacks_fails_like_on_a_real_agent(served: TestServer) -> None:
    base = f"http://127.0.0.1:{served.port}"
    app = {"id": "/missing", "cpus": 0.1, "mem": 32, "cmd": "sleep 600", "backoffSeconds": 60,
           "container": {"type": "MESOS", "docker": {"image": "nginx:1.19"}}}
    async with aiohttp.ClientSession() as session:
        status, body = await api(session, "POST", f"{base}/v2/apps", app)
        assert status == 201, body

        async def failure() -> dict[str, Any] | None:
            status, body = await api(session, "GET", f"{base}/v2/apps/missing?embed=app.lastTaskFailure")
            return body["app"].get("lastTaskFailure") if status == 200 else None

        last = await until(failure, what="lastTaskFailure")
        assert last["state"] == "TASK_FAILED"
        assert last["message"].startswith(
            "Failed to launch container: Failed to find archive for image 'nginx:1.19' at ")
