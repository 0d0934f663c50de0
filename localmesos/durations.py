"""Stout's duration text (``5secs``, ``100ms``, ``15mins``): the largest unit that gives a whole number."""

from __future__ import annotations

_UNITS = (("weeks", 604800 * 10**9), ("days", 86400 * 10**9), ("hrs", 3600 * 10**9), ("mins", 60 * 10**9),
          ("secs", 10**9), ("ms", 10**6), ("us", 10**3))


def stout_duration(seconds: float) -> str:
    ns = int(round(seconds * 1e9))
    for unit, size in _UNITS:
        if ns and ns % size == 0:
            return f"{ns // size}{unit}"
    return f"{ns}ns"
