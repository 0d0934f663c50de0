"""The ZooKeeper store's own mechanics, against a real ZooKeeper (the shared contract is in test_store_contract).

A raw kazoo client reads the znodes the store wrote, so the layout and encoding are checked as ZooKeeper
holds them. The server of these tests allows 4 MiB requests (``jute.maxbuffer``); production servers 1 MiB.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Iterator

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState

from scheduler.store import Delete, Put, StoreConflict, StoreError, StoreFenced, ZooKeeperStore
from scheduler.store.zookeeper import CHUNK_BYTES, COMPRESS_ABOVE, MAX_ZNODE_BYTES, TRANSACTION_BUDGET
from tests.zookeeper_server import ZooKeeperServer

BASE = "/state"
MiB = 1024 * 1024


def started(hosts: str) -> KazooClient:
    client = KazooClient(hosts=hosts)
    client.start(timeout=30)
    return client


def stopped(client: KazooClient) -> None:
    client.stop()
    client.close()


@pytest.fixture
def zk(zk_hosts: str) -> Iterator[KazooClient]:
    """A client on the test's own chroot (created first, over a connection without it)."""
    servers, _, chroot = zk_hosts.partition("/")
    setup = started(servers)
    try:
        setup.ensure_path("/" + chroot)
    finally:
        stopped(setup)
    client = started(zk_hosts)
    yield client
    stopped(client)


@pytest.fixture
def store(zk: KazooClient) -> Iterator[ZooKeeperStore]:
    with ZooKeeperStore(zk, BASE) as s:
        yield s


def entity_path(namespace: str, key: str) -> str:
    """Where the module docstring says a key lives."""
    raw = key.encode()
    name = "k" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    if len(name) > 200:
        name = "h" + hashlib.sha256(raw).hexdigest()
    return f"{BASE}/{namespace}/{hashlib.sha1(raw).hexdigest()[:2]}/{name}"


def all_znodes(client: KazooClient, path: str) -> Iterator[str]:
    yield path
    for child in client.get_children(path):
        yield from all_znodes(client, f"{path}/{child}")


# -- layout ---------------------------------------------------------------------------------------------------
def test_one_znode_per_entity_in_hashed_buckets(store: ZooKeeperStore, zk: KazooClient) -> None:
    keys = [f"i-{n}" for n in range(600)]
    odd = ["", ".", "..", "zookeeper", "a/b", "ünïcode", "x" * 1000]
    store.commit([Put("instances", key, key.encode()) for key in keys] + [Put("apps", k, b"v") for k in odd])
    assert set(zk.get_children(BASE)) == {"instances", "apps"}
    buckets = zk.get_children(f"{BASE}/instances")
    assert 200 < len(buckets) <= 256 and all(len(b) == 2 and int(b, 16) >= 0 for b in buckets)
    entities = [f"{BASE}/instances/{b}/{name}" for b in buckets for name in zk.get_children(f"{BASE}/instances/{b}")]
    assert sorted(entities) == sorted(entity_path("instances", key) for key in keys)
    for key in keys[:20]:
        data, stat = zk.get(entity_path("instances", key))
        assert data == b"\x00" + key.encode() and stat.numChildren == 0  # format byte, then the value
    for key in odd:
        data, _ = zk.get(entity_path("apps", key))
        assert data.endswith(b"v")
    long_name = entity_path("apps", "x" * 1000).rpartition("/")[2]
    assert len(long_name) == 65 and b"x" * 1000 in zk.get(entity_path("apps", "x" * 1000))[0]  # key in value


def test_deletes_remove_the_znode(store: ZooKeeperStore, zk: KazooClient) -> None:
    store.commit([Put("apps", "/a", b"1"), Put("apps", "/b", b"2")])
    store.commit([Delete("apps", "/a")])
    assert zk.exists(entity_path("apps", "/a")) is None and zk.exists(entity_path("apps", "/b")) is not None


# -- values ---------------------------------------------------------------------------------------------------
def test_big_values_are_compressed_or_chunked_and_round_trip(zk: KazooClient, zk_hosts: str) -> None:
    compressible = b"instance-state " * (2 * MiB // 15)
    incompressible = os.urandom(5 * MiB)
    small_but_compressible = b"y" * (COMPRESS_ABOVE + 1)
    with ZooKeeperStore(zk, BASE) as store:
        store.commit([Put("apps", "/compressible", compressible), Put("apps", "/random", incompressible),
                      Put("apps", "/small", small_but_compressible)])
    data, stat = zk.get(entity_path("apps", "/compressible"))
    assert data[0] == 0x01 and len(data) < CHUNK_BYTES and stat.numChildren == 0  # zlib, one znode
    _, stat = zk.get(entity_path("apps", "/random"))
    assert stat.numChildren == 5 * MiB // CHUNK_BYTES  # 5 MiB (random: not compressed) over 64 KiB chunks
    sizes = [zk.exists(path).dataLength for path in all_znodes(zk, BASE)]
    assert max(sizes) <= MAX_ZNODE_BYTES == 64 * 1024  # every znode at most 64 KiB

    with ZooKeeperStore.connect(zk_hosts, BASE) as reopened:  # a different store, and a client of its own
        assert reopened.load("apps") == {"/compressible": compressible, "/random": incompressible,
                                         "/small": small_but_compressible}
        assert reopened.get("apps", "/random") == incompressible
        reopened.commit([Put("apps", "/random", b"small now")])
        assert zk.get_children(entity_path("apps", "/random")) == []  # the old chunks went with the update
        assert reopened.get("apps", "/random") == b"small now"
        reopened.commit([Put("apps", "/random", incompressible[:MiB]), Put("apps", "/compressible", b"c")])
        assert len(zk.get_children(entity_path("apps", "/random"))) == MiB // CHUNK_BYTES
        reopened.commit([Delete("apps", "/random")])
        assert zk.exists(entity_path("apps", "/random")) is None
        assert reopened.load("apps") == {"/compressible": b"c", "/small": small_but_compressible}


def test_znode_by_znode_reads_give_the_same_values(zk: KazooClient, store: ZooKeeperStore) -> None:
    values = {f"k{n}": os.urandom(n * 7) for n in range(300)}
    values["big"] = os.urandom(CHUNK_BYTES * 2 + 5)
    store.commit([Put("ns", key, value) for key, value in values.items()])
    with ZooKeeperStore(zk, BASE, batched_reads=False) as plain:
        assert plain.load("ns") == values
        assert plain.get("ns", "big") == values["big"] and plain.get("ns", "nothing") is None
        plain.commit([Put("ns", "k1", b"updated")])  # versions come from these reads too
    assert store.load("ns")["k1"] == b"updated"


def test_a_pending_entity_reads_as_absent_and_can_be_written_over(store: ZooKeeperStore, zk: KazooClient) -> None:
    # What a crash between the parts of a split commit leaves of a new chunked key: an entity marked pending.
    store.commit([Put("apps", "/other", b"1")])
    path = entity_path("apps", "/half-written")
    zk.ensure_path(path.rpartition("/")[0])
    zk.create(path, b"\x08")
    zk.create(f"{path}/c00000001-0", b"partial chunk")
    assert store.load("apps") == {"/other": b"1"} and store.get("apps", "/half-written") is None
    store.commit([Put("apps", "/half-written", b"whole")])
    assert store.get("apps", "/half-written") == b"whole" and zk.get_children(path) == []
    store.commit([Delete("apps", "/half-written")])
    assert zk.exists(path) is None


def test_data_this_store_did_not_write_is_refused(store: ZooKeeperStore, zk: KazooClient) -> None:
    store.commit([Put("apps", "/a", b"1")])
    zk.create(entity_path("apps", "/b"), b"\xf0unknown format", makepath=True)
    with pytest.raises(StoreError, match="format"):
        store.load("apps")
    zk.delete(entity_path("apps", "/b"))
    zk.create(f"{BASE}/apps/00/not-a-key-name", b"\x00", makepath=True)
    with pytest.raises(StoreError, match="unexpected znode"):
        store.load("apps")


# -- transactions ---------------------------------------------------------------------------------------------
def creation_transactions(zk: KazooClient, namespace: str, keys: list[str]) -> int:
    """How many transactions created these keys (every transaction has a zxid of its own)."""
    return len({zk.exists(entity_path(namespace, key)).czxid for key in keys})


def test_a_normal_commit_is_one_transaction(store: ZooKeeperStore, zk: KazooClient) -> None:
    keys = [f"i-{n}" for n in range(1000)]
    store.commit([Put("instances", key, os.urandom(300).hex().encode()) for key in keys])  # 600 bytes each
    assert creation_transactions(zk, "instances", keys) == 1


def test_an_oversized_commit_is_split_over_several_transactions(store: ZooKeeperStore, zk: KazooClient) -> None:
    # 8 MiB in one commit: one transaction would pass the server's 4 MiB request limit.
    values = {f"app-{n}": os.urandom(4096) for n in range(2048)}
    store.commit([Put("apps", key, value) for key, value in values.items()])
    assert creation_transactions(zk, "apps", list(values)) >= 8 * MiB // TRANSACTION_BUDGET
    assert store.load("apps") == values
    store.commit([Put("apps", key, b"v2") for key in values])  # updates (versioned) split the same way
    store.commit([Delete("apps", key) for key in list(values)[::2]])
    assert store.load("apps") == {key: b"v2" for key in list(values)[1::2]}


def test_a_new_chunked_value_larger_than_a_transaction(zk: KazooClient) -> None:
    value = os.urandom(2 * MiB)
    with ZooKeeperStore(zk, BASE, transaction_budget=CHUNK_BYTES + 64 * 1024) as store:  # a chunk per part
        store.commit([Put("apps", "/huge", value), Put("apps", "/small", b"s")])
        assert store.load("apps") == {"/huge": value, "/small": b"s"}
        store.commit([Put("apps", "/huge", value[::-1])])
        assert store.get("apps", "/huge") == value[::-1]
        assert len(zk.get_children(entity_path("apps", "/huge"))) == 2 * MiB // CHUNK_BYTES


def test_conflicts_apply_nothing(zk: KazooClient) -> None:
    with ZooKeeperStore(zk, BASE) as a, ZooKeeperStore(zk, BASE) as b:
        a.commit([Put("apps", "/x", b"a0")])
        assert a.load("apps") == b.load("apps") == {"/x": b"a0"}
        # Both think /new is absent: the second create conflicts.
        a.commit([Put("apps", "/new", b"a")])
        with pytest.raises(StoreConflict):
            b.commit([Put("apps", "/new", b"b"), Put("apps", "/b-only", b"1")])
        # b deletes what a changed meanwhile.
        a.commit([Put("apps", "/x", b"a1")])
        with pytest.raises(StoreConflict):
            b.commit([Delete("apps", "/x"), Put("apps", "/b-only", b"1")])
        assert a.load("apps") == {"/x": b"a1", "/new": b"a"}
        with pytest.raises(StoreConflict):  # b's view stays stale until it reads again
            b.commit([Put("apps", "/x", b"b")])
        assert b.get("apps", "/x") == b"a1"
        b.commit([Put("apps", "/x", b"b")])
        with pytest.raises(StoreConflict):
            a.commit([Put("apps", "/x", b"a2")])
        assert b.load("apps") == {"/x": b"b", "/new": b"a"}


def test_namespaces_and_buckets_created_by_another_writer_are_no_conflict(zk: KazooClient) -> None:
    with ZooKeeperStore(zk, BASE) as a, ZooKeeperStore(zk, BASE) as b:
        assert a.load("apps") == {}  # a knows there is no namespace znode yet
        b.commit([Put("apps", "/x", b"b")])  # b creates it (and a bucket)
        a.commit([Put("apps", "/y", b"a")] + [Put("apps", f"/{n}", b"a") for n in range(300)])
        assert b.load("apps") == {"/x": b"b", "/y": b"a", **{f"/{n}": b"a" for n in range(300)}}
        with pytest.raises(StoreConflict):  # but a key a believes absent and b wrote is a conflict
            a.commit([Put("apps", "/x", b"a")])


def test_one_store_serves_many_threads(store: ZooKeeperStore) -> None:
    errors: list[BaseException] = []
    seen: list[bytes | None] = []

    def work(n: int) -> None:
        try:
            for m in range(40):
                store.commit([Put("instances", f"t{n}-{m}", b"v"), Delete("instances", f"t{n}-{m - 1}")])
                seen.append(store.get("instances", f"t{n}-{m}"))
        except Exception as exc:  # recorded, asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and seen == [b"v"] * 240
    assert store.load("instances") == {f"t{n}-39": b"v" for n in range(6)}


def test_a_key_never_read_is_read_at_commit(zk: KazooClient, zk_hosts: str) -> None:
    with ZooKeeperStore(zk, BASE) as a:
        a.commit([Put("framework", "id", b"fw-1"), Put("apps", "/gone", b"1")])
    with ZooKeeperStore.connect(zk_hosts, BASE) as b:  # no load, no get: a blind write and delete
        b.commit([Put("framework", "id", b"fw-2"), Delete("apps", "/gone")])
        assert b.get("framework", "id") == b"fw-2" and b.load("apps") == {}


# -- fencing --------------------------------------------------------------------------------------------------
def test_a_fenced_store_writes_nothing_once_the_fence_is_gone(store: ZooKeeperStore, zk: KazooClient,
                                                             zk_hosts: str) -> None:
    leader = started(zk_hosts)  # the leader's session, holding its election node
    try:
        node = leader.create("/election/member-", b"", ephemeral=True, sequence=True, makepath=True)
        store.fence(node)
        store.commit([Put("apps", "/a", b"1")])
        assert not store.fenced_out
    finally:
        stopped(leader)  # its session ends: the ephemeral election node is gone
    before = sorted(all_znodes(zk, BASE))
    with pytest.raises(StoreFenced):
        store.commit([Put("apps", "/b", b"2"), Put("other", "k", b"3"), Delete("apps", "/a")])
    assert store.fenced_out and sorted(all_znodes(zk, BASE)) == before
    assert store.load("apps") == {"/a": b"1"}
    with pytest.raises(StoreFenced):  # stays fenced out
        store.commit([Put("apps", "/b", b"2")])
    assert store.load("apps") == {"/a": b"1"}
    store.fence(zk.create("/election/member-", b"", ephemeral=True, sequence=True))  # elected again
    store.commit([Put("apps", "/b", b"2")])
    assert not store.fenced_out and store.load("apps") == {"/a": b"1", "/b": b"2"}


def test_a_split_commit_checks_the_fence_before_writing(store: ZooKeeperStore, zk: KazooClient) -> None:
    store.fence("/no/such/fence")
    with pytest.raises(StoreFenced):
        store.commit([Put("apps", f"/{n}", os.urandom(4096)) for n in range(1024)])
    assert zk.exists(BASE + "/apps") is None


# -- clients --------------------------------------------------------------------------------------------------
def test_close_leaves_a_given_client_alone_and_stops_its_own(zk: KazooClient, zk_hosts: str) -> None:
    ZooKeeperStore(zk, BASE).close()
    assert zk.connected
    own = ZooKeeperStore.connect(zk_hosts, BASE)
    own.close()
    assert own.client.state == KazooState.LOST
    with pytest.raises(StoreError, match="closed"):
        own.get("apps", "/a")


def test_bad_names_are_refused(store: ZooKeeperStore) -> None:
    for namespace in ["", "a/b", ".", "..", "zoo keeper", "ü"]:
        with pytest.raises(StoreError):
            store.load(namespace)
    with pytest.raises(StoreError):
        store.commit([Put("apps", "k" * (64 * 1024 + 1), b"1")])
    with pytest.raises(ValueError):
        ZooKeeperStore(store.client, "relative/path")


# -- ZooKeeper going away -------------------------------------------------------------------------------------
def test_a_zookeeper_restart_under_the_store(own_zookeeper: ZooKeeperServer) -> None:
    connected = threading.Event()
    store = ZooKeeperStore.connect(own_zookeeper.connection_string("/mesospaas"), BASE, request_timeout=10)
    try:
        store.client.add_listener(lambda state: connected.set() if state == KazooState.CONNECTED else None)
        store.commit([Put("apps", "/a", b"1"), Put("instances", "i-1", b"x")])
        own_zookeeper.stop()
        with pytest.raises(StoreError):
            store.commit([Put("apps", "/a", b"2"), Put("apps", "/lost", b"3")])
        with pytest.raises(StoreError):
            store.commit([Put("apps", "/a", b"2")])
        with pytest.raises(StoreError):
            store.load("apps")
        connected.clear()
        own_zookeeper.start()
        assert connected.wait(120) or store.client.connected  # kazoo reconnects on its own
        assert store.load("apps") == {"/a": b"1"}
        store.commit([Put("apps", "/a", b"2"), Delete("instances", "i-1")])
        assert store.load("apps") == {"/a": b"2"} and store.load("instances") == {}
    finally:
        store.close()
    with ZooKeeperStore.connect(own_zookeeper.connection_string("/mesospaas"), BASE) as reopened:
        assert reopened.load("apps") == {"/a": b"2"} and reopened.get("instances", "i-1") is None
