"""The web UI in a real headless Chromium against a scheduler running real tasks on localmesos.

The page loads without a console error, shows a deployed app, follows the app live when it is scaled through
the API (the page only re-reads on ``/v2/events``), and scaling from the page (typing a number, clicking
"Scale") changes the app. A screenshot is taken and must not be blank."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.polling import eventually
from tests.ui.cdp import Browser, Page, pixel_variance

APP = "/ui/web"


async def api(server: TestServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, server.make_url(path), json=body) as resp:
            return resp.status, await resp.json(content_type=None)


async def app_state(server: TestServer) -> dict[str, Any]:
    status, body = await api(server, "GET", f"/v2/apps{APP}")
    assert status == 200, body
    app: dict[str, Any] = body["app"]
    return app


async def settled(server: TestServer, instances: int) -> bool:
    app = await app_state(server)
    return app["instances"] == instances and app["tasksRunning"] == instances and not app["deployments"]


async def cell(page: Page, name: str) -> str | None:
    value = await page.evaluate(
        f"document.querySelector('tbody[data-app={json.dumps(APP)}] td.{name}')?.textContent ?? null")
    return value if isinstance(value, str) else None


async def shows(page: Page, running: int) -> bool:
    return await cell(page, "running") == str(running) and await cell(page, "instances") == str(running)


async def test_the_ui_shows_follows_and_scales_an_app(served: TestServer, browser: Browser) -> None:
    status, body = await api(served, "POST", "/v2/apps", {"id": APP, "cmd": "sleep 600", "cpus": 0.1, "mem": 32,
                                                          "instances": 1})
    assert status == 201, body
    await eventually(lambda: settled(served, 1), what="1 task running")

    page = await browser.new_page()
    await page.navigate(str(served.make_url("/ui/")))
    await eventually(lambda: shows(page, 1), what="the page showing the app with 1 running task")
    await eventually(lambda: page.evaluate("document.querySelector('#live').textContent === 'live'"),
                     what="the page subscribed to /v2/events")
    await eventually(lambda: page.evaluate("document.querySelectorAll('#agent-rows tr').length === 3"),
                     what="the cluster's 3 agents on the page")

    # scaled through the API: the page follows through the event stream
    status, body = await api(served, "PUT", f"/v2/apps{APP}", {"instances": 2})
    assert status == 200, body
    await eventually(lambda: settled(served, 2), what="2 tasks running")
    await eventually(lambda: shows(page, 2), what="the page showing 2 running tasks")

    # scaled from the page: type 3, click Scale
    await page.type_into(f'input[data-scale="{APP}"]', "3")
    await page.click(f'button[data-action="scale"][data-app="{APP}"]')
    await eventually(lambda: settled(served, 3), what="the app scaled to 3 from the page")
    await eventually(lambda: shows(page, 3), what="the page showing 3 running tasks")

    # the tasks of the app, with their kill buttons
    await page.click(f'tbody[data-app="{APP}"] .app-id')
    tasks = await page.evaluate(f"document.querySelectorAll('tbody[data-app=\"{APP}\"] tr[data-task]').length")
    assert tasks == 3

    shot = await page.screenshot(scale=0.5)
    variance, colours = pixel_variance(shot)
    assert variance > 100 and colours > 20, (variance, colours)
    assert page.problems == [], page.problems


async def task_ids(server: TestServer, app_id: str) -> set[str]:
    status, body = await api(server, "GET", f"/v2/apps{app_id}/tasks")
    assert status == 200, body
    return {t["id"] for t in body["tasks"] if t["state"] == "TASK_RUNNING"}


async def settled_on(server: TestServer, app: str, cmd: str) -> set[str] | None:
    """The app's one running task, once the app runs ``cmd`` and no deployment is left (else None)."""
    status, body = await api(server, "GET", f"/v2/apps{app}")
    running = await task_ids(server, app)
    done = status == 200 and body["app"]["cmd"] == cmd and not body["app"]["deployments"] and len(running) == 1
    return running if done else None


async def test_actions_from_the_page_kill_restart_and_stop_a_run(served: TestServer,
                                                                         browser: Browser) -> None:
    app = "/ops/api"
    first = {"id": app, "cmd": "sleep 600", "cpus": 0.1, "mem": 32, "instances": 1}
    assert (await api(served, "POST", "/v2/apps", first))[0] == 201
    await eventually(lambda: task_ids(served, app), what="the first version running")
    assert (await api(served, "PUT", f"/v2/apps{app}", {**first, "cmd": "sleep 601"}))[0] == 200

    before = await eventually(lambda: settled_on(served, app, "sleep 601"), what="the second version running")
    job = {"id": "nightly", "run": {"cmd": "sleep 600", "cpus": 0.1, "mem": 32, "disk": 0}}
    assert (await api(served, "POST", "/v1/jobs", job))[0] == 201
    # an app no agent can take waits in the launch queue, its deployment in progress
    assert (await api(served, "POST", "/v2/apps", {"id": "/too/big", "cmd": "sleep 1", "cpus": 64, "mem": 32,
                                                   "instances": 1}))[0] == 201

    page = await browser.new_page()
    await page.navigate(str(served.make_url("/ui/")))
    await eventually(lambda: page.evaluate("document.querySelector('#live').textContent === 'live'"),
                     what="the page subscribed to /v2/events")
    await eventually(lambda: page.evaluate(
        "document.querySelector('tr[data-queued=\"/too/big\"]')?.textContent.includes('InsufficientCpus')"),
        what="the queue saying why /too/big waits")
    await eventually(lambda: page.evaluate(
        "document.querySelectorAll('#deployment-list .deployment').length === 1 && "
        "document.querySelector('#deployment-list').textContent.includes('/too/big')"),
        what="the deployment of /too/big in progress on the page")

    # kill a task: it is replaced
    await eventually(lambda: page.evaluate(f"!!document.querySelector('tbody[data-app=\"{app}\"]')"),
                     what="the app on the page")
    await page.click(f'tbody[data-app="{app}"] .app-id')
    [killed] = before
    await page.click(f'button[data-action="kill"][data-task="{killed}"]')
    replaced = await eventually(lambda: _changed(settled_on(served, app, "sleep 601"), before),
                                what="a new task after the kill")
    assert killed not in replaced

    # restart: a deployment replaces the task again
    await page.click(f'button[data-action="restart"][data-app="{app}"]')
    restarted = await eventually(lambda: _changed(settled_on(served, app, "sleep 601"), replaced),
                                 what="the restart")
    assert restarted.isdisjoint(replaced)

    # a job run started and stopped from the page
    run_button = "button[data-action=\"run\"][data-job=\"nightly\"]"
    await eventually(lambda: page.evaluate(f"!!document.querySelector('{run_button}')"), what="the job on the page")
    await page.click('button[data-action="run"][data-job="nightly"]')
    run_id = await eventually(lambda: page.evaluate(
        "document.querySelector('button[data-action=\"stop-run\"][data-job=\"nightly\"]')?.dataset.run ?? null"),
        what="the run on the page")
    await page.click(f'button[data-action="stop-run"][data-run="{run_id}"]')

    async def stopped() -> bool:
        status, runs = await api(served, "GET", "/v1/jobs/nightly/runs")
        return status == 200 and all(r["id"] != run_id for r in runs)
    await eventually(stopped, what="the run stopped")
    await eventually(lambda: page.evaluate(f"!document.querySelector('[data-run=\"{run_id}\"]')"),
                     what="the page no longer showing the run as active")
    assert page.problems == [], page.problems


async def _changed(check: Any, old: set[str]) -> set[str] | None:
    now = await check
    return now if now is not None and now != old else None


async def test_rolling_back_from_the_page(served: TestServer, browser: Browser) -> None:
    app = "/ops/back"
    first = {"id": app, "cmd": "sleep 600", "cpus": 0.1, "mem": 32, "instances": 1}
    assert (await api(served, "POST", "/v2/apps", first))[0] == 201
    await eventually(lambda: task_ids(served, app), what="the first version running")
    assert (await api(served, "PUT", f"/v2/apps{app}", {**first, "cmd": "sleep 601"}))[0] == 200

    await eventually(lambda: settled_on(served, app, "sleep 601"), what="the second version running")
    page = await browser.new_page()
    await page.navigate(str(served.make_url("/ui/")))
    await eventually(lambda: page.evaluate(f"!!document.querySelector('tbody[data-app=\"{app}\"]')"),
                     what="the app on the page")
    # roll back to the first version
    status, versions = await api(served, "GET", f"/v2/apps{app}/versions")
    oldest = sorted(versions["versions"])[0]
    await page.click(f'select[data-versions="{app}"]')
    await eventually(lambda: page.evaluate(
        f"document.querySelector('select[data-versions=\"{app}\"]').options.length > 2"), what="versions listed")
    await page.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": "Escape"})
    await page.evaluate(f"document.querySelector('select[data-versions=\"{app}\"]').value = {json.dumps(oldest)}")
    await page.click(f'button[data-action="rollback"][data-app="{app}"]')
    await eventually(lambda: settled_on(served, app, "sleep 600"), what="the app back on its first definition")
    assert page.problems == [], page.problems
