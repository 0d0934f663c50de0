"""The leader's health probes in a worker process: real probes of real servers on loopback, answered through
the worker's pipes exactly as the in-process pool answers them, and a worker that dies is restarted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from mesospaas.health.outcome import PASSED, Failed, Unknown
from scheduler.health_probes import ProbePool, ProbeTarget
from scheduler.health_worker import WorkerProbePool


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    request = await reader.readuntil(b"\r\n\r\n")
    status = b"500 Internal Server Error" if b" /broken " in request else b"200 OK"
    writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await writer.drain()
    writer.close()


@pytest.fixture
async def server() -> AsyncIterator[int]:
    srv = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()


@pytest.fixture
async def worker() -> AsyncIterator[WorkerProbePool]:
    pool = WorkerProbePool(max_in_flight=16)
    await pool.start()
    yield pool
    await pool.close()


def soon() -> float:
    return time.monotonic() + 30


async def closed_port() -> int:
    srv = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = int(srv.sockets[0].getsockname()[1])
    srv.close()
    await srv.wait_closed()
    return port


async def test_the_worker_answers_as_the_pool_in_process_does(server: int, worker: WorkerProbePool) -> None:
    local = ProbePool()
    await local.start()
    try:
        refused = await closed_port()
        targets = [ProbeTarget("HTTP", "127.0.0.1", server, "/ok", 5.0), ProbeTarget("HTTP", "127.0.0.1", server,
                                                                                    "/broken", 5.0),
                   ProbeTarget("TCP", "127.0.0.1", server, timeout=5.0), ProbeTarget("TCP", "127.0.0.1", refused,
                                                                                   timeout=5.0)]
        remote = await asyncio.gather(*(worker.probe(t, soon()) for t in targets))
        here = await asyncio.gather(*(local.probe(t, soon()) for t in targets))
    finally:
        await local.close()
    assert remote == here
    assert remote[0] == PASSED and remote[2] == PASSED
    assert remote[1] == Failed("500 Internal Server Error")
    assert isinstance(remote[3], Failed) and "refused" in remote[3].cause
    assert worker.probes == 4 and worker.in_flight == 0


async def test_a_probe_the_worker_cannot_start_in_time_is_unknown(server: int, worker: WorkerProbePool) -> None:
    late = await worker.probe(ProbeTarget("HTTP", "127.0.0.1", server, "/", 5.0), time.monotonic() - 1)
    assert isinstance(late, Unknown)


async def test_a_dead_worker_makes_probes_unknown_and_is_started_again(server: int, worker: WorkerProbePool) -> None:
    target = ProbeTarget("HTTP", "127.0.0.1", server, "/", 5.0)
    assert await worker.probe(target, soon()) == PASSED
    proc = worker._proc
    assert proc is not None
    proc.kill()
    await proc.wait()
    await asyncio.sleep(0)  # the reader sees the end of the stream
    assert await worker.probe(target, soon()) == PASSED  # a fresh worker answers
    assert worker._proc is not None and worker._proc.pid != proc.pid


async def test_a_closed_pool_answers_unknown_and_leaves_no_process(server: int) -> None:
    pool = WorkerProbePool()
    await pool.start()
    proc = pool._proc
    await pool.close()
    assert proc is not None and proc.returncode is not None
    assert isinstance(await pool.probe(ProbeTarget("TCP", "127.0.0.1", server, timeout=1.0), soon()), Unknown)
