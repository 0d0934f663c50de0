"""``--zk``: the master registers in a real ZooKeeper the way Mesos 1.x masters do, and zk:// frameworks find it.

Everything is real: Debian's ZooKeeper (``tests/zookeeper_server.py``), localmesos clusters, pymesos's
``MasterDetector`` and ``MesosSchedulerDriver``, the ``mesospaas local-mesos`` process. Faults are real too: a
ZooKeeper restart (kill -9 and start on the same data) and a session expiry (the session is taken over by a
second client and closed, the way ZooKeeper's own tests expire sessions).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import Permissions
from pymesos import MesosSchedulerDriver
from pymesos.detector import MasterDetector

from localmesos.cluster import ClusterConfigError, LocalCluster
from localmesos.zk_registration import ZkUrl, ZkUrlError, parse_zk_url
from tests.zookeeper_server import ZooKeeperServer

from .conftest import ThreadedCluster, make_config
from tests.polling import wait_for

from .test_cli import MESOSPAAS, run_cli
from .test_pymesos_scheduler import RecordingScheduler

T = TypeVar("T")
def wait_until(condition: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """``wait_for`` with the description first, as these tests read best."""
    return wait_for(condition, timeout, what)


NODE = re.compile(r"^json\.info_\d{10}$")


def chroot_of(zk_hosts: str) -> str:
    return "/" + zk_hosts.split("/", 1)[1]


@pytest.fixture
def observer(zookeeper_server: ZooKeeperServer) -> Iterator[KazooClient]:
    """A plain client of the shared server, no chroot: looks at what the masters wrote."""
    client = KazooClient(hosts=zookeeper_server.hosts)
    client.start()
    yield client
    client.stop()
    client.close()


@pytest.fixture
def start_zk_cluster(tmp_path: Path) -> Iterator[Callable[..., ThreadedCluster]]:
    started: list[ThreadedCluster] = []

    def start(zk: str, name: str = "a", agents: int = 1) -> ThreadedCluster:
        config = make_config(tmp_path / name, agents, simulate=True)
        config.zk = zk
        cluster = ThreadedCluster(config)
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()


def members(client: KazooClient, path: str) -> list[str]:
    return sorted(c for c in client.get_children(path) if c.startswith("json.info_")) if client.exists(path) else []


class Detected:
    """pymesos's MasterDetector agent: records every master it announces (None: no master)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.masters: list[dict[str, Any] | None] = []

    def onNewMasterDetectedMessage(self, data: bytes) -> None:  # noqa: N802 (pymesos's name)
        with self.cond:
            self.masters.append(json.loads(data))
            self.cond.notify_all()

    def onNoMasterDetectedMessage(self) -> None:  # noqa: N802
        with self.cond:
            self.masters.append(None)
            self.cond.notify_all()

    def latest(self) -> tuple[dict[str, Any] | None] | None:
        with self.cond:
            return (self.masters[-1],) if self.masters else None


def address_of(info: dict[str, Any] | None) -> str | None:
    return None if info is None else f"{info['address']['ip']}:{info['address']['port']}"


# -- the node -----------------------------------------------------------------------------------------------
def test_master_node_has_mesos_name_and_master_info_and_goes_away_on_stop(
        zk_hosts: str, observer: KazooClient, start_zk_cluster: Callable[..., ThreadedCluster]) -> None:
    path = chroot_of(zk_hosts) + "/mesos"  # neither level exists yet: the master creates them
    assert observer.exists(chroot_of(zk_hosts)) is None
    cluster = start_zk_cluster(f"zk://{zk_hosts}/mesos")
    children = wait_until(lambda: members(observer, path), "the master's node")
    assert len(children) == 1 and NODE.match(children[0]), children
    data, stat = observer.get(f"{path}/{children[0]}")
    assert stat.ephemeralOwner != 0
    info = cluster.run(cluster.master.master_info)
    # stout's stringify(JSON::protobuf(MasterInfo)): keys sorted, no whitespace, the object SUBSCRIBED carries
    assert data == json.dumps(info, sort_keys=True, separators=(",", ":")).encode()
    parsed = json.loads(data)
    host, port = cluster.address.split(":")
    assert parsed["id"] == cluster.master.id
    assert parsed["address"] == {"hostname": host, "ip": host, "port": int(port)}
    assert parsed["port"] == int(port) and parsed["pid"] == f"master@{cluster.address}"
    assert parsed["ip"] == 16777343  # 127.0.0.1 as Mesos stores it: uint32 in network byte order, read little-endian
    assert parsed["hostname"] == host and parsed["version"] == "1.11.1"
    registration = cluster.cluster.zk_registration
    assert registration is not None and registration.node == f"{path}/{children[0]}"
    assert observer.get_children(chroot_of(zk_hosts)) == ["mesos"]

    cluster.stop()
    wait_until(lambda: members(observer, path) == [], "the node to go away")
    assert observer.exists(path) is not None  # the group path persists, like Mesos'


def test_two_masters_lowest_sequence_leads_and_failover_moves_to_the_next(
        zk_hosts: str, observer: KazooClient, zookeeper_server: ZooKeeperServer,
        start_zk_cluster: Callable[..., ThreadedCluster]) -> None:
    first = start_zk_cluster(f"zk://{zk_hosts}", "first")
    second = start_zk_cluster(f"zk://{zk_hosts}", "second")
    path = chroot_of(zk_hosts)
    children = wait_until(lambda: c if len(c := members(observer, path)) == 2 else None, "two members")
    leader = json.loads(observer.get(f"{path}/{children[0]}")[0])
    assert leader["id"] == first.master.id
    assert json.loads(observer.get(f"{path}/{children[1]}")[0])["id"] == second.master.id

    seen = Detected()
    detector = MasterDetector(zookeeper_server.hosts + path, seen)
    detector.start()
    try:
        wait_until(lambda: (m := seen.latest()) and address_of(m[0]) == first.address, "the first master")
        first.stop()
        wait_until(lambda: (m := seen.latest()) and address_of(m[0]) == second.address, "failover to the second")
        second.stop()
        wait_until(lambda: seen.latest() == (None,), "no master")
    finally:
        detector.stop()
        detector.zk.close()


# -- frameworks ---------------------------------------------------------------------------------------------
def test_pymesos_framework_subscribes_through_zookeeper_and_follows_the_leader(
        zk_hosts: str, start_zk_cluster: Callable[..., ThreadedCluster]) -> None:
    first = start_zk_cluster(f"zk://{zk_hosts}/mesos", "first")
    second = start_zk_cluster(f"zk://{zk_hosts}/mesos", "second")
    sched = RecordingScheduler()
    driver = MesosSchedulerDriver(sched, {"user": "root", "name": "zk", "failover_timeout": 60},
                                  f"zk://{zk_hosts}/mesos", implicit_acknowledgements=False, failover=True)
    detector = None
    try:
        driver.start()
        detector = driver.detector
        offer = sched.offers.get(timeout=30)
        assert offer["agent_id"]["value"].startswith(first.master.id)
        assert driver.master == first.address
        sched.wait_for(lambda kind, _: kind == "registered")

        first.stop()  # the leader goes: pymesos's detector moves the subscription to the next member
        sched.wait_for(lambda kind, _: kind == "reregistered", timeout=60)
        assert driver.master == second.address
        while not (offer := sched.offers.get(timeout=30))["agent_id"]["value"].startswith(second.master.id):
            pass
    finally:
        driver.stop()
        driver.join()
        if detector is not None:
            detector.zk.close()


# -- faults -------------------------------------------------------------------------------------------------
def test_registration_survives_a_zookeeper_restart(own_zookeeper: ZooKeeperServer, tmp_path: Path) -> None:
    config = make_config(tmp_path, 1, simulate=True)
    config.zk = f"zk://{own_zookeeper.hosts}/mesos"
    cluster = ThreadedCluster(config)
    observer: KazooClient | None = None
    try:
        registration = cluster.cluster.zk_registration
        assert registration is not None
        wait_until(lambda: registration.node, "the registration")

        own_zookeeper.restart()

        observer = KazooClient(hosts=own_zookeeper.hosts)
        observer.start()

        def registered_in_live_session() -> bool:
            node, client_id = registration.node, registration.client.client_id
            if node is None or client_id is None:
                return False
            stat = observer.exists(node)
            return stat is not None and stat.ephemeralOwner == client_id[0] and members(observer, "/mesos") == [
                node.rsplit("/", 1)[1]]

        wait_until(registered_in_live_session, "the registration after the restart")
        data = json.loads(observer.get(registration.node or "")[0])
        assert data["id"] == cluster.master.id and address_of(data) == cluster.address
    finally:
        cluster.stop()
        if observer is not None:
            observer.stop()
            observer.close()


def test_master_registers_once_an_unreachable_zookeeper_comes_up(own_zookeeper: ZooKeeperServer,
                                                                tmp_path: Path) -> None:
    own_zookeeper.stop()
    config = make_config(tmp_path, 1, simulate=True)
    config.zk = f"zk://{own_zookeeper.hosts}/mesos"
    config.zk_session_timeout = 1.0  # how long start waits for a first registration
    cluster = ThreadedCluster(config)  # starts and serves without ZooKeeper, like a master waiting to be elected
    observer: KazooClient | None = None
    try:
        registration = cluster.cluster.zk_registration
        assert registration is not None and registration.node is None
        own_zookeeper.start()
        node = wait_until(lambda: registration.node, "the registration")
        observer = KazooClient(hosts=own_zookeeper.hosts)
        observer.start()
        assert json.loads(observer.get(node)[0])["id"] == cluster.master.id
        own_zookeeper.stop()  # leaving while ZooKeeper is down does not hang the stop
        cluster.stop()
    finally:
        cluster.stop()
        if observer is not None:
            observer.stop()
            observer.close()


def expire_session(hosts: str, client: KazooClient, expired: Callable[[], bool], timeout: float = 60.0) -> None:
    """Takes ``client``'s session over and closes it: ZooKeeper ends it and removes its ephemeral nodes; the owner
    learns it expired when it reconnects. Should the owner win its session back before the close (the server
    then drops the thief's connection), the session lives on: take it over again until ``expired()``."""
    deadline = time.monotonic() + timeout
    while True:
        client_id = client.client_id
        if client_id is not None:
            thief = KazooClient(hosts=hosts, client_id=client_id)
            thief.start()
            thief.stop()
            thief.close()
        attempt_end = min(deadline, time.monotonic() + 5)
        while time.monotonic() < attempt_end:
            if expired():
                return
            time.sleep(0.05)
        if time.monotonic() >= deadline:
            raise AssertionError("the session would not expire")


def test_session_expiry_registers_again_with_a_new_sequence(
        zk_hosts: str, zookeeper_server: ZooKeeperServer, observer: KazooClient,
        start_zk_cluster: Callable[..., ThreadedCluster], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="localmesos.zk_registration")
    cluster = start_zk_cluster(f"zk://{zk_hosts}")
    registration = cluster.cluster.zk_registration
    assert registration is not None
    old = wait_until(lambda: registration.node, "the registration")
    session_id = registration.client.client_id[0]
    expire_session(zookeeper_server.hosts, registration.client, lambda: observer.exists(old) is None)
    new = wait_until(lambda: n if (n := registration.node) not in (None, old) else None, "a new registration")
    assert int(new.rsplit("_", 1)[1]) > int(old.rsplit("_", 1)[1])
    assert members(observer, chroot_of(zk_hosts)) == [new.rsplit("/", 1)[1]]
    assert observer.get(new)[1].ephemeralOwner == registration.client.client_id[0] != session_id
    assert json.loads(observer.get(new)[0])["id"] == cluster.master.id
    messages = [r.getMessage() for r in caplog.records if r.name == "localmesos.zk_registration"]
    assert any("session lost" in m for m in messages) and any(m.startswith("re-registered") for m in messages)


# -- configuration ------------------------------------------------------------------------------------------
def test_credentials_give_the_nodes_mesos_acl(zk_hosts: str, observer: KazooClient,
                                              start_zk_cluster: Callable[..., ThreadedCluster]) -> None:
    host_part, chroot = zk_hosts.split("/", 1)
    cluster = start_zk_cluster(f"zk://alice:secret@{host_part}/{chroot}")
    path = "/" + chroot
    child = wait_until(lambda: members(observer, path), "the master's node")[0]
    assert json.loads(observer.get(f"{path}/{child}")[0])["id"] == cluster.master.id  # everyone may read
    acls, _ = observer.get_acls(f"{path}/{child}")
    assert {(a.id.scheme, a.perms) for a in acls} == {("world", Permissions.READ), ("digest", Permissions.ALL)}
    with pytest.raises(NoAuthError):
        observer.delete(f"{path}/{child}")


def test_zk_urls_parse_like_mesos(tmp_path: Path) -> None:
    assert parse_zk_url("zk://h1:2181,h2:2182/mesos/") == ZkUrl("h1:2181,h2:2182", "/mesos")
    assert parse_zk_url("zk://u:p@h1/a/b") == ZkUrl("h1", "/a/b", "u:p")
    assert str(parse_zk_url("zk://u:p@h1/a/b")) == "zk://***@h1/a/b"
    url_file = tmp_path / "zk"
    url_file.write_text("zk://h1:2181/mesos\n")
    assert parse_zk_url(f"file://{url_file}") == ZkUrl("h1:2181", "/mesos")
    for bad in ("h1:2181/mesos", "zk://h1:2181", "zk://h1:2181/", "zk:///mesos", "zk://h1:x/mesos",
                "zk://h1//mesos", "zk://user@h1/mesos", f"file://{tmp_path / 'missing'}"):
        with pytest.raises(ZkUrlError):
            parse_zk_url(bad)
    config = make_config(tmp_path, 0, simulate=True)
    config.zk = "zk://h1:2181"
    with pytest.raises(ClusterConfigError, match="--zk"):
        LocalCluster(config)


# -- the command line ---------------------------------------------------------------------------------------
def test_cli_zk_flag_and_environment() -> None:
    result = run_cli("local-mesos", "--help")
    assert result.returncode == 0 and "--zk" in result.stdout and "MESOSPAAS_ZK" in result.stdout
    result = run_cli("local-mesos", env={"MESOSPAAS_ZK": "http://127.0.0.1:2181/mesos"})
    assert result.returncode == 2 and "--zk" in result.stderr
    result = run_cli("local-mesos", "--zk", "zk://127.0.0.1:2181/")
    assert result.returncode == 2 and "'/' is not supported" in result.stderr


def test_cli_registers_the_master_and_leaves_on_sigterm(zk_hosts: str, observer: KazooClient,
                                                        tmp_path: Path) -> None:
    proc = subprocess.Popen(MESOSPAAS + ["local-mesos", "--port", "0", "--agent-port", "0", "--agents", "1",
                                         "--simulate", "true", "--work-dir", str(tmp_path),
                                         "--zk", f"zk://{zk_hosts}/mesos"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("localmesos master: http://127.0.0.1:"), line
        address = line.split("http://", 1)[1]
        path = chroot_of(zk_hosts) + "/mesos"
        child = wait_until(lambda: members(observer, path), "the master's node")[0]
        assert NODE.match(child)
        info = json.loads(observer.get(f"{path}/{child}")[0])
        assert address_of(info) == address and info["pid"] == f"master@{address}"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        wait_until(lambda: members(observer, path) == [], "the node to go away")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def test_python_m_localmesos_reads_localmesos_zk() -> None:
    result = subprocess.run([sys.executable, "-m", "localmesos", "--help"], capture_output=True, text=True,
                            timeout=30, env={**os.environ})
    assert result.returncode == 0 and "LOCALMESOS_ZK" in result.stdout
