"""A ``localmesos.clock.Clock`` that moves only when the test says so.

Give it to a cluster (``start_cluster(..., clock=clock)`` / ``ThreadedCluster(config, clock)``) and the protocol
deadlines (heartbeats, status update retransmission, agent removal, failover timeout) fire exactly when the
test advances past them, however loaded the machine is. ``advance`` must run on the cluster's loop thread:
``cluster.run(lambda: clock.advance(1.0))``. Timers due at the same instant fire in the order they were set.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(order=True)
class ManualTimer:
    due: float
    seq: int
    callback: Callable[..., object] = field(compare=False)
    args: tuple[Any, ...] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._timers: list[ManualTimer] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> ManualTimer:
        timer = ManualTimer(self.now + max(0.0, delay), next(self._seq), callback, args)
        heapq.heappush(self._timers, timer)
        return timer

    def advance(self, seconds: float) -> list[str]:
        """Moves time forward by ``seconds``, running every timer that falls due on the way (timers those set
        included), each at its own due time. Returns the names of the callbacks that ran, in order."""
        target = self.now + seconds
        fired: list[str] = []
        while self._timers and self._timers[0].due <= target:
            timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self.now = timer.due
            timer.callback(*timer.args)
            fired.append(_name(timer.callback))
        self.now = target
        return fired

    def pending(self) -> list[tuple[float, str]]:
        """(seconds from now, callback name) of the timers not yet run or cancelled, soonest first."""
        live = sorted(t for t in self._timers if not t.cancelled)
        return [(t.due - self.now, _name(t.callback)) for t in live]


def _name(callback: Callable[..., object]) -> str:
    return str(getattr(callback, "__name__", repr(callback)))
