"""The web UI signs in, in a real headless Chromium, against a scheduler with authentication on (a principals
file made with ``mesospaas auth token`` and the Basic user of ``--http-credentials``) running real tasks on
localmesos.

The page shows its sign-in form (token, and user/password since the server has credentials) and no data; a
wrong token is refused with an error on the form; the right token loads the apps the principal may read, the
event stream works (an app scaled through the API shows up scaled), and the session cookie is HttpOnly (the
page's script cannot read it). Signing out shows the form again, also after a reload. The Basic user signs in
too. A 401 on a later request (the principal was revoked) shows the form again.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from api.app import ApiConfig, build_api_app
from api.auth import AUTH, AuthConfig
from scheduler.cli import main
from tests.integration.conftest import RuntimeHandle
from tests.polling import eventually
from tests.security.conftest import BASIC, bearer, principals  # noqa: F401 (fixture)
from tests.ui.cdp import Page

APP = "/team-a/web"


@pytest.fixture
async def secured_ui(scheduler: RuntimeHandle, principals: tuple[Path, dict[str, str]],  # noqa: F811
                     ) -> AsyncIterator[tuple[TestServer, dict[str, str], Path]]:
    auth_file, tokens = principals
    runtime = await scheduler.start()
    app = build_api_app(runtime, runtime.events, ApiConfig(master=scheduler.mesos.address),
                        security=AuthConfig(credentials=BASIC, auth_file=auth_file))
    server = TestServer(app, host="127.0.0.1")
    async with server:
        yield server, tokens, auth_file


async def api(server: TestServer, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession(headers=bearer(token)) as http:
        async with http.request(method, server.make_url(path), json=body) as resp:
            return resp.status, await resp.json(content_type=None)


async def visible(page: Page, selector: str) -> bool:
    return bool(await page.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                                    f" return !!e && !e.closest('[hidden]'); }})()"))


async def running_shown(page: Page, instances: int) -> bool:
    cells = await page.evaluate(
        f"[...document.querySelectorAll('tbody[data-app={json.dumps(APP)}] td.running, "
        f"tbody[data-app={json.dumps(APP)}] td.instances')].map(c => c.textContent)")
    return cells == [str(instances), str(instances)]


async def settled(server: TestServer, token: str, instances: int) -> bool:
    _, body = await api(server, token, "GET", f"/v2/apps{APP}")
    app = body["app"]
    return bool(app["instances"] == instances and app["tasksRunning"] == instances and not app["deployments"])


async def opened(server: TestServer, tokens: dict[str, str], browser: Any) -> Page:
    """An app of team-a deployed (by the admin), and a new page on the UI showing its sign-in form."""
    status, body = await api(server, tokens["admin"], "POST", "/v2/apps",
                             {"id": APP, "cmd": "sleep 600", "cpus": 0.1, "mem": 32, "instances": 1})
    assert status == 201, body
    page: Page = await browser.new_page()
    await page.navigate(str(server.make_url("/ui/")))
    await eventually(lambda: visible(page, "#sign-in-token"), what="the sign-in form")
    return page


def unexpected(page: Page) -> list[str]:
    """The page's problems but the 401s this test provokes (Chromium logs each refused request)."""
    return [p for p in page.problems if "401" not in p]


async def test_the_ui_signs_in_with_a_token_and_follows_events(secured_ui: tuple[TestServer, dict[str, str], Path],
                                                               browser: Any) -> None:
    server, tokens, auth_file = secured_ui
    page = await opened(server, tokens, browser)
    await eventually(lambda: settled(server, tokens["admin"], 1), what="1 task running")
    assert await visible(page, "#sign-in-user") and await visible(page, "#sign-in-password")  # Basic is on
    assert not await visible(page, "table.apps") and await page.evaluate("document.querySelectorAll("
                                                                         "'tbody[data-app]').length") == 0

    # a wrong token: refused on the form, still no data
    await page.type_into("#sign-in-token", "msp_0000000000000000_wrong")
    await page.click("#sign-in-submit")
    await eventually(lambda: visible(page, "#sign-in-error"), what="the sign-in error")
    assert "Invalid token." in await page.evaluate("document.querySelector('#sign-in-error').textContent")
    assert not await visible(page, "table.apps")

    # the right token: the apps, the event stream, and a cookie the page's script cannot read
    await page.type_into("#sign-in-token", tokens["reader-a"])
    await page.click("#sign-in-submit")
    await eventually(lambda: running_shown(page, 1), what="the app after signing in")
    assert not await visible(page, "#sign-in-token")
    assert await page.evaluate("document.querySelector('#who-name').textContent") == "signed in as reader-a"
    await eventually(lambda: page.evaluate("document.querySelector('#live').textContent === 'live'"),
                     what="the event stream open with the session cookie")
    assert "mesospaas_session" not in await page.evaluate("document.cookie")
    status, body = await api(server, tokens["admin"], "PUT", f"/v2/apps{APP}", {"instances": 2})
    assert status == 200, body
    await eventually(lambda: settled(server, tokens["admin"], 2), what="2 tasks running")
    await eventually(lambda: running_shown(page, 2), what="the page following the scale through /v2/events")

    # signing out: the form again, also after a reload (the session is gone on the server too)
    await page.click("#sign-out")
    await eventually(lambda: visible(page, "#sign-in-token"), what="the form after signing out")
    assert not await visible(page, "table.apps")
    await page.navigate(str(server.make_url("/ui/")))
    await eventually(lambda: visible(page, "#sign-in-token"), what="the form after a reload")

    # the Basic user of --http-credentials signs in with user and password
    await page.type_into("#sign-in-user", BASIC[0])
    await page.type_into("#sign-in-password", BASIC[1])
    await page.click("#sign-in-submit")
    await eventually(lambda: running_shown(page, 2), what="the app for the Basic user")
    assert await page.evaluate("document.querySelector('#who-name').textContent") == "signed in as ops"
    assert unexpected(page) == [], page.problems


async def test_a_401_on_a_later_request_shows_the_form_again(secured_ui: tuple[TestServer, dict[str, str], Path],
                                                             browser: Any) -> None:
    server, tokens, auth_file = secured_ui
    page = await opened(server, tokens, browser)
    await page.type_into("#sign-in-token", tokens["reader-a"])
    await page.click("#sign-in-submit")
    await eventually(lambda: page.evaluate("document.querySelectorAll('tbody[data-app]').length === 1"),
                     what="the app after signing in")
    await eventually(lambda: page.evaluate("document.querySelector('#live').textContent === 'live'"),
                     what="the event stream")

    # the principal is revoked (the file re-read, as SIGHUP does): its session no longer authenticates
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["auth", "revoke", "--file", str(auth_file), "--name", "reader-a"]) == 0
    assert server.app[AUTH].authenticator.reload()
    status, body = await api(server, tokens["admin"], "PUT", f"/v2/apps{APP}", {"instances": 2})
    assert status == 200, body  # the event makes the page re-read: that request gets the 401
    await eventually(lambda: visible(page, "#sign-in-token"), what="the form after the 401")
    assert not await visible(page, "table.apps")
    assert unexpected(page) == [], page.problems
