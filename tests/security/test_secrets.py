"""Secrets end to end: written through the API, kept encrypted in the state store, launched as SECRET env vars,
and never shown anywhere: in no API response of the whole run, no event, no log line, not in the state files,
and not in the Mesos master's views (``/master/state``, ``/master/tasks``, operator GET_STATE and GET_TASKS)
nor the agents' ``/state`` -- the places transcript 92 shows a real Mesos 1.11 keeps them out of.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mesospaas.model import AppId
from tests.polling import eventually
from tests.security.conftest import Secured

VALUE = "s3cr3t-v4lue-of-team-a"
ENCODED = base64.b64encode(VALUE.encode()).decode()


async def mesos_views(s: Secured) -> dict[str, str]:
    """The master's and the agents' views, as text."""
    base = s.handle.mesos.url.rstrip("/")
    views: dict[str, str] = {}
    async with aiohttp.ClientSession() as session:
        for path in ("/master/state", "/master/tasks"):
            async with session.get(base + path) as response:
                views[path] = await response.text()
        for call in ("GET_STATE", "GET_TASKS"):
            async with session.post(base + "/api/v1", json={"type": call},
                                    headers={"Accept": "application/json"}) as response:
                views[f"operator {call}"] = await response.text()
        for agent in json.loads(views["/master/state"])["slaves"]:
            pid = agent["pid"]  # slave(1)@host:port
            async with session.get(f"http://{pid.split('@')[1]}/state") as response:
                views[f"agent {agent['id']} /state"] = await response.text()
    return views


async def test_a_secret_reaches_the_task_only_as_a_secret_variable(secured: Secured, tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    s = secured
    events: list[str] = []

    async def listen() -> None:
        async with s.session.get(s.url.rstrip("/") + "/v2/events",
                                 headers={**s.who("admin"), "Accept": "text/event-stream"}) as response:
            async for line in response.content:
                events.append(line.decode())
    listener = asyncio.create_task(listen())
    try:
        status, body, _ = await s.call("PUT", "/v2/secrets/team-a/db-password", "deployer-a", {"value": VALUE})
        assert (status, body) == (201, {"path": "/team-a/db-password"})
        status, _, _ = await s.call("PUT", "/v2/secrets/team-b/x", "deployer-a", {"value": VALUE})
        assert status == 403  # tenant-scoped like apps
        app = {"id": "/team-a/db-client", "cmd": "sleep 600", "cpus": 0.05, "mem": 16,
               "env": {"DB_PASSWORD": {"secret": "db"}, "PLAIN": "visible"},
               "secrets": {"db": {"source": "/team-a/db-password"}}}
        status, created, _ = await s.call("POST", "/v2/apps", "deployer-a", app)
        assert status == 201 and created["env"]["DB_PASSWORD"] == {"secret": "db"}

        def running() -> list[Any]:
            return [i for i in s.runtime.instances_of(AppId("/team-a/db-client")) if i.has_live_task]
        await eventually(running, timeout=60, what="the task launched")
        for path in ("/v2/apps/team-a/db-client?embed=app.tasks", "/v2/apps", "/v2/groups?embed=group.apps",
                     "/v2/tasks", "/v2/secrets", "/v2/deployments", "/v2/queue", "/v2/audit",
                     "/v2/apps/team-a/db-client/versions"):
            status, _, _ = await s.call("GET", path, "admin")
            assert status == 200, path
        _, versions, _ = await s.call("GET", "/v2/apps/team-a/db-client/versions", "admin")
        await s.call("GET", f"/v2/apps/team-a/db-client/versions/{versions['versions'][0]}", "admin")
        status, listed, _ = await s.call("GET", "/v2/secrets", "reader-a")
        assert [e["path"] for e in listed["secrets"]] == ["/team-a/db-password"]
        views = await mesos_views(s)
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)

    for name, text in views.items():
        assert VALUE not in text and ENCODED not in text, f"the secret shows in {name}"
    for body in s.bodies:
        assert VALUE.encode() not in body and ENCODED.encode() not in body, body[:300]
    assert events and not [e for e in events if VALUE in e or ENCODED in e]
    assert not [r for r in caplog.records if VALUE in r.getMessage() or ENCODED in r.getMessage()]
    state_files = [p for p in s.handle.state_dir.rglob("*") if p.is_file()]
    assert state_files and not [p for p in state_files if VALUE.encode() in p.read_bytes()]
    assert s.audit_log.exists() and VALUE not in s.audit_log.read_text()


async def test_the_secret_goes_to_mesos_as_a_value_secret(secured: Secured) -> None:
    """What reached the master: ``{"type": "SECRET", "secret": {"type": "VALUE", "value": {"data": b64}}}``, read
    from the TaskInfo the (real, embedded) master received. A real agent's operator GET_STATE shows exactly this
    (the command executor's ExecutorInfo copies the task's CommandInfo, transcript 92): the endpoint operators
    must protect (README, Security)."""
    s = secured
    await s.call("PUT", "/v2/secrets/team-a/token", "admin", {"value": VALUE})
    app = {"id": "/team-a/tok", "cmd": "sleep 600", "cpus": 0.05, "mem": 16,
           "env": {"TOKEN": {"secret": "t"}, "PLAIN": "visible"}, "secrets": {"t": {"source": "/team-a/token"}}}
    assert (await s.call("POST", "/v2/apps", "admin", app))[0] == 201

    def received() -> list[dict[str, Any]]:
        master = s.handle.mesos.master
        return [t.info for fw in list(master.frameworks.values()) for t in list(fw.tasks.values())
                if t.info.get("name") == "team-a.tok"]
    infos = await eventually(received, timeout=60, what="the task at the master")
    variables = infos[0]["command"]["environment"]["variables"]
    assert [v for v in variables if v["name"] == "TOKEN"] == [
        {"name": "TOKEN", "type": "SECRET", "secret": {"type": "VALUE", "value": {"data": ENCODED}}}]
    assert {"name": "PLAIN", "value": "visible"} in variables
    views = await mesos_views(s)
    assert not [name for name, text in views.items() if ENCODED in text or VALUE in text]


async def test_an_app_cannot_use_another_tenants_secret(secured: Secured, caplog: pytest.LogCaptureFixture) -> None:
    s = secured
    await s.call("PUT", "/v2/secrets/team-b/key", "admin", {"value": VALUE})
    app = {"id": "/team-a/thief", "cmd": "sleep 600", "cpus": 0.05, "mem": 16,
           "env": {"K": {"secret": "k"}}, "secrets": {"k": {"source": "/team-b/key"}}}
    status, _, _ = await s.call("POST", "/v2/apps", "admin", app)
    assert status == 201
    await eventually(lambda: [r for r in caplog.records if "belongs to another tenant" in r.getMessage()],
                     timeout=60, what="the launch refused")
    assert not [i for i in s.runtime.instances_of(AppId("/team-a/thief")) if i.has_live_task]


@pytest.mark.parametrize("executor", ["", "//mesospaas"])
async def test_the_task_gets_the_secret_value_in_its_environment(secured: Secured, tmp_path: Path,
                                                                 executor: str) -> None:
    """The agent resolves the VALUE secret into the task's environment (the command executor's task, or the
    mesospaas executor's, which inherits it from the executor): the app can use it. Only a hash of the value
    is in the app definition, so nothing shows the value itself."""
    s = secured
    status, _, _ = await s.call("PUT", "/v2/secrets/team-a/db-password", "deployer-a", {"value": VALUE})
    assert status == 201
    digest = hashlib.sha256(VALUE.encode()).hexdigest()
    check = (f'if [ "$(printf %s "$DB_PASSWORD" | sha256sum | cut -c1-64)" = "{digest}" ]; '
             f'then touch {tmp_path}/ok; else touch {tmp_path}/wrong; fi; exec sleep 600')
    app = {"id": "/team-a/uses-secret", "cmd": check, "cpus": 0.1, "mem": 64, "executor": executor,
           "env": {"DB_PASSWORD": {"secret": "db"}}, "secrets": {"db": {"source": "/team-a/db-password"}}}
    status, body, _ = await s.call("POST", "/v2/apps", "deployer-a", app)
    assert status == 201, body
    await eventually(lambda: (tmp_path / "ok").exists() or (tmp_path / "wrong").exists(), timeout=60,
                     what="the task checked its environment")
    assert (tmp_path / "ok").exists() and not (tmp_path / "wrong").exists()
