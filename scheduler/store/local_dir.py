"""A durable store in a local directory: the embedded default for a single scheduler.

Layout: ``<root>/snapshot`` (every value at the last compaction; its first line names the log generation that
follows it) and ``<root>/log.<generation>`` (every commit since, one line each). A commit appends one JSON line holding its whole change set and fsyncs it: that line is the commit
point, so a commit is all or nothing and costs one write and one fsync whatever its size. A line cut short by a
crash has no newline and was never acknowledged; it is dropped when the store opens.

Opening reads the snapshot and replays the log of the generation it names. When the log outgrows
``compact_bytes`` (and is larger than the snapshot), the store writes a new snapshot naming the next generation
(temporary file, fsync, rename, fsync of the directory), then starts that generation's log and removes the old
one. A crash anywhere in between leaves either the old snapshot with its log or the new snapshot with the next
(possibly missing, so empty) log: an older log is never replayed over a newer snapshot, which would bring back
deleted keys. An exclusive ``flock`` on ``<root>/lock`` keeps a second process out (``StoreLocked``). Values are
kept in memory too, so reads never touch the disk.
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from scheduler.store.base import Change, Put, StoreError, StoreLocked

log = logging.getLogger(__name__)
DEFAULT_COMPACT_BYTES = 64 * 1024 * 1024


class LocalDirectoryStore:
    def __init__(self, root: Path | str, compact_bytes: int = DEFAULT_COMPACT_BYTES) -> None:
        self.root = Path(root)
        self.compact_bytes = compact_bytes
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, bytes]] = {}
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._lock_file = open(self.root / "lock", "a+")
        except OSError as exc:
            raise StoreError(f"cannot open store at {self.root}: {exc}") from exc
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock_file.close()
            raise StoreLocked(f"store {self.root} is in use by another process") from exc
        try:
            self._generation = 0
            self._snapshot_size = self._read_snapshot()
            self._log_size = self._replay_log()
            self._log: IO[bytes] = open(self._log_path(self._generation), "ab")
            self._remove_stale_logs()
        except (OSError, ValueError) as exc:
            self._lock_file.close()
            raise StoreError(f"cannot read store at {self.root}: {exc}") from exc

    # -- reads ----------------------------------------------------------------------------------------
    def load(self, namespace: str) -> dict[str, bytes]:
        with self._lock:
            return dict(self._data.get(namespace, {}))

    def get(self, namespace: str, key: str) -> bytes | None:
        with self._lock:
            return self._data.get(namespace, {}).get(key)

    # -- writes ---------------------------------------------------------------------------------------
    def commit(self, changes: Sequence[Change]) -> None:
        if not changes:
            return
        for change in changes:
            if not change.namespace or "/" in change.namespace or change.namespace.startswith("."):
                raise StoreError(f"bad namespace {change.namespace!r}")
        line = (json.dumps([_record(c) for c in changes], separators=(",", ":")) + "\n").encode()
        with self._lock:
            try:
                self._log.write(line)
                self._log.flush()
                os.fsync(self._log.fileno())
            except OSError as exc:
                raise StoreError(f"commit failed: {exc}") from exc
            self._log_size += len(line)
            for item in (_record(c) for c in changes):
                self._apply(item)
            if self._log_size > self.compact_bytes and self._log_size > self._snapshot_size:
                self._compact()

    def _apply(self, item: dict[str, Any]) -> None:
        space = self._data.setdefault(item["ns"], {})
        if item["op"] == "put":
            value = item["value"]
            space[item["key"]] = base64.b64decode(value) if isinstance(value, str) else value
        else:
            space.pop(item["key"], None)

    def _log_path(self, generation: int) -> Path:
        return self.root / f"log.{generation}"

    def _remove_stale_logs(self) -> None:
        for path in self.root.glob("log.*"):
            if path.name != self._log_path(self._generation).name:
                path.unlink()

    def _compact(self) -> None:
        snapshot = self.root / "snapshot"
        tmp = self.root / "snapshot.tmp"
        generation = self._generation + 1
        try:
            with open(tmp, "wb") as f:
                f.write((json.dumps({"next_log": generation}) + "\n").encode())
                for namespace, values in self._data.items():
                    for key, value in values.items():
                        f.write((json.dumps({"ns": namespace, "key": key,
                                             "value": base64.b64encode(value).decode()},
                                            separators=(",", ":")) + "\n").encode())
                f.flush()
                os.fsync(f.fileno())
                size = f.tell()
            os.replace(tmp, snapshot)
            _fsync_dir(self.root)
            self._log.close()
            self._generation = generation
            self._log = open(self._log_path(generation), "wb")
            os.fsync(self._log.fileno())
            self._remove_stale_logs()
            _fsync_dir(self.root)
        except OSError as exc:
            raise StoreError(f"compaction failed: {exc}") from exc
        log.info("compacted store %s: snapshot %d bytes, log was %d bytes", self.root, size, self._log_size)
        self._snapshot_size = size
        self._log_size = 0

    # -- opening --------------------------------------------------------------------------------------
    def _read_snapshot(self) -> int:
        path = self.root / "snapshot"
        if not path.exists():
            return 0
        raw = path.read_bytes()
        lines = raw.splitlines()
        self._generation = int(json.loads(lines[0])["next_log"])
        for line in lines[1:]:
            item = json.loads(line)
            self._data.setdefault(item["ns"], {})[item["key"]] = base64.b64decode(item["value"])
        return len(raw)

    def _replay_log(self) -> int:
        path = self._log_path(self._generation)
        if not path.exists():
            return 0
        raw = path.read_bytes()
        whole = raw[: raw.rfind(b"\n") + 1]
        if len(whole) != len(raw):
            log.warning("dropping an unfinished commit (%d bytes) at the end of %s", len(raw) - len(whole), path)
            with open(path, "r+b") as f:
                f.truncate(len(whole))
                os.fsync(f.fileno())
        for line in whole.splitlines():
            for item in json.loads(line):
                self._apply(item)
        return len(whole)

    def __enter__(self) -> "LocalDirectoryStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            try:
                self._log.close()
            finally:
                try:
                    fcntl.flock(self._lock_file, fcntl.LOCK_UN)
                finally:
                    self._lock_file.close()


def _record(change: Change) -> dict[str, Any]:
    if isinstance(change, Put):
        return {"op": "put", "ns": change.namespace, "key": change.key,
                "value": base64.b64encode(change.value).decode()}
    return {"op": "delete", "ns": change.namespace, "key": change.key}


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
