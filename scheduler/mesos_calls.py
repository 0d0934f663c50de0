"""The HTTP client of the scheduler's calls to Mesos: lean keep-alive HTTP/1.1 POSTs.

Owns ``CallPool``: a few persistent connections to the master and one coroutine per call that writes the
request and reads the whole response. The runtime sends a call for every status acknowledgement and every
ACCEPT (thousands a second at scale; the v1 API has no batch for either), and a general-purpose client
session cost several times the CPU per call on the scheduler's one event loop (issue 11); this one does
only what those calls need:

- ``POST`` with a body and the caller's headers, ``Host`` and ``Content-Length`` added; HTTP/1.1 keep-alive;
- the response's status and body, the body framed by ``Content-Length``, ``Transfer-Encoding: chunked`` or
  the end of the connection, as RFC 9112 has it (libprocess answers calls with ``202 Accepted`` and a
  length; errors carry a text body);
- at most ``size`` calls in flight (each on its own connection); a connection idle for ``idle_seconds``
  or closed by the master is not reused; a connection whose exchange did not finish cleanly is closed.

Fails: ``CallFailed`` for a connection error, a malformed response or the ``timeout``; a call is never
retried here (it may have reached Mesos: the runtime's reconciliation repairs what a lost call left).
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass

MAX_HEADER_BYTES = 64 * 1024


class CallFailed(Exception):
    """The call got no (well-formed) answer."""


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def close(self) -> None:
        self.writer.close()


class CallPool:
    def __init__(self, size: int = 16, timeout: float = 30.0, idle_seconds: float = 4.0) -> None:
        self._slots = asyncio.Semaphore(size)
        self._idle: dict[tuple[str, int], collections.deque[_Connection]] = {}
        self._timeout = timeout
        self._idle_seconds = idle_seconds
        self._closed = False

    async def post(self, host: str, port: int, path: str, body: bytes,
                   headers: dict[str, str]) -> tuple[int, bytes]:
        """POSTs ``body``; returns (status, response body)."""
        if self._closed:
            raise CallFailed("the call pool is closed")
        async with self._slots:
            try:
                return await asyncio.wait_for(self._exchange(host, port, path, body, headers), self._timeout)
            except asyncio.TimeoutError:
                raise CallFailed(f"no answer within {self._timeout:g} s") from None

    async def close(self) -> None:
        self._closed = True
        for pool in self._idle.values():
            while pool:
                pool.popleft().close()
        self._idle.clear()

    async def _connection(self, host: str, port: int) -> _Connection:
        pool = self._idle.get((host, port))
        now = time.monotonic()
        while pool:
            connection = pool.pop()
            if now - connection.idle_since < self._idle_seconds and not connection.reader.at_eof() \
                    and not connection.writer.is_closing():
                return connection
            connection.close()
        try:
            reader, writer = await asyncio.open_connection(host, port, limit=MAX_HEADER_BYTES)
        except OSError as exc:
            raise CallFailed(f"cannot connect to {host}:{port}: {exc}") from exc
        return _Connection(reader, writer)

    async def _exchange(self, host: str, port: int, path: str, body: bytes,
                        headers: dict[str, str]) -> tuple[int, bytes]:
        connection = await self._connection(host, port)
        head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        reusable = False
        try:
            connection.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            status, answer, reusable = await _read_response(connection.reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            raise CallFailed(f"{host}:{port}: {exc!r}") from exc
        finally:
            if reusable and not self._closed:
                connection.idle_since = time.monotonic()
                self._idle.setdefault((host, port), collections.deque()).append(connection)
            else:
                connection.close()
        return status, answer


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, whether the connection may carry another request). Informational (1xx) answers are
    skipped. Raises ValueError for a malformed response."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ValueError(f"not an HTTP/1.x status line: {lines[0][:100]!r}")
        status = int(parts[1])
        fields: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, sep, value = line.partition(":")
                if not sep:
                    raise ValueError(f"malformed header line {line[:100]!r}")
                key = name.strip().lower()
                fields[key] = f"{fields[key]}, {value.strip()}" if key in fields else value.strip()
        if 100 <= status < 200:
            continue
        break
    keep_alive = parts[0] != "HTTP/1.0" and "close" not in fields.get("connection", "").lower()
    if status in (204, 304):
        return status, b"", keep_alive
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return status, await _read_chunked(reader), keep_alive
    if "content-length" in fields:
        length = int(fields["content-length"])
        if length < 0:
            raise ValueError("negative Content-Length")
        return status, await reader.readexactly(length), keep_alive
    return status, await reader.read(), False  # delimited by the end of the connection


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailer fields, then the blank line
                pass
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise ValueError("a chunk does not end with CRLF")


__all__ = ["CallFailed", "CallPool"]
