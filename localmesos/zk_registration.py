"""The master's membership in ZooKeeper, the way Mesos 1.x masters contend (``--zk zk://host1:2181,host2:2181/mesos``).

A real master joins a ZooKeeper group (Mesos' ``src/zookeeper/group.cpp`` driven by
``src/master/contender/zookeeper.cpp``): it creates the group path when missing (persistent nodes) and under it one
EPHEMERAL|SEQUENTIAL znode ``<path>/json.info_<10-digit sequence>`` whose data is its ``MasterInfo`` as JSON,
written the way stout writes it (``JSON::protobuf`` + ``stringify``: keys sorted, no whitespace), e.g. under
``/mesos/json.info_0000000003``::

    {"address":{"hostname":"127.0.0.1","ip":"127.0.0.1","port":5050},"capabilities":[...],"hostname":"127.0.0.1",
     "id":"6a1f...","ip":16777343,"pid":"master@127.0.0.1:5050","port":5050,"version":"1.11.1"}

The member with the lowest sequence leads; detectors (Mesos', pymesos's ``MasterDetector``) watch the children of
the path and read the leader's data. The data is the master's own ``master_info()``: the same object SUBSCRIBED
carries. With ``user:password@`` in the URL the session authenticates with ``digest`` and the nodes get Mesos' ACL
for that case (everyone may read, the creator may do everything); without, they are open.

Owns: one kazoo client, connected without a chroot (full paths everywhere, so a path that does not exist yet
raises no "No chroot path exists" warning), and the membership znode. A state listener wakes a worker thread on
every connection state change; the worker makes sure a node owned by the current session exists. While the
session lives (connection blips, a ZooKeeper restart within the session timeout) the node stays and nothing is
done. After a session expiry ZooKeeper has removed the node, kazoo opens a new session, and the worker registers
again, under a new, higher sequence (a real master aborts there instead; localmesos keeps serving). A node the
session created while the answer was lost is adopted rather than doubled. Failures retry with a capped backoff,
never in a tight loop. ``stop`` closes the session, which removes the node at once.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.retry import KazooRetry
from kazoo.security import CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE

log = logging.getLogger(__name__)

LABEL = "json.info"
"""Mesos' ``MASTER_INFO_JSON_LABEL``: members are ``<path>/json.info_<sequence>``."""
SESSION_TIMEOUT = 10.0
"""Mesos' ``--zk_session_timeout`` default (``MASTER_CONTENDER_ZK_SESSION_TIMEOUT``)."""
RETRY_MIN = 0.5
RETRY_MAX = 30.0


class ZkUrlError(ValueError):
    """The ``--zk`` value is not a ZooKeeper URL Mesos accepts; the text says why."""


@dataclass(frozen=True)
class ZkUrl:
    """``zk://[user:password@]host1:port1,host2:port2/path``, parsed."""

    hosts: str
    path: str
    credentials: str | None = None

    def __str__(self) -> str:
        auth = "***@" if self.credentials else ""
        return f"zk://{auth}{self.hosts}{self.path}"


def parse_zk_url(text: str) -> ZkUrl:
    """What Mesos' ``zookeeper::URL::parse`` accepts for ``--zk``, plus ``file:///path`` holding such a URL."""
    value = text.strip()
    if value.startswith("file://"):
        try:
            value = Path(value[len("file://"):]).read_text().strip()
        except OSError as exc:
            raise ZkUrlError(f"cannot read the ZooKeeper URL from {text}: {exc}") from exc
    if not value.startswith("zk://"):
        raise ZkUrlError(f"expected zk://host1:port1,host2:port2/path, got {text!r}")
    rest = value[len("zk://"):]
    slash = rest.find("/")
    servers, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    credentials = None
    if "@" in servers:
        credentials, servers = servers.rsplit("@", 1)
        if ":" not in credentials:
            raise ZkUrlError("ZooKeeper credentials must be user:password")
    if not servers:
        raise ZkUrlError(f"no ZooKeeper servers in {text!r}")
    for server in servers.split(","):
        host, sep, port = server.rpartition(":")
        if not server or (sep and (not host or not port.isdigit() or not 0 < int(port) < 65536)):
            raise ZkUrlError(f"bad ZooKeeper server {server!r} in {text!r}")
    path = path.rstrip("/")
    if not path:
        raise ZkUrlError("Expecting a (chroot) path for ZooKeeper ('/' is not supported)")
    if any(part in ("", ".", "..") for part in path.split("/")[1:]):
        raise ZkUrlError(f"bad ZooKeeper path {path!r}")
    return ZkUrl(hosts=servers, path=path, credentials=credentials)


def master_info_data(info: dict[str, Any]) -> bytes:
    """The znode data: stout's ``stringify(JSON::protobuf(masterInfo))`` (sorted keys, no whitespace)."""
    return json.dumps(info, sort_keys=True, separators=(",", ":")).encode()


class ZooKeeperRegistration:
    """Keeps one master's ``json.info_`` member under ``url.path`` while started."""

    def __init__(self, url: ZkUrl | str, master_info: dict[str, Any], session_timeout: float = SESSION_TIMEOUT) -> None:
        """``master_info``: the master's ``master_info()``, taken on its loop (it does not change once serving)."""
        self.url = url if isinstance(url, ZkUrl) else parse_zk_url(url)
        self._data = master_info_data(master_info)
        self._pid = master_info.get("pid")
        auth = [("digest", self.url.credentials)] if self.url.credentials else None
        self._acl = READ_ACL_UNSAFE + CREATOR_ALL_ACL if self.url.credentials else OPEN_ACL_UNSAFE
        # kazoo's default connection retry backs off up to an hour; a master must find ZooKeeper again quickly.
        self._client = KazooClient(hosts=self.url.hosts, timeout=session_timeout, auth_data=auth,
                                   connection_retry=KazooRetry(max_tries=-1, delay=0.1, backoff=2, max_delay=2.0))
        self._wake = threading.Event()
        self._registered = threading.Event()
        self._stopping = False
        self._node: str | None = None
        self._thread: threading.Thread | None = None

    @property
    def node(self) -> str | None:
        """Full path of the member znode while registered (``/mesos/json.info_0000000003``), else None."""
        return self._node if self._registered.is_set() else None

    @property
    def client(self) -> KazooClient:
        """The kazoo client holding the session (diagnostics and fault tests)."""
        return self._client

    def wait_registered(self, timeout: float | None = None) -> bool:
        return self._registered.wait(timeout)

    # -- lifecycle (blocking; LocalCluster runs these in an executor) ----------------------------------
    def start(self, wait: float = SESSION_TIMEOUT) -> bool:
        """Connects and registers in the background; True if registered within ``wait`` seconds. An unreachable
        ZooKeeper is not an error: the master registers as soon as it can be reached, as a real master would."""
        self._client.add_listener(self._on_state)
        self._thread = threading.Thread(target=self._run, name="localmesos-zk", daemon=True)
        self._thread.start()
        self._client.start_async()
        self._wake.set()
        if self._registered.wait(wait):
            return True
        log.warning("not registered in ZooKeeper %s yet (unreachable?); the master registers once it is", self.url)
        return False

    def stop(self) -> None:
        """Leaves the group: closing the session removes the ephemeral node at once."""
        self._stopping = True
        self._wake.set()
        node, connected = self.node, self._client.connected
        try:
            self._client.stop()
            self._client.close()
        finally:
            self._registered.clear()
            if self._thread is not None:
                self._thread.join(30)
                self._thread = None
        if node and connected:
            log.info("left the ZooKeeper group %s (%s removed)", self.url, node)
        elif node:
            log.warning("left the ZooKeeper group %s while disconnected: %s goes when the session expires",
                        self.url, node)

    # -- keeping the node ------------------------------------------------------------------------------
    def _on_state(self, state: str) -> None:
        """kazoo's listener: runs on kazoo's thread and must not block."""
        if self._stopping:
            return
        if state == KazooState.LOST:
            self._registered.clear()
            log.warning("ZooKeeper session lost: master node %s is gone; registering again once reconnected",
                        self._node)
        elif state == KazooState.SUSPENDED:
            log.warning("connection to ZooKeeper %s suspended; master node %s stays while the session lives",
                        self.url, self._node)
        else:
            log.info("connected to ZooKeeper %s", self.url)
        self._wake.set()

    def _run(self) -> None:
        retry: float | None = None
        backoff = RETRY_MIN
        while True:
            self._wake.wait(retry)
            self._wake.clear()
            if self._stopping:
                return
            if not self._client.connected:
                retry = None  # the listener wakes us when the connection is back
                continue
            try:
                self._ensure_node()
            except Exception as exc:  # any kazoo failure: connection loss, expiry, auth, timeout
                if self._stopping:
                    return
                log.warning("cannot register in ZooKeeper %s (%r); retrying in %.1f s", self.url, exc, backoff)
                retry, backoff = backoff, min(backoff * 2, RETRY_MAX)
            else:
                retry, backoff = None, RETRY_MIN

    def _ensure_node(self) -> None:
        client_id = self._client.client_id
        if client_id is None:
            raise ConnectionError("not connected")
        session = client_id[0]
        if self._node is not None:
            stat = self._client.exists(self._node)
            if stat is not None and stat.ephemeralOwner == session:
                self._registered.set()
                return
            self._registered.clear()
        path = self.url.path
        self._client.ensure_path(path, acl=self._acl)
        ours = []
        for child in sorted(self._client.get_children(path)):
            if child.startswith(LABEL + "_"):
                stat = self._client.exists(f"{path}/{child}")
                if stat is not None and stat.ephemeralOwner == session:
                    ours.append(f"{path}/{child}")
        if ours:  # created by this session while the answer was lost: keep the first, drop any double
            node = ours[0]
            for extra in ours[1:]:
                self._client.delete(extra)
        else:
            node = self._client.create(f"{path}/{LABEL}_", self._data, acl=self._acl, ephemeral=True, sequence=True)
        again = self._node is not None
        self._node = node
        self._registered.set()
        log.info("%s master %s in ZooKeeper as %s", "re-registered" if again else "registered", self._pid, node)
