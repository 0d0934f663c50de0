"""When the leader probes: spread over the interval, and what counts as "too late to start".

Owns the pure timing of leader-run checks:

- ``phase``: a stable offset in ``[0, interval)`` per task and check (a hash of the task id, the same on
  every leader), so ten thousand tasks started together are probed spread evenly over the interval instead
  of all at once;
- ``first_due``: Marathon starts checks ``min(interval, 5 s)`` after the task runs; we add the phase;
- ``next_due``: the next slot after one was taken or missed (slots the scheduler missed are skipped, not
  run in a burst);
- ``start_deadline``: a probe that cannot start by then (event loop lag, pool saturated) gives ``Unknown``.

Pure; never raises (an interval of 0 is treated as the minimum interval).
"""

from __future__ import annotations

import math
import zlib

MIN_INTERVAL = 0.1
MIN_START_SLOT = 0.5
"""A probe may start up to half its interval (at least this long) after its slot before it is ``Unknown``."""


def _interval(interval: float) -> float:
    return max(MIN_INTERVAL, interval)


def phase(task_id: str, check_index: int, interval: float) -> float:
    digest = zlib.crc32(f"{task_id}#{check_index}".encode())
    return (digest / 2**32) * _interval(interval)


def first_due(running_since: float, interval: float, offset: float) -> float:
    return running_since + min(_interval(interval), 5.0) + offset


def next_due(previous_due: float, interval: float, now: float) -> float:
    """The first slot after ``previous_due`` that is not already past its start deadline at ``now``."""
    step = _interval(interval)
    due = previous_due + step
    if start_deadline(due, interval) < now:
        missed = math.floor((now - due) / step) + 1
        due += missed * step
    return due


def start_deadline(due: float, interval: float) -> float:
    return due + max(MIN_START_SLOT, _interval(interval) / 2)
