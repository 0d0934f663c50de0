"""Authentication details: Basic and both token headers, the UI's session cookie (which also opens the event
stream), re-reading the principals file, the rate limit (429 with Retry-After, on a clock the test drives),
``/ping`` exemption, the audit log, and the API without an ``AuthConfig`` (open, as before)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from api.app import ApiConfig, build_api_app
from api.auth import AUTH, RateLimiter
from scheduler.cli import main
from tests.integration.conftest import RuntimeHandle
from tests.security.conftest import Secured, make_token


async def test_tokens_in_both_headers_and_basic(secured: Secured) -> None:
    s = secured
    token = s.tokens["reader-a"]
    for header in (f"Bearer {token}", f"token={token}"):
        status, _, _ = await s.call("GET", "/v2/apps", None, headers={"Authorization": header})
        assert status == 200, header
    status, body, headers = await s.call("GET", "/v2/apps", None, headers={"Authorization": f"Bearer {token}x"})
    assert (status, body) == (401, {"message": "Invalid username or password."})
    assert headers["WWW-Authenticate"] == 'Basic realm="mesospaas", Bearer realm="mesospaas"'
    assert (await s.call("GET", "/v2/apps", "ops"))[0] == 200


async def test_the_ui_signs_in_once_and_its_cookie_opens_the_event_stream(secured: Secured) -> None:
    s = secured
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as browser:
        async with browser.post(s.url.rstrip("/") + "/v2/session", json={"token": "msp_0000000000000000_wrong"}) as response:
            assert response.status == 401
        async with browser.post(s.url.rstrip("/") + "/v2/session", json={"token": s.tokens["reader-a"]}) as response:
            assert response.status == 200
            assert (await response.json())["principal"] == "reader-a"
            cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        async with browser.get(s.url.rstrip("/") + "/v2/apps") as response:
            assert response.status == 200
        async with browser.delete(s.url.rstrip("/") + "/v2/apps/team-a/x") as response:
            assert response.status == 403  # a reader's cookie reads only
        async with browser.get(s.url.rstrip("/") + "/v2/events", headers={"Accept": "text/event-stream"}) as response:
            assert response.status == 200
            first = await asyncio.wait_for(response.content.readline(), 30)
            assert first.startswith(b"event: event_stream_attached")
        async with browser.delete(s.url.rstrip("/") + "/v2/session") as response:
            assert response.status == 204
        async with browser.get(s.url.rstrip("/") + "/v2/apps") as response:
            assert response.status == 401


async def test_a_new_principal_works_after_the_file_is_re_read(secured: Secured) -> None:
    s = secured
    token = make_token(s.auth_file, "late", ["read:/team-a/**"])
    assert (await s.call("GET", "/v2/apps", None, headers={"Authorization": f"Bearer {token}"}))[0] == 401
    assert s.server.app[AUTH].authenticator.reload()  # what SIGHUP does
    assert (await s.call("GET", "/v2/apps", None, headers={"Authorization": f"Bearer {token}"}))[0] == 200
    assert main(["auth", "revoke", "--file", str(s.auth_file), "--name", "late"]) == 0
    s.auth_file.write_text(s.auth_file.read_text())
    assert s.server.app[AUTH].authenticator.reload()
    assert (await s.call("GET", "/v2/apps", None, headers={"Authorization": f"Bearer {token}"}))[0] == 401
    s.auth_file.write_text("{broken")
    assert not s.server.app[AUTH].authenticator.reload()  # the old principals stay
    assert (await s.call("GET", "/v2/apps", "reader-a"))[0] == 200


async def test_the_rate_limit_answers_429_with_retry_after(secured: Secured) -> None:
    s = secured
    now = [1000.0]
    s.server.app[AUTH].limiter = RateLimiter(2.0, lambda: now[0])
    statuses = [(await s.call("GET", "/v2/apps", "reader-a"))[0] for _ in range(3)]
    assert statuses == [200, 200, 429]
    status, body, headers = await s.call("GET", "/v2/apps", "reader-a")
    assert status == 429 and headers["Retry-After"] == "1" and "at most" in body["message"]
    assert (await s.call("GET", "/v2/apps", "reader-b"))[0] == 200  # per principal
    now[0] += 1.0
    assert (await s.call("GET", "/v2/apps", "reader-a"))[0] == 200


async def test_every_accepted_change_is_audited(secured: Secured) -> None:
    s = secured
    status, _, headers = await s.call("POST", "/v2/apps", "deployer-a",
                                      {"id": "/team-a/web", "cmd": "sleep 600", "cpus": 0.05, "mem": 16})
    assert status == 201
    assert (await s.call("POST", "/v2/apps", "deployer-a", {"id": "/team-b/web", "cmd": "sleep 1"}))[0] == 403
    lines = [json.loads(line) for line in s.audit_log.read_text().splitlines()]
    assert [(r["principal"], r["method"], r["path"], r["status"]) for r in lines] == [
        ("deployer-a", "POST", "/v2/apps", 201)]
    assert lines[0]["deploymentId"] == headers["Marathon-Deployment-Id"] and lines[0]["remote"] == "127.0.0.1"
    assert lines[0]["time"].endswith("Z")
    status, body, _ = await s.call("GET", "/v2/audit", "admin")
    assert status == 200 and body["records"] == lines
    assert (await s.call("GET", "/v2/audit", "deployer-a"))[0] == 403


async def test_ping_can_be_exempt(secured: Secured) -> None:
    s = secured
    assert (await s.call("GET", "/ping", None))[0] == 401
    s.server.app[AUTH].config.exempt_ping = True
    assert (await s.call("GET", "/ping", None))[0] == 200
    assert (await s.call("GET", "/metrics", None))[0] == 401


async def test_without_an_auth_config_the_api_is_open(scheduler: RuntimeHandle, tmp_path: Path) -> None:
    runtime = await scheduler.start()
    app = build_api_app(runtime, runtime.events, ApiConfig(master=scheduler.mesos.address))
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as session:
        async with session.post(server.make_url("/v2/apps"), json={"id": "/x", "cmd": "sleep 1", "instances": 0}) as r:
            assert r.status == 201
        async with session.post(server.make_url("/v2/session"), json={"token": "x"}) as r:
            assert r.status == 404
        async with session.get(server.make_url("/v2/secrets")) as r:
            assert r.status == 404  # no --secrets-key-file


async def test_listings_of_different_principals_never_mix(secured: Secured) -> None:
    """The listing routes cache rendered bodies; a tenant's view is kept apart from the admin's and others'."""
    s = secured
    for app_id in ("/team-a/web", "/team-b/web"):
        assert (await s.call("POST", "/v2/apps", "admin", {"id": app_id, "cmd": "sleep 600", "cpus": 0.05,
                                                            "mem": 16, "instances": 0}))[0] == 201
    expected = {"reader-a": ["/team-a/web"], "admin": ["/team-a/web", "/team-b/web"], "reader-b": ["/team-b/web"]}
    for who in ("reader-a", "admin", "reader-a", "reader-b", "admin", "reader-b"):
        _, body, _ = await s.call("GET", "/v2/apps", who)
        assert sorted(a["id"] for a in body["apps"]) == expected[who], who
