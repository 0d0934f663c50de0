"""A real ZooKeeper server for tests: Debian's ``zookeeper`` package, standalone, on a free loopback port.

Every server has its own temporary data directory and configuration; ``stop`` kills the JVM and waits for
it, ``restart`` brings it back on the same port with the same data (a ZooKeeper restart under a running
client). Tests that need isolation but not restarts share one server and use a chroot of their own
(``connection_string(chroot)``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")
TICK_MS = 500
"""ZooKeeper's tick: session timeouts may go down to two ticks (1 s), which keeps expiry tests short."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _four_letter(host: str, port: int, word: bytes, timeout: float = 1.0) -> bytes:
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(word)
        chunks = []
        while chunk := s.recv(4096):
            chunks.append(chunk)
        return b"".join(chunks)


class ZooKeeperServer:
    def __init__(self, base: Path, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.base = base
        self.data_dir = base / "data"
        self.conf_dir = base / "conf"
        self.log_file = base / "zookeeper.out"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def hosts(self) -> str:
        return f"{self.host}:{self.port}"

    def connection_string(self, chroot: str = "") -> str:
        """``host:port[/chroot]`` for kazoo."""
        return self.hosts + chroot

    def start(self, timeout: float = 30.0) -> None:
        if not ZOOKEEPER_JAR.exists() or shutil.which("java") is None:
            raise RuntimeError("Debian's zookeeper package is not installed (bash .ci/setup --test installs it)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "zoo.cfg").write_text(
            f"tickTime={TICK_MS}\ninitLimit=10\nsyncLimit=5\ndataDir={self.data_dir}\n"
            f"clientPort={self.port}\nclientPortAddress={self.host}\nmaxClientCnxns=0\n"
            "admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,stat,cons\n"
            "jute.maxbuffer=4194304\n")
        (self.conf_dir / "log4j.properties").write_text(
            "log4j.rootLogger=WARN, FILE\nlog4j.appender.FILE=org.apache.log4j.FileAppender\n"
            f"log4j.appender.FILE.File={self.base / 'zookeeper.log'}\n"
            "log4j.appender.FILE.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.FILE.layout.ConversionPattern=%d %-5p [%t] %c{1}: %m%n\n")
        command = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                   "-Dzookeeper.jmx.log4j.disable=true", "-cp", f"{self.conf_dir}:{ZOOKEEPER_JAR}",
                   "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(self.conf_dir / "zoo.cfg")]
        with open(self.log_file, "ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ZooKeeper exited with {self.process.returncode}: "
                                   f"{self.log_file.read_text(errors='replace')[-2000:]}")
            try:
                if b"Mode: standalone" in _four_letter(self.host, self.port, b"srvr"):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"ZooKeeper did not serve on {self.hosts} within {timeout} s")

    def stop(self) -> None:
        """Kills the server (SIGKILL: what a crash looks like to clients) and waits for it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, 9)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=30)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> ZooKeeperServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def zookeeper_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeperServer]:
    """One ZooKeeper for the whole session; tests keep apart through ``zk_hosts`` chroots."""
    with ZooKeeperServer(tmp_path_factory.mktemp("zookeeper")) as server:
        yield server


@pytest.fixture
def zk_hosts(zookeeper_server: ZooKeeperServer) -> str:
    """A connection string with a chroot no other test uses (``127.0.0.1:PORT/test-...``)."""
    return zookeeper_server.connection_string(f"/test-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def own_zookeeper(tmp_path: Path) -> Iterator[ZooKeeperServer]:
    """A ZooKeeper of the test's own, for tests that stop or restart it."""
    with ZooKeeperServer(tmp_path / "zookeeper") as server:
        yield server
