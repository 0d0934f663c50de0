"""The clock localmesos' protocol deadlines run on.

Owns: ``Clock``, what a component needs from time for the deadlines the Mesos protocol defines (scheduler
HEARTBEATs on the stream-start clock, status update retransmission with backoff, agent removal after the ping
timeout, framework failover timeout): a monotonic ``monotonic()`` and ``call_later``. ``LOOP_CLOCK`` (the
default everywhere) is the running asyncio loop's own clock, so nothing changes unless a caller passes another.
A test passes a clock it advances by hand (``LocalCluster(config, clock=...)``) and then drives those deadlines
exactly, whatever the machine's load. ``CommandTask`` takes one for its own deadlines (the kill grace period
before SIGKILL, ``max_completion_time``); the agent runs its tasks on the loop clock.

Invariant: a clock's callbacks run on the event loop thread that owns the component (``LoopClock`` by
construction; a hand-driven clock must be advanced on that thread). Allocation rounds, process supervision and
the wall-clock timestamps in status updates stay on real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (only differences mean something)."""
        ...

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Timer:
        """Runs ``callback(*args)`` once, ``delay`` seconds from now on this clock, unless cancelled first."""
        ...


class LoopClock:
    """The running event loop's clock (``loop.time`` / ``loop.call_later``)."""

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(delay, callback, *args)


LOOP_CLOCK: Clock = LoopClock()
