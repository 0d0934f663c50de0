"""A durable store in a local directory: the embedded default for a single scheduler.

Layout: ``<root>/data/<namespace>/<bucket>/<encoded key>``, one file per entity, where ``bucket`` is the
first two hex digits of the key's SHA-1 (so no directory grows without bound) and the file name is the key
percent-encoded (or its hash when too long, with the key kept inside the file).

Atomicity: a commit first writes the whole change set to ``<root>/journal`` (write to a temporary file, fsync,
rename), then applies it file by file (temporary file + rename), then removes the journal. Opening the store
replays a journal left by a crash, so a commit is all or nothing. An exclusive ``flock`` on ``<root>/lock``
keeps a second process out (``StoreLocked``).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote, unquote

from scheduler.store.base import Change, Delete, Put, StoreError, StoreLocked

log = logging.getLogger(__name__)
MAX_NAME = 200
HASHED_PREFIX = "#"


def _bucket(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()[:2]


def _file_name(key: str) -> str:
    encoded = quote(key, safe="")
    if encoded.startswith("."):  # never ".", "..", or a name that looks like our temporary files
        encoded = "%2E" + encoded[1:]
    if encoded and len(encoded) <= MAX_NAME and not encoded.startswith(HASHED_PREFIX):
        return encoded
    return HASHED_PREFIX + hashlib.sha256(key.encode()).hexdigest()


class LocalDirectoryStore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        try:
            (self.root / "data").mkdir(parents=True, exist_ok=True)
            self._lock_file = open(self.root / "lock", "a+")
        except OSError as exc:
            raise StoreError(f"cannot open store at {self.root}: {exc}") from exc
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock_file.close()
            raise StoreLocked(f"store {self.root} is in use by another process") from exc
        self._replay_journal()

    # -- paths ----------------------------------------------------------------------------------------
    def _path(self, namespace: str, key: str) -> Path:
        if not namespace or "/" in namespace or namespace.startswith("."):
            raise StoreError(f"bad namespace {namespace!r}")
        return self.root / "data" / namespace / _bucket(key) / _file_name(key)

    # -- reads ----------------------------------------------------------------------------------------
    def load(self, namespace: str) -> dict[str, bytes]:
        base = self.root / "data" / namespace
        out: dict[str, bytes] = {}
        if not base.is_dir():
            return out
        try:
            for bucket in base.iterdir():
                if not bucket.is_dir():
                    continue
                for entry in bucket.iterdir():
                    if entry.name.startswith(".tmp"):
                        continue
                    key, value = self._read_entry(entry)
                    out[key] = value
        except OSError as exc:
            raise StoreError(f"cannot read {namespace}: {exc}") from exc
        return out

    def get(self, namespace: str, key: str) -> bytes | None:
        path = self._path(namespace, key)
        try:
            return self._read_entry(path)[1]
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {namespace}/{key}: {exc}") from exc

    @staticmethod
    def _read_entry(path: Path) -> tuple[str, bytes]:
        raw = path.read_bytes()
        if path.name.startswith(HASHED_PREFIX):
            length = int.from_bytes(raw[:4], "big")
            return raw[4:4 + length].decode(), raw[4 + length:]
        return unquote(path.name), raw

    # -- writes ---------------------------------------------------------------------------------------
    def commit(self, changes: Sequence[Change]) -> None:
        if not changes:
            return
        for change in changes:
            self._path(change.namespace, change.key)  # validates before anything is written
        record = [{"op": "put", "ns": c.namespace, "key": c.key, "value": base64.b64encode(c.value).decode()}
                  if isinstance(c, Put) else {"op": "delete", "ns": c.namespace, "key": c.key} for c in changes]
        with self._lock:
            try:
                self._write_atomic(self.root / "journal", json.dumps(record).encode())
                self._apply(record)
                (self.root / "journal").unlink()
                self._fsync_dir(self.root)
            except OSError as exc:
                raise StoreError(f"commit failed: {exc}") from exc

    def _apply(self, record: list[dict[str, str]]) -> None:
        touched: set[Path] = set()
        for item in record:
            path = self._path(item["ns"], item["key"])
            if item["op"] == "put":
                path.parent.mkdir(parents=True, exist_ok=True)
                value = base64.b64decode(item["value"])
                if path.name.startswith(HASHED_PREFIX):
                    key = item["key"].encode()
                    value = len(key).to_bytes(4, "big") + key + value
                self._write_atomic(path, value, sync_dir=False)
            else:
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
            touched.add(path.parent)
        for directory in touched:
            self._fsync_dir(directory)

    def _replay_journal(self) -> None:
        journal = self.root / "journal"
        if not journal.exists():
            return
        try:
            record = json.loads(journal.read_bytes())
        except (OSError, ValueError) as exc:
            # A journal that is not whole was never renamed into place: nothing of that commit happened.
            log.warning("discarding unreadable journal in %s: %s", self.root, exc)
            journal.unlink()
            return
        log.info("replaying an interrupted commit of %d changes in %s", len(record), self.root)
        self._apply(record)
        journal.unlink()
        self._fsync_dir(self.root)

    @staticmethod
    def _write_atomic(path: Path, data: bytes, sync_dir: bool = True) -> None:
        tmp = path.parent / f".tmp.{path.name[:50]}.{os.getpid()}.{threading.get_ident()}"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        if sync_dir:
            LocalDirectoryStore._fsync_dir(path.parent)

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
        finally:
            self._lock_file.close()
