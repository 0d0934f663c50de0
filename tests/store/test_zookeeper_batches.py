"""How big the ZooKeeper store's transactions and znodes get, against a real ZooKeeper.

- ``change_bytes`` is a bound a batcher can size commits with: changes whose ``change_bytes`` add up to at most
  ``BATCH_BUDGET`` commit as ONE transaction, and the request ZooKeeper receives is never larger than the
  sum (plus the fence check), nor than ``TRANSACTION_BUDGET`` for any part of any commit. The requests are
  measured as kazoo serializes them (the client's own ``_call`` is wrapped to record them, then calls on).
- No znode the store writes holds more than ``MAX_ZNODE_BYTES`` (64 KiB), whatever the value or key size.
- Values an earlier version chunked at 256 KiB (or kept whole up to 256 KiB) still read, and are rewritten
  in 64 KiB chunks when written again.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.serialization import Transaction

from scheduler.store import Change, Delete, Put, StoreError, ZooKeeperStore
from scheduler.store.zookeeper import (BATCH_BUDGET, MAX_KEY_BYTES, MAX_ZNODE_BYTES, TRANSACTION_BUDGET,
                                       change_bytes)
from tests.store.test_zookeeper_store import BASE, MiB, all_znodes, entity_path, started, stopped

REQUEST_HEADER = 8  # xid and op type, before the serialized transaction


@pytest.fixture
def zk(zk_hosts: str) -> Iterator[KazooClient]:
    """A client on the test's own chroot; the chroot is deleted afterwards (these tests write megabytes, and
    the session's ZooKeeper keeps every test's data in its heap)."""
    servers, _, chroot = zk_hosts.partition("/")
    setup = started(servers)
    try:
        setup.ensure_path("/" + chroot)
        client = started(zk_hosts)
        try:
            yield client
        finally:
            stopped(client)
        setup.delete("/" + chroot, recursive=True)
    finally:
        stopped(setup)


class SentTransactions:
    """Records the size of every transaction request the client sends (then sends it as before)."""

    def __init__(self, client: KazooClient) -> None:
        self.sizes: list[int] = []
        self._client = client
        self._call = client._call

    def __enter__(self) -> SentTransactions:
        def recording(request: Any, async_object: Any) -> Any:
            if isinstance(request, Transaction):
                self.sizes.append(REQUEST_HEADER + len(request.serialize()))
            return self._call(request, async_object)

        self._client._call = recording
        return self

    def __exit__(self, *exc: object) -> None:
        self._client._call = self._call

    def taken(self) -> list[int]:
        sizes, self.sizes = self.sizes, []
        return sizes


def random_changes(rng: random.Random) -> Iterator[Change]:
    """An endless mix: instances, apps, compressible and chunked values, long (hash-named) keys, deletes."""
    existing: dict[tuple[str, str], bytes] = {}
    n = 0
    while True:
        n += 1
        kind = rng.random()
        if kind < 0.08 and existing:
            namespace, key = rng.choice(sorted(existing))
            del existing[(namespace, key)]
            yield Delete(namespace, key)
            continue
        if kind < 0.5:
            namespace, key, value = "instances", f"app{n % 97}.instance-{n}", rng.randbytes(300).hex().encode()
        elif kind < 0.8:
            namespace, key, value = "apps", f"/team{n % 7}/app{n}", rng.randbytes(rng.randrange(500, 4000))
        elif kind < 0.9:
            namespace, key, value = "definitions", "/long/" + "x" * rng.randrange(200, 3000) + str(n), \
                b"{" + b"compressible " * rng.randrange(3000, 9000) + b"}"
        elif kind < 0.97:
            namespace, key, value = "deployments", f"d-{n}", rng.randbytes(rng.randrange(60_000, 300_000))
        else:
            namespace, key, value = f"new-{n}", f"k{n}", b"v"  # a namespace of its own: created too
        existing[(namespace, key)] = value
        yield Put(namespace, key, value)


def batches(changes: Iterator[Change], count: int) -> Iterator[tuple[list[Change], int]]:
    """``count`` batches filled greedily up to ``BATCH_BUDGET`` of ``change_bytes``, with their totals."""
    pending = next(changes)
    for _ in range(count):
        batch, total = [pending], change_bytes(pending)
        while True:
            pending = next(changes)
            if total + change_bytes(pending) > BATCH_BUDGET:
                break
            batch.append(pending)
            total += change_bytes(pending)
        yield batch, total


def applied(stored: dict[tuple[str, str], bytes], batch: list[Change]) -> None:
    for change in batch:
        if isinstance(change, Put):
            stored[(change.namespace, change.key)] = change.value
        else:
            stored.pop((change.namespace, change.key), None)


def test_batches_within_the_budget_are_one_transaction_and_no_larger_than_estimated(zk_hosts: str,
                                                                                    zk: KazooClient) -> None:
    rng = random.Random(11)
    existing: dict[tuple[str, str], bytes] = {}
    fence = zk.create("/election/member-", b"", ephemeral=True, sequence=True, makepath=True)
    fence_bytes = len(zk.chroot) + len(fence) + 64
    with ZooKeeperStore(zk, BASE) as store, SentTransactions(zk) as sent:
        store.fence(fence)
        for batch, total in batches(random_changes(rng), 4):  # new keys: namespaces, buckets made
            store.commit(batch)
            [size] = sent.taken()  # one transaction
            assert size <= total + (TRANSACTION_BUDGET - BATCH_BUDGET)
            applied(existing, batch)
        keys = sorted(existing)
        updates = (Put(ns, key, rng.randbytes(len(existing[(ns, key)]))) for ns, key in keys * 2)
        committed = 0
        for batch, total in batches(updates, 3):  # the structure exists: the request is within the sum
            store.commit(batch)
            [size] = sent.taken()
            assert size <= total + fence_bytes
            applied(existing, batch)
            committed += len(batch)
        assert committed > 30  # three full batches of updates, big values among them
    with ZooKeeperStore.connect(zk_hosts, BASE) as reader:
        for namespace in {ns for ns, _ in existing}:
            assert reader.load(namespace) == {k: v for (ns, k), v in existing.items() if ns == namespace}


def test_every_part_of_a_split_commit_stays_within_the_transaction_budget(zk: KazooClient) -> None:
    rng = random.Random(5)
    changes = random_changes(rng)
    batch = [next(changes) for _ in range(400)]  # several MiB
    with ZooKeeperStore(zk, BASE) as store, SentTransactions(zk) as sent:
        store.commit(batch)
        sizes = sent.taken()
        assert len(sizes) > 1 and max(sizes) <= TRANSACTION_BUDGET
        assert sum(sizes) <= sum(change_bytes(c) for c in batch) + 64 * 1024  # + the split's version checks


@pytest.mark.parametrize("key_length", [10, 300, MAX_KEY_BYTES])
def test_no_znode_holds_more_than_64_kib(zk: KazooClient, zk_hosts: str, key_length: int) -> None:
    rng = random.Random(key_length)
    values = {}
    for n, size in enumerate([MAX_ZNODE_BYTES - key_length - 10, MAX_ZNODE_BYTES - 1, MAX_ZNODE_BYTES,
                              MAX_ZNODE_BYTES + 1, 3 * MAX_ZNODE_BYTES + 7, 700_000]):
        values[f"{n}".ljust(key_length, "k")] = rng.randbytes(max(size, 0))
    values["compressible".ljust(key_length, "c")] = b"abc" * 400_000
    with ZooKeeperStore(zk, BASE) as store:
        store.commit([Put("apps", key, value) for key, value in values.items()])
        sizes = {path: zk.exists(path).dataLength for path in all_znodes(zk, BASE)}
        assert max(sizes.values()) <= MAX_ZNODE_BYTES
        assert max(sizes.values()) > MAX_ZNODE_BYTES - 1024  # chunks are filled, not tiny
    with ZooKeeperStore.connect(zk_hosts, BASE) as reader:
        assert reader.load("apps") == values


def old_chunked_value(zk: KazooClient, key: str, value: bytes, chunk: int) -> None:
    """A value as the version that chunked at 256 KiB wrote it: flags 'chunked', tag, count, length, CRC."""
    path = entity_path("apps", key)
    tag = 0x1234ABCD
    parts = [value[i:i + chunk] for i in range(0, len(value), chunk)]
    zk.create(path, bytes([0x02]) + struct.pack(">IIQI", tag, len(parts), len(value), zlib.crc32(value)),
              makepath=True)
    for n, part in enumerate(parts):
        zk.create(f"{path}/c{tag:08x}-{n}", part)


def test_values_an_earlier_version_stored_in_bigger_znodes_read_and_are_rewritten_smaller(
        zk: KazooClient, zk_hosts: str) -> None:
    big = random.Random(1).randbytes(700_000)
    whole = random.Random(2).randbytes(200_000)
    old_chunked_value(zk, "/old-chunked", big, 256 * 1024)
    zk.create(entity_path("apps", "/old-whole"), b"\x00" + whole, makepath=True)  # one 200 KiB znode
    with ZooKeeperStore.connect(zk_hosts, BASE) as store:
        assert store.load("apps") == {"/old-chunked": big, "/old-whole": whole}
        assert store.get("apps", "/old-chunked") == big
        store.commit([Put("apps", "/old-chunked", big[::-1]), Put("apps", "/old-whole", whole[::-1])])
        assert store.load("apps") == {"/old-chunked": big[::-1], "/old-whole": whole[::-1]}
    sizes = [zk.exists(path).dataLength for path in all_znodes(zk, BASE)]
    assert max(sizes) <= MAX_ZNODE_BYTES
    assert len(zk.get_children(entity_path("apps", "/old-chunked"))) == -(-700_000 // MAX_ZNODE_BYTES)


def test_keys_too_long_to_write_can_still_be_deleted(zk: KazooClient) -> None:
    long_key = "q" * (64 * 1024)  # what the earlier limit allowed
    with ZooKeeperStore(zk, BASE) as store:
        with pytest.raises(StoreError, match="bad key"):
            store.commit([Put("apps", long_key, b"1")])
        with pytest.raises(StoreError, match="bad key"):
            store.commit([Put("apps", "q" * (MAX_KEY_BYTES + 1), b"1")])
        path = entity_path("apps", long_key)
        raw = long_key.encode()
        zk.create(path, bytes([0x04]) + struct.pack(">I", len(raw)) + raw + b"old", makepath=True)
        assert store.load("apps") == {long_key: b"old"}
        store.commit([Delete("apps", long_key)])
        assert zk.exists(path) is None and store.load("apps") == {}


def test_change_bytes_grows_with_what_the_change_writes() -> None:
    small, big = Put("apps", "/a", b"x" * 100), Put("apps", "/a", b"x" * 10_000)
    assert change_bytes(small) < change_bytes(big) and change_bytes(big) - change_bytes(small) == 9_900
    assert change_bytes(Delete("apps", "/a")) < change_bytes(small)
    assert change_bytes(Put("apps", "/a", b"x" * 10 * MiB)) > 10 * MiB
    assert change_bytes(small, path_chars=500) > change_bytes(small)
