"""The store interface: namespaced byte values, read whole, changed by atomic commits.

Owns: ``Put`` / ``Delete`` changes and the ``Store`` protocol every backend implements. A ``commit`` applies all
its changes or none; once it returns, the changes survive a crash of the process. Reads see every committed
change. Backends raise ``StoreError`` (never swallow it: the shell stops acting when it cannot persist).

Calls block: the runtime calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class StoreError(Exception):
    """The store could not read or persist; the caller must not act as if it had."""


class StoreLocked(StoreError):
    """Another process holds the store (a second scheduler on the same state)."""


class StoreConflict(StoreError):
    """Another writer changed a value since this store last read or wrote it; the commit was not applied."""


class StoreFenced(StoreError):
    """The store's fence (e.g. the leader's election node) is gone: this writer lost its right to write."""


@dataclass(frozen=True, slots=True)
class Put:
    namespace: str
    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class Delete:
    namespace: str
    key: str


Change = Put | Delete


class Store(Protocol):
    def load(self, namespace: str) -> dict[str, bytes]:
        """Every key and value of a namespace."""

    def get(self, namespace: str, key: str) -> bytes | None:
        """One value, or None."""

    def commit(self, changes: Sequence[Change]) -> None:
        """Applies all changes atomically and durably, or raises StoreError having applied none."""

    def close(self) -> None:
        """Releases the store (locks, connections)."""
