"""The lean keep-alive client of the scheduler's Mesos calls (scheduler/mesos_calls.py), against real servers:
an aiohttp server (what localmesos is) and a raw asyncio server that frames its answers every way HTTP/1.1
allows (length, chunked, end of connection, a 100 Continue first) and closes idle connections."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from scheduler.mesos_calls import CallFailed, CallPool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _raw_server(handler: Handler) -> tuple[asyncio.AbstractServer, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
    return head[0], fields, await reader.readexactly(int(fields.get("content-length", "0")))


def test_calls_reuse_connections_and_read_status_and_body_from_an_aiohttp_server() -> None:
    async def scenario() -> None:
        seen: list[tuple[str, bytes, str]] = []

        async def call(request: web.Request) -> web.Response:
            body = await request.read()
            seen.append((request.headers.get("Mesos-Stream-Id", ""), body, request.headers["Host"]))
            if body == b"bad":
                return web.Response(status=400, text="Failed to validate scheduler::Call")
            return web.Response(status=202)

        app = web.Application()
        app.router.add_post("/api/v1/scheduler", call)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        pool = CallPool(size=4)
        try:
            answers = await asyncio.gather(*(pool.post("127.0.0.1", port, "/api/v1/scheduler", f"{n}".encode(),
                                                       {"Mesos-Stream-Id": "s1"}) for n in range(50)))
            assert answers == [(202, b"")] * 50
            assert sorted(b for _, b, _ in seen) == sorted(f"{n}".encode() for n in range(50))
            assert {(s, h) for s, b, h in seen} == {("s1", f"127.0.0.1:{port}")}
            assert sum(len(q) for q in pool._idle.values()) <= 4  # at most `size` connections, kept alive
            assert await pool.post("127.0.0.1", port, "/api/v1/scheduler", b"bad", {}) == \
                (400, b"Failed to validate scheduler::Call")
        finally:
            await pool.close()
            await runner.cleanup()
        with pytest.raises(CallFailed):
            await pool.post("127.0.0.1", port, "/api/v1/scheduler", b"{}", {})

    asyncio.run(scenario())


def test_every_http_11_framing_is_read_and_a_closing_server_is_not_reused() -> None:
    async def scenario() -> None:
        connections = 0

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            try:
                while True:
                    line, _, body = await _read_request(reader)
                    assert line == "POST /api/v1/scheduler HTTP/1.1"
                    if body == b"chunked":
                        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: y\r\n\r\n")
                    elif body == b"continue":
                        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok")
                    elif body == b"eof":
                        writer.write(b"HTTP/1.1 500 Internal Server Error\r\n\r\nuntil the end")
                        await writer.drain()
                        writer.close()
                        return
                    elif body == b"close":
                        writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        await writer.drain()
                        writer.close()
                        return
                    elif body == b"garbage":
                        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
                    else:
                        writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        server, port = await _raw_server(serve)
        pool = CallPool(size=1)

        async def post(body: bytes) -> tuple[int, bytes]:
            return await pool.post("127.0.0.1", port, "/api/v1/scheduler", body, {})

        try:
            assert await post(b"chunked") == (200, b"hello, world")
            assert await post(b"continue") == (202, b"ok")
            assert await post(b"plain") == (202, b"")
            assert connections == 1  # three calls, one connection
            assert await post(b"close") == (202, b"")
            assert await post(b"plain") == (202, b"")
            assert connections == 2  # the server said close: a new connection
            assert await post(b"eof") == (500, b"until the end")
            assert await post(b"plain") == (202, b"")
            assert connections == 3
            with pytest.raises(CallFailed):
                await post(b"garbage")
            assert await post(b"plain") == (202, b"")  # the broken connection was dropped
            assert connections == 4
        finally:
            await pool.close()
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())


def test_a_silent_server_times_out_and_a_stale_idle_connection_is_replaced() -> None:
    async def scenario() -> None:
        connections = 0

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            try:
                _, _, body = await _read_request(reader)
                if body == b"answer":
                    writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                await reader.read()  # then never answers again
            finally:
                writer.close()

        server, port = await _raw_server(silent)
        pool = CallPool(size=2, timeout=0.5, idle_seconds=0.0)  # 0: an idle connection is never reused
        try:
            assert await pool.post("127.0.0.1", port, "/p", b"answer", {}) == (202, b"")
            assert await pool.post("127.0.0.1", port, "/p", b"answer", {}) == (202, b"")
            assert connections == 2
            with pytest.raises(CallFailed, match="no answer"):
                await pool.post("127.0.0.1", port, "/p", b"hang", {})
        finally:
            await pool.close()
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())
