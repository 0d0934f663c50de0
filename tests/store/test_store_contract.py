"""The store contract: every backend (local directory, ZooKeeper) passes the same tests."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scheduler.store import (Delete, LocalDirectoryStore, Put, Store, StoreConflict, StoreError, StoreLocked,
                             ZooKeeperStore)


class StoreFactory:
    """Calling it (re)opens the store on the same data, closing the one it opened before; ``another`` opens one
    more on the same data without closing anything. Everything it opened is closed at teardown."""

    def __init__(self, backend: str, make: Callable[[], Store]) -> None:
        self.backend = backend
        self._make = make
        self._current: list[Store] = []
        self._others: list[Store] = []

    def __call__(self) -> Store:
        self._close(self._current)
        store = self._make()
        self._current.append(store)
        return store

    def another(self) -> Store:
        store = self._make()
        self._others.append(store)
        return store

    def close_all(self) -> None:
        self._close(self._current)
        self._close(self._others)

    @staticmethod
    def _close(stores: list[Store]) -> None:
        while stores:
            stores.pop().close()


@pytest.fixture(params=["local_dir", "zookeeper"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    if request.param == "zookeeper":
        hosts: str = request.getfixturevalue("zk_hosts")
        factory = StoreFactory("zookeeper", lambda: ZooKeeperStore.connect(hosts, "/mesospaas"))
    else:
        factory = StoreFactory("local_dir", lambda: LocalDirectoryStore(tmp_path / "state"))
    yield factory
    factory.close_all()


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


def test_many_keys(open_store: StoreFactory) -> None:
    store = open_store()
    store.commit([Put("instances", f"i-{n}", b"{}") for n in range(2000)])
    store.commit([Delete("instances", f"i-{n}") for n in range(0, 2000, 2)])
    assert set(open_store().load("instances")) == {f"i-{n}" for n in range(1, 2000, 2)}


def test_bad_namespace_changes_nothing(open_store: StoreFactory) -> None:
    store = open_store()
    with pytest.raises(StoreError):
        store.commit([Put("apps", "/ok", b"1"), Put("bad/ns", "k", b"2")])
    assert store.load("apps") == {}


def test_two_writers_never_both_win(open_store: StoreFactory, tmp_path: Path) -> None:
    first = open_store()
    first.commit([Put("apps", "/shared", b"v0")])
    if open_store.backend == "local_dir":  # one process holds the directory: a second one is locked out
        code = ("import sys; from scheduler.store import LocalDirectoryStore, StoreLocked\n"
                f"try:\n    LocalDirectoryStore({str(tmp_path / 'state')!r})\nexcept StoreLocked:\n    sys.exit(7)\n")
        assert subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 7
        return
    # Shared stores (ZooKeeper): both read, both write the same key at once; one wins, the other conflicts
    # and nothing of its commit is applied.
    second = open_store.another()
    writers = {"first": first, "second": second}
    assert first.load("apps") == second.load("apps") == {"/shared": b"v0"}
    start = threading.Barrier(2)
    outcomes: dict[str, BaseException | None] = {}

    def write(name: str) -> None:
        start.wait()
        try:
            writers[name].commit([Put("apps", "/shared", name.encode()), Put("apps", f"/{name}-only", b"1"),
                                  Delete("apps", "/never/there")])
            outcomes[name] = None
        except Exception as exc:  # recorded, asserted on below
            outcomes[name] = exc

    threads = [threading.Thread(target=write, args=(name,)) for name in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [name for name, outcome in outcomes.items() if outcome is None]
    losers = [outcome for outcome in outcomes.values() if outcome is not None]
    assert len(winners) == 1 and len(losers) == 1 and isinstance(losers[0], StoreConflict), outcomes
    winner = winners[0]
    assert open_store().load("apps") == {"/shared": winner.encode(), f"/{winner}-only": b"1"}


# -- the local-directory store's own mechanics --------------------------------------------------------------
def test_unfinished_commit_at_the_end_of_the_log_is_dropped(tmp_path: Path) -> None:
    root = tmp_path / "state"
    store = LocalDirectoryStore(root)
    store.commit([Put("apps", "/kept", b"1")])
    store.close()
    with open(root / "log.0", "ab") as f:  # a crash in the middle of appending a commit: no newline
        f.write(b'[{"op":"put","ns":"apps","key":"/half","value":"MQ=="}')
    reopened = LocalDirectoryStore(root)
    assert reopened.load("apps") == {"/kept": b"1"}
    reopened.commit([Put("apps", "/after", b"2")])  # the log is whole again and keeps working
    reopened.close()
    with LocalDirectoryStore(root) as again:
        assert again.load("apps") == {"/kept": b"1", "/after": b"2"}


def test_compaction_keeps_everything(tmp_path: Path) -> None:
    root = tmp_path / "state"
    store = LocalDirectoryStore(root, compact_bytes=2000)
    for n in range(200):
        store.commit([Put("instances", f"i-{n % 20}", str(n).encode()), Delete("instances", "gone")])
    logs = list(root.glob("log.*"))
    assert (root / "snapshot").exists() and len(logs) == 1 and logs[0].stat().st_size < 2000
    expected = {f"i-{k}": str(180 + k).encode() for k in range(20)}
    assert store.load("instances") == expected
    store.close()
    with LocalDirectoryStore(root) as again:
        assert again.load("instances") == expected


def test_a_stale_log_is_never_replayed_over_a_newer_snapshot(tmp_path: Path) -> None:
    root = tmp_path / "state"
    store = LocalDirectoryStore(root)
    store.commit([Put("apps", "/a", b"1")])
    store.commit([Put("apps", "/a", b"2"), Put("apps", "/b", b"3")])
    old_log = (root / "log.0").read_bytes()
    store.compact_bytes = 0
    store.commit([Delete("apps", "/b")])  # compacts into a snapshot {/a: 2} followed by log.1
    store.close()
    # A crash after the new snapshot was renamed into place but before the old log was removed.
    (root / "log.0").write_bytes(old_log)
    (root / "log.1").unlink()
    reopened = LocalDirectoryStore(root)
    assert reopened.load("apps") == {"/a": b"2"}  # /b stays deleted
    assert not (root / "log.0").exists()
    reopened.close()
