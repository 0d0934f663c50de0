"""The leader proxy over real HTTP: every instance is a real server on a random port of 127.0.0.1.

Standbys are API applications (``build_api_app`` with a ``Leadership``) over ``NoPlatform``: they must answer
everything without reading a platform. The "leader" is either an API application whose routes need no
platform either (``/ping``, ``/v2/leader``, ``/openapi.json``, ``DELETE /v2/leader``, unknown paths), or
``Upstream``, a small server that records what it receives, so what reaches the leader can be checked byte for
byte. The leader with a real platform (apps, ``/v2/info``) is in ``tests/integration/test_leader_proxy.py``.

Nothing here asserts on time: a leader appearing "while the standby waits" is scripted on the standby's n-th
look at the election, and the only timeout exercised is a leader that never answers.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict
from yarl import URL

from api.app import NO_HA, ApiConfig
from api.leader_proxy import LEADER_PROXY, USER_AGENT
from api.routes_docs import api_document
from tests.api.leadership import Leadership, ScriptedLeadership, address, api_app, serve

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
GZIPPED = gzip.compress(b'{"compressed":true}', mtime=0)


class Upstream:
    """A stand-in leader that records every request it answers (``seen``)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.release = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/gzip", self.compressed)
        app.router.add_get("/redirect", self.redirect)
        app.router.add_get("/slow", self.slow)
        app.router.add_route("*", "/{tail:.*}", self.echo)
        return app

    async def echo(self, request: web.Request) -> web.Response:
        self.seen.append({"method": request.method, "path_qs": request.rel_url.raw_path_qs,
                          "headers": CIMultiDict(request.headers), "body": await request.read()})
        return web.json_response({"echo": True}, headers={"X-Upstream": "yes"})

    async def compressed(self, request: web.Request) -> web.Response:
        response = web.Response(status=418, reason="Short and Stout", body=GZIPPED, headers={
            "Content-Type": "application/json", "Content-Encoding": "gzip", "X-Marathon-Via": "1.1 upstream:1"})
        response.headers.add("Set-Cookie", "a=1; Path=/")
        response.headers.add("Set-Cookie", "b=2; Path=/")
        return response

    async def redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("/elsewhere")

    async def slow(self, request: web.Request) -> web.Response:
        await self.release.wait()
        return web.Response(text="late")


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, TestServer]]:
    recorder = Upstream()
    async with serve(recorder.app()) as server:
        try:
            yield recorder, server
        finally:
            recorder.release.set()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


def url(server: TestServer, path: str) -> URL:
    return URL(f"http://{address(server)}{path}", encoded=True)


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


FAST_SETTLE = {"leader_settle_retries": 4, "leader_settle_interval": 0.01}


# -- forwarding ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
async def test_a_standby_forwards_method_raw_path_query_body_and_headers(
        method: str, upstream: tuple[Upstream, TestServer], http: aiohttp.ClientSession) -> None:
    recorder, leader = upstream
    view = Leadership(leader=address(leader))
    body = b"" if method == "GET" else b'{"id": "/shop/web", "cmd": "sleep 1", "instances": 2}'
    path = "/v2/apps/shop%2Fweb/x%20y?embed=app.tasks&embed=app.counts&q=%2F%20&force=true"
    headers = {"X-Custom": "kept", "Connection": "keep-alive, X-Hop", "X-Hop": "dropped", "Keep-Alive": "timeout=5",
               "Proxy-Authorization": "Basic c2VjcmV0", "TE": "trailers", "User-Agent": "curl/8.0",
               "X-Forwarded-For": "10.0.0.1", "X-Marathon-Via": "1.1 elsewhere:1", "Content-Type": "application/json"}
    async with serve(api_app(view), view) as standby:
        async with http.request(method, url(standby, path), data=body or None, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            assert await resp.json() == {"echo": True}
            assert resp.headers["X-Upstream"] == "yes"
            assert resp.headers["X-Marathon-Via"] == f"1.1 {view.me}"
    [seen] = recorder.seen
    assert (seen["method"], seen["path_qs"], seen["body"]) == (method, path, body)
    sent: CIMultiDict[str] = seen["headers"]
    assert sent["Host"] == address(leader)
    assert sent["User-Agent"] == USER_AGENT
    assert sent["X-Custom"] == "kept" and sent["Content-Type"] == "application/json"
    assert sent.getall("X-Marathon-Via") == [f"1.1 elsewhere:1, 1.1 {view.me}"]
    assert sent.getall("X-Forwarded-For") == ["10.0.0.1, 127.0.0.1"]
    for hop in ("X-Hop", "Keep-Alive", "Proxy-Authorization", "TE"):
        assert hop not in sent, hop
    if body:
        assert sent["Content-Length"] == str(len(body))


async def test_the_leaders_answer_comes_back_as_it_was_sent(upstream: tuple[Upstream, TestServer],
                                                            http: aiohttp.ClientSession) -> None:
    recorder, leader = upstream
    # By name: a cookie jar keeps no cookies from an IP address, so only a name shows that the standby keeps none.
    view = Leadership(leader=f"localhost:{leader.port}")
    async with serve(api_app(view), view) as standby:
        async with http.post(url(standby, "/gzip"), auto_decompress=False) as resp:
            assert (resp.status, resp.reason) == (418, "Short and Stout")
            assert resp.headers["Content-Encoding"] == "gzip"
            assert await resp.read() == GZIPPED  # relayed as received, not decompressed on the way
            assert resp.headers.getall("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
            assert resp.headers.getall("X-Marathon-Via") == [f"1.1 upstream:1, 1.1 {view.me}"]
        async with http.post(url(standby, "/gzip")) as resp:  # and a client that decompresses reads the body
            assert await resp.json() == {"compressed": True}
        async with http.get(url(standby, "/after")) as resp:
            assert resp.status == 200
        # The standby keeps no cookies: what the leader set for one client is not sent for the next.
        assert "Cookie" not in recorder.seen[-1]["headers"]
        async with http.get(url(standby, "/redirect"), allow_redirects=False) as resp:
            assert resp.status == 307 and resp.headers["Location"] == "/elsewhere"
    assert [seen["path_qs"] for seen in recorder.seen] == ["/after"]  # the redirect was passed on, not followed


async def test_event_streams_are_redirected_to_the_leader(upstream: tuple[Upstream, TestServer],
                                                          http: aiohttp.ClientSession) -> None:
    recorder, leader = upstream
    view = Leadership(leader=address(leader))
    async with serve(api_app(view), view) as standby:
        for path in ("/v2/events?event_type=deployment_info&event_type=status_update_event", "/v2/events",
                     "/v2/events/anything"):
            async with http.get(url(standby, path), allow_redirects=False,
                                headers={"Accept": "text/event-stream"}) as resp:
                assert resp.status == 302
                assert resp.headers["Location"] == f"http://{address(leader)}{path}"
                assert resp.headers["X-Marathon-Leader"] == f"http://{address(leader)}"
    assert recorder.seen == []


async def test_every_path_goes_to_the_leader(http: aiohttp.ClientSession) -> None:
    """``/ping``, ``/v2/leader``, the document and unknown paths too (Marathon's filter is on ``/*``)."""
    leading = Leadership(is_leader=True)
    async with serve(api_app(leading, hostname="10.9.9.9"), leading) as leader:
        view = Leadership(leader=leading.me)
        async with serve(api_app(view), view) as standby:
            async with http.get(url(leader, "/ping")) as resp:
                assert await resp.text() == "pong"
                assert resp.headers["X-Marathon-Leader"] == f"http://{leading.me}"  # the view's name, not config's
                assert "X-Marathon-Via" not in resp.headers
            async with http.get(url(standby, "/ping")) as resp:
                assert resp.status == 200 and await resp.text() == "pong"
                assert resp.headers["X-Marathon-Leader"] == f"http://{leading.me}"
                assert resp.headers["X-Marathon-Via"] == f"1.1 {view.me}"
            async with http.get(url(standby, "/v2/leader")) as resp:
                assert await resp.json() == {"leader": leading.me}
            async with http.get(url(standby, "/openapi.json")) as via_standby, \
                    http.get(url(leader, "/openapi.json")) as direct:
                assert await via_standby.read() == await direct.read()
            async with http.get(url(standby, "/v2/nothing-here")) as resp:
                assert resp.status == 404 and await resp.json() == {"message": "Path /v2/nothing-here not found"}
                assert resp.headers["X-Marathon-Via"] == f"1.1 {view.me}"
            async with http.post(url(standby, "/ping")) as resp:
                assert resp.status == 405 and (await resp.json())["allowed"] == ["GET", "HEAD"]


# -- what a standby answers itself ---------------------------------------------------------------------------
async def test_two_standbys_naming_each_other_detect_the_loop(http: aiohttp.ClientSession) -> None:
    a, b = Leadership(), Leadership()
    async with serve(api_app(a), a) as server_a, serve(api_app(b), b) as server_b:
        a.leader, b.leader = b.me, a.me
        async with http.get(url(server_a, "/v2/apps")) as resp:
            assert resp.status == 502
            assert await resp.json() == {"message": "Detected proxying loop."}
            # a -> b -> a: a found itself in the Via list; b and then a relayed that answer.
            assert resp.headers["X-Marathon-Via"] == f"1.1 {b.me}, 1.1 {a.me}"
        async with http.post(url(server_b, "/v2/apps"), data=b"{}",
                             headers={"X-Marathon-Via": f"1.1 other:1, 1.1 {b.me}"}) as resp:
            assert resp.status == 502 and await resp.json() == {"message": "Detected proxying loop."}
            assert resp.headers["X-Marathon-Leader"] == f"http://{a.me}"


@pytest.mark.parametrize("recorded", ["nobody", "itself"])
async def test_without_a_leader_a_standby_gives_up_after_the_retries(recorded: str,
                                                                     http: aiohttp.ClientSession) -> None:
    view = ScriptedLeadership()
    async with serve(api_app(view, **FAST_SETTLE), view) as standby:
        view.leader = view.me if recorded == "itself" else None  # the election still names a stepped-down leader
        async with http.put(url(standby, "/v2/apps/web"), json={"instances": 2}) as resp:
            assert resp.status == 502
            assert await resp.json() == {"message": "Could not determine the current leader"}
    assert view.looks == 1 + FAST_SETTLE["leader_settle_retries"]


def test_the_defaults_are_marathons() -> None:
    config = ApiConfig()
    assert (config.leader_settle_retries, config.leader_settle_interval) == (10, 0.25)
    assert (config.leader_proxy_connect_timeout, config.leader_proxy_read_timeout) == (5.0, 10.0)


async def test_a_leader_appearing_while_a_standby_waits_serves_the_request(http: aiohttp.ClientSession) -> None:
    leading = Leadership(is_leader=True)
    async with serve(api_app(leading), leading) as leader:
        view = ScriptedLeadership(script={3: {"leader": leading.me}})
        async with serve(api_app(view, **FAST_SETTLE), view) as standby:
            async with http.get(url(standby, "/ping")) as resp:
                assert resp.status == 200 and await resp.text() == "pong"
                assert resp.headers["X-Marathon-Leader"] == f"http://{leading.me}"
                assert resp.headers["X-Marathon-Via"] == f"1.1 {view.me}"
            assert view.looks == 3


async def test_a_standby_elected_while_it_waits_answers_itself(http: aiohttp.ClientSession) -> None:
    view = ScriptedLeadership(script={2: {"is_leader": True}})
    async with serve(api_app(view, **FAST_SETTLE), view) as instance:
        async with http.get(url(instance, "/ping")) as resp:
            assert resp.status == 200 and await resp.text() == "pong"
            assert resp.headers["X-Marathon-Leader"] == f"http://{view.me}"
            assert "X-Marathon-Via" not in resp.headers
    assert view.looks == 2  # nobody, then elected: served here


async def test_a_leader_refusing_connections(http: aiohttp.ClientSession) -> None:
    gone = f"127.0.0.1:{closed_port()}"
    view = Leadership(leader=gone)
    async with serve(api_app(view), view) as standby:
        for method, body in (("GET", None), ("POST", b'{"id": "/web"}')):
            async with http.request(method, url(standby, "/v2/apps"), data=body) as resp:
                assert resp.status == 502
                assert await resp.json() == {"message": "Connection to leader refused."}
                assert resp.headers["X-Marathon-Leader"] == f"http://{gone}"


async def test_a_leader_that_does_not_answer_in_time(upstream: tuple[Upstream, TestServer],
                                                     http: aiohttp.ClientSession) -> None:
    _, leader = upstream
    view = Leadership(leader=address(leader))
    async with serve(api_app(view, leader_proxy_read_timeout=0.2), view) as standby:
        async with http.get(url(standby, "/slow")) as resp:
            assert resp.status == 504
            assert await resp.json() == {"message": "Leader did not answer in time."}


async def test_other_failures_to_reach_the_leader_are_502_not_500(http: aiohttp.ClientSession) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"THIS IS NOT HTTP\r\n\r\n")
        await writer.drain()
        writer.close()

    not_http = await asyncio.start_server(garbage, "127.0.0.1", 0)
    try:
        port = not_http.sockets[0].getsockname()[1]
        for leader, prefix in ((f"127.0.0.1:{port}", "Proxying to the leader at"),
                               ("127.0.0.1:not-a-port", "Proxying to the leader at")):
            view = Leadership(leader=leader)
            async with serve(api_app(view), view) as standby:
                async with http.get(url(standby, "/v2/apps")) as resp:
                    assert resp.status == 502, await resp.text()
                    assert (await resp.json())["message"].startswith(f"{prefix} {leader} failed:")
    finally:
        not_http.close()
        await not_http.wait_closed()


# -- DELETE /v2/leader ---------------------------------------------------------------------------------------
async def test_delete_leader_answers_first_then_abdicates_once(http: aiohttp.ClientSession) -> None:
    leading = Leadership(is_leader=True)
    leading.hold = asyncio.Event()  # abdicate() stays inside the call until the test lets it go

    async def delete_leader() -> tuple[int, Any, str]:
        async with http.delete(url(leader, "/v2/leader")) as resp:
            return resp.status, await resp.json(), resp.headers["X-Marathon-Leader"]

    abdications_before_written: list[int] = []

    @web.middleware
    async def hold_the_answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Innermost: between the route's answer and its writing, the loop runs everything that is ready."""
        response = await handler(request)
        for _ in range(50):
            await asyncio.sleep(0)
        abdications_before_written.append(leading.abdications)
        return response

    app = api_app(leading, **FAST_SETTLE)
    app.middlewares.append(hold_the_answer)
    async with serve(app, leading) as leader:
        # Bounds, not timings: an answer that waited for abdicate() would never come while it is held.
        assert await asyncio.wait_for(delete_leader(), 30) == (
            200, {"message": "Leadership abdicated"}, f"http://{leading.me}")
        assert abdications_before_written == [0]  # abdicate() had not run before the answer was written
        await asyncio.wait_for(leading.abdicating.wait(), 30)
        # Still leading while abdicate() runs: answered the same, and nothing more is abdicated.
        assert (await asyncio.wait_for(delete_leader(), 30))[:2] == (200, {"message": "Leadership abdicated"})
        leading.hold.set()
        await asyncio.wait_for(leading.abdicated.wait(), 30)
        assert leading.abdications == 1
        async with http.delete(url(leader, "/v2/leader")) as resp:  # stepped down, nobody elected yet
            assert resp.status == 502
            assert await resp.json() == {"message": "Could not determine the current leader"}
    assert leading.abdications == 1


async def test_delete_leader_with_backup_or_restore_abdicates_nothing(http: aiohttp.ClientSession) -> None:
    leading = Leadership(is_leader=True)
    async with serve(api_app(leading), leading) as leader:
        for query in ("backup=file:///tmp/backup", "restore=file:///tmp/backup"):
            async with http.delete(url(leader, f"/v2/leader?{query}")) as resp:
                assert resp.status == 400
                assert "not supported" in (await resp.json())["message"]
    assert leading.abdications == 0


async def test_delete_leader_on_a_standby_is_proxied(http: aiohttp.ClientSession) -> None:
    leading = Leadership(is_leader=True)
    async with serve(api_app(leading), leading) as leader:
        view = Leadership(leader=leading.me)
        async with serve(api_app(view), view) as standby:
            async with http.delete(url(standby, "/v2/leader")) as resp:
                assert resp.status == 200 and await resp.json() == {"message": "Leadership abdicated"}
                assert resp.headers["X-Marathon-Via"] == f"1.1 {view.me}"
            await asyncio.wait_for(leading.abdicated.wait(), 30)
    assert (leading.abdications, view.abdications) == (1, 0)


async def test_without_ha_delete_leader_is_404_and_changes_nothing(http: aiohttp.ClientSession) -> None:
    from tests.api.leadership import NoPlatform

    app = api_app(None, platform=NoPlatform("single instance"))
    assert LEADER_PROXY not in app
    async with serve(app) as single:
        for _ in range(2):
            async with http.delete(url(single, "/v2/leader")) as resp:
                assert resp.status == 404 and await resp.json() == {"message": NO_HA}
                assert resp.headers["X-Marathon-Leader"] == "http://127.0.0.1:8080"
        async with http.get(url(single, "/v2/leader")) as resp:
            assert resp.status == 200 and await resp.json() == {"leader": "127.0.0.1:8080"}
            assert resp.headers["X-Marathon-Leader"] == "http://127.0.0.1:8080"


# -- the document --------------------------------------------------------------------------------------------
def test_the_document_lists_the_leader_routes_and_what_a_standby_answers() -> None:
    doc = api_document()
    abdicate = doc["paths"]["/v2/leader"]["delete"]
    assert set(abdicate["responses"]) == {"200", "400", "404", "502", "504"}
    assert abdicate["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Message"}
    assert "302" in doc["paths"]["/v2/events"]["get"]["responses"]
    for operations in doc["paths"].values():
        for operation in operations.values():
            assert {"502", "504"} <= set(operation["responses"]), operation["operationId"]
    json.dumps(doc)
