"""HAProxy as the lb drives it: validate, install, run (master-worker), reload, runtime API.

Owns: ``HAProxy``. Invariants:
- A config is installed only after ``haproxy -c -f <candidate>`` accepted it; installing is a write to a
  temporary file in the same directory and an atomic ``os.replace`` (a reader never sees half a file).
- With ``run`` (``--run-haproxy``) the lb starts ``haproxy -W -S <master socket> -f <config>`` as its child
  and supervises it (restarted if it exits). A reload is ``SIGUSR2`` to the master: the master starts a new
  worker with the new config and hands it the listening sockets, the old worker finishes its connections;
  no connection is refused. The reload is over when the master's ``show proc`` lists a new worker.
- Without ``run``, ``reload_command`` (a shell command) reloads an HAProxy someone else owns.
- Unix socket paths longer than HAProxy accepts (``SOCKET_PATH_MAX``; a deep state directory) are moved by
  ``socket_path`` to a stable short path in a private (0700, ours) directory under the temp dir, removed again
  by ``stop``.
- Runtime API commands go to ``admin_socket`` (the worker's stats socket, ``level admin``; after a reload
  it belongs to the new worker, the old one unbinds at once). A reply naming an error raises
  ``RuntimeApiError`` (the caller then reloads instead).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import stat
import signal
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger("mesospaas.lb")
ERROR_WORDS = ("No such", "Unknown command", "Require ", "invalid", "Invalid", "not found", "cannot", "Can't")


SOCKET_PATH_MAX = 97
"""HAProxy's limit for a Unix socket path ("socket path ... too long (max 97)"): sun_path less its suffixes."""
SHORT_SOCKET_PREFIX = "mesospaas-lb-"


class RuntimeApiError(RuntimeError):
    pass


def socket_path(wanted: Path) -> Path:
    """``wanted``, or when it is too long for HAProxy a short path that stands for it: the same for the same
    ``wanted`` (a restarted lb finds its sockets), in a directory only this user can enter. Raises ``OSError``
    when that directory exists but is not a private one of ours."""
    short = stand_in_path(wanted)
    if short is None:
        return wanted
    directory = short.parent
    directory.mkdir(mode=0o700, exist_ok=True)
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise OSError(f"{directory} (for the socket {wanted}) is not a private directory of ours")
    log.info("socket path %s is too long for HAProxy (max %d); using %s", wanted, SOCKET_PATH_MAX, short)
    return short


def stand_in_path(wanted: Path) -> Path | None:
    """The short path ``socket_path`` uses for ``wanted`` (None when ``wanted`` itself fits); creates nothing."""
    if len(os.fsencode(wanted)) <= SOCKET_PATH_MAX:
        return None
    digest = hashlib.sha256(os.fsencode(wanted)).hexdigest()[:16]
    name = wanted.name if len(wanted.name) <= 32 else f"{digest}.sock"
    return Path(tempfile.gettempdir()) / f"{SHORT_SOCKET_PREFIX}{digest}" / name


class ReloadFailed(RuntimeError):
    pass


class HAProxy:
    def __init__(self, config_path: Path, *, run: bool, admin_socket: Path, master_socket: Path | None = None,
                 reload_command: str | None = None, binary: str = "haproxy") -> None:
        self.config_path = config_path
        self.run = run
        self.admin_socket = admin_socket
        self.master_socket = socket_path(master_socket or config_path.with_name(config_path.name + ".master.sock"))
        self.reload_command = reload_command
        self.binary = binary
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._stopping = False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def validate(self, text: str) -> str | None:
        """None when HAProxy accepts ``text``; else its complaint."""
        directory = self.config_path.parent
        fd, name = tempfile.mkstemp(prefix=".candidate-", suffix=".cfg", dir=directory)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            proc = await asyncio.create_subprocess_exec(self.binary, "-c", "-q", "-f", name,
                                                        stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.STDOUT)
            output, _ = await proc.communicate()
            if proc.returncode == 0:
                return None
            return output.decode("utf-8", "replace").strip() or f"haproxy -c exited {proc.returncode}"
        finally:
            os.unlink(name)

    def install(self, text: str) -> None:
        fd, name = tempfile.mkstemp(prefix=".next-", suffix=".cfg", dir=self.config_path.parent)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(name, self.config_path)

    async def start(self) -> None:
        for stale in (self.master_socket, self.admin_socket):
            if stale.exists():
                stale.unlink()
        self.process = await asyncio.create_subprocess_exec(
            self.binary, "-W", "-S", f"{self.master_socket},mode,600", "-f", str(self.config_path),
            stdin=asyncio.subprocess.DEVNULL)
        log.info("started haproxy (master pid %d)", self.process.pid)
        await self._wait_for_workers(lambda workers: bool(workers), "haproxy worker")

    async def supervise(self) -> None:
        """Restarts our HAProxy whenever it exits (until ``stop``)."""
        while not self._stopping:
            if self.process is None:
                await asyncio.sleep(0.5)
                continue
            code = await self.process.wait()
            if self._stopping:
                return
            self.restarts += 1
            log.error("haproxy exited with %s; restarting", code)
            await asyncio.sleep(min(5.0, 0.2 * self.restarts))
            try:
                await self.start()
            except (OSError, ReloadFailed) as exc:
                log.error("haproxy restart failed: %s", exc)

    async def stop(self) -> None:
        self._stopping = True
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout=10)
            except asyncio.TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self.run:
            self._remove_short_socket_dirs()

    def _remove_short_socket_dirs(self) -> None:
        """The directories ``socket_path`` made for our sockets, with the sockets in them (nothing else)."""
        for sock in (self.master_socket, self.admin_socket):
            if sock.parent.name.startswith(SHORT_SOCKET_PREFIX):
                sock.unlink(missing_ok=True)
                try:
                    sock.parent.rmdir()
                except OSError:
                    pass  # not empty (the other socket, or not only ours): left as it is

    async def reload(self) -> None:
        if self.run:
            if not self.running:
                await self.start()
                return
            before = await self._workers()
            assert self.process is not None
            self.process.send_signal(signal.SIGUSR2)
            await self._wait_for_workers(lambda workers: bool(workers - before), "new haproxy worker")
        elif self.reload_command:
            proc = await asyncio.create_subprocess_shell(self.reload_command, stdout=asyncio.subprocess.PIPE,
                                                         stderr=asyncio.subprocess.STDOUT)
            output, _ = await proc.communicate()
            if proc.returncode != 0:
                raise ReloadFailed(f"{self.reload_command!r} exited {proc.returncode}: {output.decode()[-500:]}")

    async def _wait_for_workers(self, done: Callable[[set[str]], bool], what: str, timeout: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                workers = await self._workers()
                if done(workers):
                    return
            except OSError:
                pass
            if self.process is not None and self.process.returncode is not None:
                raise ReloadFailed(f"haproxy exited ({self.process.returncode}) before a {what} ran")
            if asyncio.get_running_loop().time() > deadline:
                raise ReloadFailed(f"no {what} within {timeout} s")
            await asyncio.sleep(0.02)

    async def _workers(self) -> set[str]:
        """PIDs of the master's current workers (``show proc``; old workers finishing up are not counted)."""
        reply = await self._send(self.master_socket, "show proc")
        workers: set[str] = set()
        section = ""
        for line in reply.splitlines():
            if line.startswith("#"):
                section = line
                continue
            fields = line.split()
            if len(fields) >= 3 and fields[1] == "worker" and "old" not in section.lower():
                workers.add(fields[0])
        return workers

    async def runtime(self, commands: Sequence[str]) -> None:
        """Sends runtime API commands; raises RuntimeApiError on a reply that names an error."""
        if not commands:
            return
        for start in range(0, len(commands), 50):
            batch = commands[start:start + 50]
            reply = await self._send(self.admin_socket, "; ".join(batch))
            bad = [line for line in reply.splitlines() if any(word in line for word in ERROR_WORDS)]
            if bad:
                raise RuntimeApiError("; ".join(bad))

    async def stats_csv(self) -> str:
        return await self._send(self.admin_socket, "show stat")

    @staticmethod
    async def _send(socket_path: Path, command: str) -> str:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(socket_path)), timeout=5)
        try:
            writer.write(command.encode() + b"\n")
            await writer.drain()
            data = b""
            while True:
                # a reply ends with an empty line; the master CLI may keep the connection open after it
                wait = 0.2 if data.endswith(b"\n\n") else 10.0
                try:
                    chunk = await asyncio.wait_for(reader.read(65536), timeout=wait)
                except asyncio.TimeoutError:
                    if data.endswith(b"\n\n"):
                        break
                    raise
                if not chunk:
                    break
                data += chunk
            return data.decode("utf-8", "replace")
        finally:
            writer.close()
