"""Values the runtime derives from an immutable source object, kept while that source is the same.

Owns ``SourceCache``: per key (a deployment id, an app id), the value last made from a source object and an
optional stamp; it is made again only when the source is another object or the stamp moved on. The runtime's
state is immutable values replaced on change (a deployment's plan, its running record, an app's instances
tuple), so identity says "unchanged" at no cost. Entries whose key is no longer live are dropped once the
cache holds more than twice the live ones (plus a little), so it never outgrows the state it serves.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SourceCache(Generic[K, V]):
    def __init__(self, live: Callable[[K], bool], live_count: Callable[[], int]) -> None:
        self._live = live
        self._live_count = live_count
        self._entries: dict[K, tuple[object, Hashable, V]] = {}

    def get(self, key: K, source: object, make: Callable[[], V], stamp: Hashable = None) -> V:
        """The value for ``key`` made from ``source`` (with ``stamp``): kept, or made now by ``make``."""
        hit = self._entries.get(key)
        if hit is not None and hit[0] is source and hit[1] == stamp:
            return hit[2]
        if len(self._entries) > 2 * self._live_count() + 64:
            self._entries = {k: e for k, e in self._entries.items() if self._live(k)}
        value = make()
        self._entries[key] = (source, stamp, value)
        return value

    def __len__(self) -> int:
        return len(self._entries)


__all__ = ["SourceCache"]
