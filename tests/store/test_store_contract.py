"""The store contract: every backend passes the same tests (the ZooKeeper store joins with the HA work)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scheduler.store import Delete, LocalDirectoryStore, Put, Store, StoreError, StoreLocked

StoreFactory = Callable[[], Store]


@pytest.fixture(params=["local_dir"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    opened: list[Store] = []

    def factory() -> Store:
        for s in opened:
            s.close()
        opened.clear()
        store = LocalDirectoryStore(tmp_path / "state")
        opened.append(store)
        return store

    yield factory
    for s in opened:
        s.close()


def test_put_get_load_delete(open_store: StoreFactory) -> None:
    store = open_store()
    assert store.get("apps", "/a") is None and store.load("apps") == {}
    store.commit([Put("apps", "/prod/web", b"1"), Put("apps", "/prod/db", b"2"), Put("instances", "x", b"3")])
    assert store.get("apps", "/prod/web") == b"1"
    assert store.load("apps") == {"/prod/web": b"1", "/prod/db": b"2"}
    store.commit([Delete("apps", "/prod/web"), Put("apps", "/prod/db", b"22")])
    assert store.load("apps") == {"/prod/db": b"22"}
    store.commit([Delete("apps", "/never/there")])  # deleting what is not there is fine


def test_survives_reopen(open_store: StoreFactory) -> None:
    open_store().commit([Put("apps", "/keep", b"v1"), Put("framework", "id", b"fw-1")])
    store = open_store()
    assert store.get("apps", "/keep") == b"v1" and store.get("framework", "id") == b"fw-1"


def test_awkward_keys_round_trip(open_store: StoreFactory) -> None:
    keys = ["/", "a/b/c", "..", ".", ".tmp.x", "", "%2F", "space key", "ünïcode", "#hash", "x" * 1000, "/" + "y" * 300]
    store = open_store()
    store.commit([Put("k", key, key.encode() * 2) for key in keys])
    assert open_store().load("k") == {key: key.encode() * 2 for key in keys}


def test_many_keys_are_bucketed(open_store: StoreFactory, tmp_path: Path) -> None:
    store = open_store()
    store.commit([Put("instances", f"i-{n}", b"{}") for n in range(2000)])
    assert len(store.load("instances")) == 2000
    buckets = list((tmp_path / "state" / "data" / "instances").iterdir())
    assert len(buckets) > 100 and max(len(list(b.iterdir())) for b in buckets) < 60


def test_bad_namespace_changes_nothing(open_store: StoreFactory) -> None:
    store = open_store()
    with pytest.raises(StoreError):
        store.commit([Put("apps", "/ok", b"1"), Put("bad/ns", "k", b"2")])
    assert store.load("apps") == {}


def test_second_process_is_locked_out(open_store: StoreFactory, tmp_path: Path) -> None:
    open_store()
    code = ("import sys; from scheduler.store import LocalDirectoryStore, StoreLocked\n"
            f"try:\n    LocalDirectoryStore({str(tmp_path / 'state')!r})\nexcept StoreLocked:\n    sys.exit(7)\n")
    assert subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 7


def test_interrupted_commit_is_replayed_whole(tmp_path: Path) -> None:
    root = tmp_path / "state"
    store = LocalDirectoryStore(root)
    store.commit([Put("apps", "/old", b"0")])
    store.close()
    # A crash after the journal was written but before it was applied: the next open finishes the commit.
    journal = [{"op": "put", "ns": "apps", "key": "/new", "value": "MQ=="},
               {"op": "delete", "ns": "apps", "key": "/old"}]
    (root / "journal").write_text(json.dumps(journal))
    reopened = LocalDirectoryStore(root)
    assert reopened.load("apps") == {"/new": b"1"}
    assert not (root / "journal").exists()
    reopened.close()


def test_torn_journal_is_discarded(tmp_path: Path) -> None:
    root = tmp_path / "state"
    LocalDirectoryStore(root).close()
    (root / "journal").write_text('[{"op": "put", "ns": "apps", "key": "/half"')  # never renamed whole
    store = LocalDirectoryStore(root)
    assert store.load("apps") == {}
    store.close()
