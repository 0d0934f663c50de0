"""The released ``marathon`` client (0.13.0) against the API with authentication on: ``username``/``password``
(HTTP Basic, ``--http-credentials``), ``auth_token`` (``Authorization: token=...``), and TLS with
``verify=<CA file>`` (``--ssl-cert``/``--ssl-key``; the CA made at test time). The client runs in a worker
thread (it is synchronous); the API on the test's loop.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import requests
from aiohttp import web
from marathon import MarathonApp, MarathonClient
from marathon.exceptions import MarathonHttpError

from api.app import ApiConfig, build_api_app
from api.auth import AuthConfig
from tests.integration.conftest import RuntimeHandle
from tests.security.conftest import BASIC
from tests.security.tls import Pki, make_pki


@pytest.fixture
async def tls_api(scheduler: RuntimeHandle, principals: tuple[Path, dict[str, str]],
                  tmp_path: Path) -> AsyncIterator[tuple[str, Pki, dict[str, str]]]:
    auth_file, tokens = principals
    runtime = await scheduler.start()
    pki = make_pki(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert, pki.key)
    app = build_api_app(runtime, runtime.events, ApiConfig(master=scheduler.mesos.address),
                        security=AuthConfig(credentials=BASIC, auth_file=auth_file))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = runner.addresses[0][1]
        yield f"https://127.0.0.1:{port}", pki, tokens
    finally:
        await runner.cleanup()



async def test_the_released_client_signs_in_three_ways(tls_api: tuple[str, Pki, dict[str, str]]) -> None:
    url, pki, tokens = tls_api

    def session() -> list[str]:
        seen: list[str] = []
        by_password = MarathonClient(url, username=BASIC[0], password=BASIC[1], verify=str(pki.ca))
        deployer = MarathonClient(url, auth_token=tokens["deployer-a"], verify=str(pki.ca))
        anonymous_client = MarathonClient(url, verify=str(pki.ca))
        try:
            by_password.create_app("team-a-web", MarathonApp(cmd="sleep 600", cpus=0.05, mem=16, instances=0))
            seen.append(by_password.get_app("/team-a-web").id)
            deployer.create_app("/team-a/web", MarathonApp(cmd="sleep 600", cpus=0.05, mem=16, instances=0))
            seen += [a.id for a in deployer.list_apps()]
            with pytest.raises(MarathonHttpError) as refused:  # a tenant's token stops at its tenant
                deployer.create_app("/team-b/web", MarathonApp(cmd="sleep 600", cpus=0.05, mem=16, instances=0))
            seen.append(f"refused {refused.value.status_code}")
            with pytest.raises(MarathonHttpError) as anonymous:
                anonymous_client.list_apps()
            seen.append(f"anonymous {anonymous.value.status_code}")
            del refused, anonymous  # the errors hold the clients' responses (and their connections)
            with requests.Session() as plain, pytest.raises(requests.exceptions.SSLError):
                plain.get(url + "/ping", timeout=10)  # not verified against the system CAs: refused
        finally:
            for client in (by_password, deployer, anonymous_client):
                client.session.close()
                client.sse_session.close()
        return seen

    seen = await asyncio.to_thread(session)
    assert seen == ["/team-a-web", "/team-a/web", "refused 403", "anonymous 401"]
