"""User-space port forwarding into a container's network namespace (``mesos-bridge`` networking).

Owns ``PortForwarder``: listens on ``(agent ip, host_port)`` in the agent's namespace for each mapping and
relays every connection to ``127.0.0.1:container_port`` inside the network namespace of a process
(``/proc/<pid>/ns/net``). One thread per container enters that namespace with ``setns(2)`` (through ctypes;
it changes only the calling thread) and makes its outgoing sockets there; the listening sockets were made
before, in the agent's namespace. No address outside loopback is used. ``stop()`` closes everything.
Fails: a connection the container refuses is closed at once (the client sees a reset/EOF).
"""

from __future__ import annotations

import ctypes
import logging
import os
import selectors
import socket
import threading
import time

log = logging.getLogger(__name__)
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class PortForwarder:
    def __init__(self, ip: str, mappings: list[tuple[int, int]]) -> None:
        """Binds the host ports now (an error here fails the launch); ``start(pid)`` begins forwarding."""
        self._mappings = mappings
        self._pid = 0
        self._listeners: dict[socket.socket, int] = {}
        for host_port, container_port in mappings:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((ip, host_port))
            listener.listen(64)
            listener.setblocking(False)
            self._listeners[listener] = container_port
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def start(self, netns_pid: int) -> None:
        self._pid = netns_pid
        self._thread = threading.Thread(target=self._run, name=f"port-forward-{netns_pid}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        else:
            for sock in list(self._listeners) + [self._wake_r, self._wake_w]:
                sock.close()

    def _enter(self) -> bool:
        own = os.stat("/proc/self/ns/net").st_ino
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not self._stopped:
            try:
                path = f"/proc/{self._pid}/ns/net"
                if os.stat(path).st_ino != own:  # the launcher has made its namespace
                    fd = os.open(path, os.O_RDONLY)
                    try:
                        if _libc.setns(fd, CLONE_NEWNET) != 0:
                            raise OSError(ctypes.get_errno(), "setns")
                    finally:
                        os.close(fd)
                    return True
            except OSError as exc:
                log.warning("port forwarding into %s: %s", self._pid, exc)
                return False
            time.sleep(0.005)
        return False

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        pairs: dict[socket.socket, socket.socket] = {}
        try:
            if not self._enter():
                return
            selector.register(self._wake_r, selectors.EVENT_READ)
            for listener in self._listeners:
                selector.register(listener, selectors.EVENT_READ)
            while not self._stopped:
                for key, _ in selector.select(timeout=1.0):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self._wake_r:
                        return
                    if sock in self._listeners:
                        self._accept(sock, selector, pairs)
                    elif sock in pairs:
                        self._relay(sock, selector, pairs)
        finally:
            for sock in list(pairs) + list(self._listeners) + [self._wake_r, self._wake_w]:
                try:
                    sock.close()
                except OSError:
                    pass
            selector.close()

    def _accept(self, listener: socket.socket, selector: selectors.BaseSelector,
                pairs: dict[socket.socket, socket.socket]) -> None:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self._listeners[listener]), timeout=5)
        except OSError:
            client.close()
            return
        for sock in (client, upstream):
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        pairs[client], pairs[upstream] = upstream, client

    def _relay(self, sock: socket.socket, selector: selectors.BaseSelector,
               pairs: dict[socket.socket, socket.socket]) -> None:
        other = pairs[sock]
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            try:
                other.setblocking(True)
                other.sendall(data)
                other.setblocking(False)
                return
            except OSError:
                pass
        for end in (sock, other):
            pairs.pop(end, None)
            try:
                selector.unregister(end)
            except (KeyError, ValueError):
                pass
            end.close()
