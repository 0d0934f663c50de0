"""A fault-injecting TCP proxy on loopback, owned by the chaos harness.

Owns: ``FaultProxy`` (one listening port forwarding to one target) and ``ProxyLoop`` (a private asyncio loop on a
daemon thread that runs every proxy of a harness, so they keep forwarding while the harness thread blocks).

A link is either up or cut. ``cut(mode="reset")`` closes the listening socket (new connections are refused) and
resets every open connection (SO_LINGER 0: the peers see ECONNRESET, as after a router drops state).
``cut(mode="blackhole")`` keeps the listener and every connection open but forwards nothing in either direction
(new connections are accepted and hang): the peers only notice through their own timeouts, as in a real
partition. ``restore`` brings the link back; connections that lived through a blackhole are reset then, since
bytes were dropped and their streams are no longer whole. Invariant: while a link is cut, no byte crosses it.
Fails: ``OSError`` from ``start``/``restore`` when the port cannot be bound.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class ProxyLoop:
    """An event loop on a daemon thread; ``call`` runs a coroutine there and waits for its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="chaos-proxies", daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


class FaultProxy:
    """Forwards ``host:port`` (picked free when 0) to ``target_host:target_port``; see the module docstring."""

    def __init__(self, loop: ProxyLoop, target_host: str, target_port: int, host: str = "127.0.0.1",
                 port: int = 0, name: str = "") -> None:
        self._loop = loop
        self.target = (target_host, target_port)
        self.host = host
        self.port = port
        self.name = name or f"proxy->{target_host}:{target_port}"
        self.state = "up"
        self._server: asyncio.base_events.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()
        self._dirty: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> FaultProxy:
        self._loop.call(self._listen())
        return self

    def cut(self, mode: str = "reset") -> None:
        if mode not in ("reset", "blackhole"):
            raise ValueError(f"unknown cut mode {mode!r}")
        self._loop.call(self._cut(mode))

    def restore(self) -> None:
        self._loop.call(self._restore())

    def retarget(self, host: str, port: int) -> None:
        """Forward to a new target from now on; connections to the old one are reset."""
        self._loop.call(self._retarget((host, port)))

    def stop(self) -> None:
        if not self._loop.loop.is_closed():
            self._loop.call(self._stop())

    # -- on the proxy loop ------------------------------------------------------------------------------
    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def _reset_all(self, links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]]) -> None:
        for link in list(links):
            for writer in link:
                if writer is not None:
                    _reset(writer)
            self._links.discard(link)
        links.clear()

    async def _cut(self, mode: str) -> None:
        self.state = mode
        if mode == "reset":
            await self._close_listener()
            self._reset_all(self._links)
        else:
            self._dirty |= self._links

    async def _restore(self) -> None:
        if self.state == "blackhole":
            self._reset_all(self._dirty)
            self._reset_all({link for link in self._links if link[1] is None})  # accepted during the cut
        self.state = "up"
        if self._server is None:
            await self._listen()

    async def _retarget(self, target: tuple[str, int]) -> None:
        self.target = target
        self._reset_all(self._links)

    async def _stop(self) -> None:
        await self._close_listener()
        self._reset_all(self._links)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.state == "reset":
            _reset(writer)
            return
        if self.state == "blackhole":
            pending = (writer, None)
            self._links.add(pending)
            while self.state == "blackhole" and pending in self._links:
                await asyncio.sleep(0.05)
            if pending not in self._links:
                return
            self._links.discard(pending)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(writer)
            return
        link = (writer, up_writer)
        self._links.add(link)
        await asyncio.gather(self._pump(reader, up_writer, link), self._pump(up_reader, writer, link),
                             return_exceptions=True)
        self._links.discard(link)
        for w in link:
            if w is not None and not w.is_closing():
                w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    link: tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]) -> None:
        try:
            while chunk := await reader.read(65536):
                if self.state != "up" or link not in self._links:
                    continue  # dropped on the floor: the link is cut
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if link in self._links and self.state == "up":
                try:
                    writer.write_eof()
                except (OSError, RuntimeError):
                    pass
            if link in self._links:  # one side finished: end the other too
                for w in link:
                    if w is not None:
                        w.close()
