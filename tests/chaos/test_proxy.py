"""The chaos harness' fault proxy on real loopback sockets: forwarding, reset cuts, blackholes, retargeting."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from tests.chaos.proxy import FaultProxy, ProxyLoop
from tests.polling import wait_for


class Echo(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.received: list[bytes] = []
        super().__init__(("127.0.0.1", 0), EchoHandler)


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while data := self.request.recv(4096):
                self.server.received.append(data)  # type: ignore[attr-defined]
                self.request.sendall(data)
        except ConnectionError:
            pass  # the proxy resets links on purpose


@pytest.fixture
def echo() -> Iterator[Echo]:
    server = Echo()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def loop() -> Iterator[ProxyLoop]:
    proxies = ProxyLoop()
    yield proxies
    proxies.close()


def roundtrip(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(4096)
        if not chunk:
            break
        got += chunk
    return got


def connect(proxy: FaultProxy) -> socket.socket:
    return socket.create_connection((proxy.host, proxy.port), timeout=10)


def gone(sock: socket.socket) -> bool:
    """The peer reset or closed the connection."""
    try:
        return sock.recv(1) == b""
    except ConnectionError:
        return True


def test_forwards_and_a_reset_cut_refuses_and_resets(echo: Echo, loop: ProxyLoop) -> None:
    proxy = FaultProxy(loop, *echo.server_address).start()
    try:
        with connect(proxy) as sock:
            assert roundtrip(sock, b"hello") == b"hello"
            proxy.cut("reset")
            assert gone(sock)
        with pytest.raises(ConnectionRefusedError):
            connect(proxy).close()
        proxy.restore()
        with connect(proxy) as sock:
            assert roundtrip(sock, b"again") == b"again"
    finally:
        proxy.stop()


def test_a_blackhole_passes_no_byte_and_resets_on_restore(echo: Echo, loop: ProxyLoop) -> None:
    proxy = FaultProxy(loop, *echo.server_address).start()
    try:
        with connect(proxy) as sock:
            assert roundtrip(sock, b"before") == b"before"
            proxy.cut("blackhole")
            sock.sendall(b"lost")
            with connect(proxy) as hanging:  # accepted, but not forwarded
                hanging.sendall(b"lost too")
                with socket.create_connection(echo.server_address, timeout=10) as direct:  # type: ignore[arg-type]
                    assert roundtrip(direct, b"marker") == b"marker"
                proxy.restore()
                assert gone(sock) and gone(hanging)
        assert b"lost" not in b"".join(echo.received) and b"marker" in echo.received
        with connect(proxy) as sock:
            assert roundtrip(sock, b"after") == b"after"
    finally:
        proxy.stop()


def test_retarget_moves_new_connections(echo: Echo, loop: ProxyLoop) -> None:
    other = Echo()
    threading.Thread(target=other.serve_forever, daemon=True).start()
    proxy = FaultProxy(loop, "127.0.0.1", 1).start()  # nothing listens on port 1: connections are reset
    try:
        try:
            with connect(proxy) as sock:
                assert gone(sock)
        except ConnectionResetError:
            pass  # the reset may come before connect() returns
        proxy.retarget(*other.server_address)
        with connect(proxy) as sock:
            assert roundtrip(sock, b"moved") == b"moved"
        wait_for(lambda: b"moved" in other.received, what="the new target to get the bytes")
    finally:
        proxy.stop()
        other.shutdown()
        other.server_close()
