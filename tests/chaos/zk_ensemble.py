"""A real ZooKeeper ensemble of three (Debian's ``zookeeper``) on free loopback ports, for the chaos run.

Owns: ``ZooKeeperEnsemble`` (three ``QuorumPeerMain`` JVMs, each with its own data directory, ``myid`` and
configuration; ``restart_node(i)`` kills one with SIGKILL and starts it again on the same ports and data;
``stop_all``/``start_all`` take the whole ensemble down and up). The JVM command line and the log configuration
are those of ``tests/zookeeper_server.py``; only the quorum part differs. ``start_all`` waits until a node
answers as leader or follower (a quorum serves). Fails: ``RuntimeError`` when a node exits or no quorum forms
within the timeout (the node's log tail in the message).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tests.zookeeper_server import TICK_MS, ZOOKEEPER_JAR, ZooKeeperServer, _four_letter, free_port


class QuorumNode(ZooKeeperServer):
    """One member: a ``ZooKeeperServer`` whose configuration names its peers."""

    def __init__(self, base: Path, myid: int, peers: list[tuple[int, int, int]]) -> None:
        super().__init__(base, port=peers[myid - 1][0])
        self.myid = myid
        self.peers = peers

    def start(self, timeout: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "myid").write_text(f"{self.myid}\n")
        servers = "".join(f"server.{n}={self.host}:{peer}:{election}\n"
                          for n, (_, peer, election) in enumerate(self.peers, start=1))
        (self.conf_dir / "zoo.cfg").write_text(
            f"tickTime={TICK_MS}\ninitLimit=20\nsyncLimit=10\ndataDir={self.data_dir}\n"
            f"clientPort={self.port}\nclientPortAddress={self.host}\nmaxClientCnxns=0\n"
            "admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,stat,cons\n"
            "jute.maxbuffer=4194304\nquorumListenOnAllIPs=false\n" + servers)
        (self.conf_dir / "log4j.properties").write_text(
            "log4j.rootLogger=WARN, FILE\nlog4j.appender.FILE=org.apache.log4j.FileAppender\n"
            f"log4j.appender.FILE.File={self.base / 'zookeeper.log'}\n"
            "log4j.appender.FILE.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.FILE.layout.ConversionPattern=%d %-5p [%t] %c{1}: %m%n\n")
        command = ["java", "-Xmx192m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                   "-Dzookeeper.jmx.log4j.disable=true", "-cp", f"{self.conf_dir}:{ZOOKEEPER_JAR}",
                   "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(self.conf_dir / "zoo.cfg")]
        with open(self.log_file, "ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)

    def mode(self) -> str | None:
        """``leader``/``follower`` while it serves in a quorum, None otherwise."""
        if self.process is None or self.process.poll() is not None:
            return None
        try:
            answer = _four_letter(self.host, self.port, b"srvr").decode(errors="replace")
        except OSError:
            return None
        for line in answer.splitlines():
            if line.startswith("Mode: "):
                return line.removeprefix("Mode: ").strip()
        return None


class ZooKeeperEnsemble:
    def __init__(self, base: Path, size: int = 3) -> None:
        peers = [(free_port(), free_port(), free_port()) for _ in range(size)]
        self.nodes = [QuorumNode(base / f"zk{n}", n, peers) for n in range(1, size + 1)]

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [(n.host, n.port) for n in self.nodes]

    def start_all(self, timeout: float = 120.0) -> None:
        for node in self.nodes:
            if node.process is None:
                node.start()
        self.wait_quorum(timeout)

    def wait_quorum(self, timeout: float = 120.0, nodes: list[QuorumNode] | None = None) -> None:
        """Until every node of ``nodes`` (default: all) serves as leader or follower."""
        wanted = nodes if nodes is not None else self.nodes
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in wanted:
                if node.process is not None and node.process.poll() is not None:
                    raise RuntimeError(f"ZooKeeper node {node.myid} exited with {node.process.returncode}: "
                                       f"{node.log_file.read_text(errors='replace')[-2000:]}")
            if all(node.mode() in ("leader", "follower") for node in wanted):
                return
            time.sleep(0.2)
        raise RuntimeError(f"ZooKeeper ensemble did not form a quorum within {timeout} s: "
                           f"{[(n.myid, n.mode()) for n in self.nodes]}")

    def restart_node(self, index: int, downtime: float = 0.0) -> None:
        node = self.nodes[index]
        node.stop()
        time.sleep(downtime)  # the fault's length: how long the node stays down, not a synchronisation
        node.start()
        self.wait_quorum(nodes=[node])

    def stop_all(self) -> None:
        for node in self.nodes:
            node.stop()
