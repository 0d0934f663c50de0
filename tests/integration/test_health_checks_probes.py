"""The probe pool against real servers on loopback: outcomes, cause strings, and "unknown" when the
scheduler itself is late (pool saturated, start deadline passed). No durations are asserted."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from mesospaas.health import PASSED, Failed, Ignored, Unknown
from scheduler.health_probes import ProbePool, ProbeTarget


@pytest.fixture
async def server() -> AsyncIterator[tuple[int, asyncio.Event]]:
    release = asyncio.Event()

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]))

    async def hang(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response()
    app = web.Application()
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/hang", hang)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield port, release
    release.set()
    await runner.cleanup()


@pytest.fixture
async def pool() -> AsyncIterator[ProbePool]:
    probes = ProbePool(max_in_flight=2)
    await probes.start()
    yield probes
    await probes.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def later(seconds: float = 30.0) -> float:
    return time.monotonic() + seconds


async def test_http_outcomes_and_cause_strings(server: tuple[int, asyncio.Event], pool: ProbePool) -> None:
    port, _ = server

    def target(path: str, **kw: object) -> ProbeTarget:
        return ProbeTarget("HTTP", "127.0.0.1", port, path, timeout=10.0, **kw)  # type: ignore[arg-type]
    assert await pool.probe(target("/status/200"), later()) == PASSED
    assert await pool.probe(target("/status/302"), later()) == PASSED
    assert await pool.probe(target("status/500"), later()) == Failed("500 Internal Server Error")
    assert await pool.probe(target("/status/404"), later()) == Failed("404 Not Found")
    refused = await pool.probe(ProbeTarget("HTTP", "127.0.0.1", free_port(), "/", timeout=10.0), later())
    assert isinstance(refused, Failed) and "refused" in refused.cause.lower()


async def test_ignore_http1xx_applies_to_the_status_class(pool: ProbePool) -> None:
    async def informational(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 102 Processing\r\n\r\n")
        await writer.drain()
        writer.close()
    raw = await asyncio.start_server(informational, "127.0.0.1", 0)
    port = raw.sockets[0].getsockname()[1]
    try:
        assert await pool.probe(ProbeTarget("HTTP", "127.0.0.1", port, "/", 10.0, ignore_http1xx=True),
                                later()) == Ignored(102)
        assert await pool.probe(ProbeTarget("HTTP", "127.0.0.1", port, "/", 10.0), later()) == \
            Failed("102 Processing")
    finally:
        raw.close()
        await raw.wait_closed()


async def test_tcp_outcomes(server: tuple[int, asyncio.Event], pool: ProbePool) -> None:
    port, _ = server
    assert await pool.probe(ProbeTarget("TCP", "127.0.0.1", port, timeout=10.0), later()) == PASSED
    refused = await pool.probe(ProbeTarget("TCP", "127.0.0.1", free_port(), timeout=10.0), later())
    assert isinstance(refused, Failed) and refused.cause.startswith("ConnectException: ")


async def test_a_probe_that_cannot_start_in_time_is_unknown_never_failed(
        server: tuple[int, asyncio.Event], pool: ProbePool) -> None:
    port, release = server
    hanging = [asyncio.ensure_future(pool.probe(ProbeTarget("HTTP", "127.0.0.1", port, "/hang", 60.0), later()))
               for _ in range(pool.max_in_flight)]
    while pool.in_flight < pool.max_in_flight:
        await asyncio.sleep(0.01)
    saturated = await pool.probe(ProbeTarget("HTTP", "127.0.0.1", port, "/status/200", 10.0),
                                 time.monotonic() + 0.2)
    assert isinstance(saturated, Unknown) and "slots" in saturated.reason
    late = await pool.probe(ProbeTarget("HTTP", "127.0.0.1", port, "/status/200", 10.0), time.monotonic() - 1)
    assert isinstance(late, Unknown)
    release.set()
    assert await asyncio.gather(*hanging) == [PASSED, PASSED]
