"""The probe pool: runs the leader's HTTP, HTTPS and TCP checks concurrently, bounded, with a timeout each.

Owns ``ProbePool``: a semaphore bounding probes in flight, the probes themselves, and a ``LagMonitor`` that
measures how late the event loop itself runs. A probe is ``ProbeTarget`` in, ``Outcome``
(``mesospaas.health.outcome``) out:

- it waits for a pool slot only until its start deadline; a probe that could not start in time (pool
  saturated, event loop late) is ``Unknown``, never a failure;
- HTTP(S): one GET per connection (``Connection: close``), redirects not followed, certificates not verified
  (as Marathon's HTTPS checks); only the status line is read. This is a lean asyncio protocol rather than an
  aiohttp client session: at 1,000 checks a second the full client cost several times the CPU per probe and
  starved the runtime's loop (``benchmarks/health_bench.py``). 200-399 passes, 1xx is ignored under
  ``ignoreHttp1xx`` (HTTP only), any other status fails with Marathon's cause (``"500 Internal Server
  Error"``); a connection error fails with its message (``"Connection refused"``);
- TCP: ``asyncio.open_connection`` within the timeout (``"ConnectException: Connection refused"``);
- a timeout while the loop lagged by a good share of it is ``Unknown`` (the scheduler's lateness, not the
  task's).

Never raises for what a probe meets (every exception becomes an outcome); ``close()`` stops the lag monitor.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import ssl
import time
from dataclasses import dataclass

from mesospaas.health.outcome import PASSED, Failed, Outcome, Unknown, http_outcome, late_outcome

log = logging.getLogger(__name__)
DEFAULT_MAX_IN_FLIGHT = 512


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    protocol: str
    """``HTTP``, ``HTTPS`` or ``TCP``."""
    host: str
    port: int
    path: str = "/"
    timeout: float = 20.0
    ignore_http1xx: bool = False


class LagMonitor:
    """How late the event loop wakes a sleeper: the scheduler's own lateness, sampled every ``period``."""

    def __init__(self, period: float = 0.05, keep: float = 120.0) -> None:
        self.period = period
        self._samples: collections.deque[tuple[float, float]] = collections.deque(maxlen=int(keep / period) + 1)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="health-lag-monitor")

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.period)
            after = time.monotonic()
            self._samples.append((after, max(0.0, after - before - self.period)))

    def max_lag(self, since: float, until: float) -> float:
        """The worst lateness seen between two ``time.monotonic()`` readings (one sample past the end too)."""
        worst = 0.0
        for at, lag in reversed(self._samples):
            if at < since:
                break
            if at <= until + self.period + lag:
                worst = max(worst, lag)
        return worst

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


class ProbePool:
    def __init__(self, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> None:
        self.max_in_flight = max_in_flight
        self._slots = asyncio.Semaphore(max_in_flight)
        self.lag = LagMonitor()
        self.in_flight = 0
        self.probes = 0

    async def start(self) -> None:
        self.lag.start()

    async def close(self) -> None:
        self.lag.stop()

    async def probe(self, target: ProbeTarget, start_by: float) -> Outcome:
        """Runs one check; ``start_by`` is a ``time.monotonic()`` deadline for the probe to start."""
        wait = start_by - time.monotonic()
        if wait <= 0:
            return Unknown("the scheduler was too late to start the check")
        try:
            await asyncio.wait_for(self._slots.acquire(), wait)
        except asyncio.TimeoutError:
            return Unknown(f"all {self.max_in_flight} probe slots were busy until the check's start deadline")
        self.in_flight += 1
        self.probes += 1
        started = time.monotonic()
        try:
            outcome = await self._run(target)
        except Exception as exc:  # a probe never takes the pool down
            log.exception("health probe of %s:%s raised", target.host, target.port)
            outcome = Failed(f"{type(exc).__name__}: {exc}")
        finally:
            self.in_flight -= 1
            self._slots.release()
        if isinstance(outcome, Failed) and outcome.cause.startswith(TIMEOUT_PREFIX):
            return late_outcome(outcome, self.lag.max_lag(started, time.monotonic()), target.timeout)
        return outcome

    async def _run(self, target: ProbeTarget) -> Outcome:
        if target.protocol == "TCP":
            return await tcp_probe(target)
        return await http_probe(target)


TIMEOUT_PREFIX = "Timeout"


def _error_text(exc: BaseException) -> str:
    os_error = getattr(exc, "os_error", None)
    for error in (os_error, exc):
        if isinstance(error, OSError) and error.errno:
            return os.strerror(error.errno)  # "Connection refused", not asyncio's "Connect call failed (...)"
        if isinstance(error, OSError) and error.strerror:
            return error.strerror
    return str(exc) or type(exc).__name__


class _StatusLine(asyncio.Protocol):
    """Sends one GET and reads just the status line of the answer, then closes: the cheapest HTTP/1.1
    exchange asyncio can do (a full client costs several times more per probe, and the leader runs a
    thousand a second)."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.buffer = b""
        self.done: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n")
        if end < 0:
            if len(self.buffer) > 8192:
                self._finish(ValueError("no HTTP status line in the first 8 KiB"))
            return
        parts = self.buffer[:end].split(b" ", 2)
        try:
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
                raise ValueError(f"not an HTTP answer: {self.buffer[:end][:80]!r}")
            status = int(parts[1])
        except ValueError as exc:
            self._finish(exc)
            return
        if not self.done.done():
            self.done.set_result((status, parts[2].decode("latin-1") if len(parts) > 2 else ""))
        self._close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(exc or ConnectionError("The connection was closed before an HTTP answer"))

    def _finish(self, exc: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(exc)
        self._close()

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _insecure_context() -> ssl.SSLContext:
    """HTTPS checks do not verify certificates, as Marathon's do not."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


_INSECURE = _insecure_context()


async def http_probe(target: ProbeTarget) -> Outcome:
    path = target.path if target.path.startswith("/") else "/" + target.path
    https = target.protocol == "HTTPS"
    url = f"{'https' if https else 'http'}://{target.host}:{target.port}{path}"
    request = (f"GET {path} HTTP/1.1\r\nHost: {target.host}:{target.port}\r\nUser-Agent: mesospaas-health\r\n"
               "Accept: */*\r\nConnection: close\r\n\r\n").encode("latin-1", "replace")
    loop = asyncio.get_running_loop()
    transport: asyncio.BaseTransport | None = None
    protocol: _StatusLine | None = None
    try:
        async with asyncio.timeout(target.timeout):
            def made() -> _StatusLine:
                nonlocal protocol
                protocol = _StatusLine(request)
                return protocol
            transport, _ = await loop.create_connection(made, target.host, target.port,
                                                        ssl=_INSECURE if https else None,
                                                        server_hostname="" if https else None)
            assert protocol is not None
            status, reason = await protocol.done
    except TimeoutError:
        return Failed(f"{TIMEOUT_PREFIX}: no answer from {url} within {target.timeout:g} s")
    except (OSError, ValueError, ssl.SSLError) as exc:
        return Failed(_error_text(exc))
    finally:
        if protocol is not None:
            if protocol.done.done():
                protocol.done.exception()  # seen (a timeout may race the connection's end)
            else:
                protocol.done.cancel()  # a timeout: nobody waits for the answer any more
        if transport is not None:
            transport.close()
    return http_outcome(status, target.ignore_http1xx and not https, reason)


async def tcp_probe(target: ProbeTarget) -> Outcome:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(target.host, target.port), target.timeout)
    except asyncio.TimeoutError:
        return Failed(f"{TIMEOUT_PREFIX}: connect to {target.host}:{target.port} timed out after {target.timeout:g} s")
    except OSError as exc:
        return Failed(f"ConnectException: {_error_text(exc)}")
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return PASSED
