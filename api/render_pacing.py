"""Long renders that share the event loop: a list route over 10,000 apps / 100,000 tasks must not hold up the
scheduler (offers, status updates and their acknowledgements run on the same loop).

Owns ``Pacer``: a render calls ``await pacer.tick()`` once per item; after every ``budget`` seconds of work the
tick yields to the loop (``asyncio.sleep(0)``), so anything that became ready meanwhile runs before the render
goes on. A render that yields sees the state move under it: it works on a snapshot of the collections it walks
(the objects in them are immutable) and must not keep its result for a generation it did not start in
(``api.routes_apps.cached_render``). Never raises.
"""

from __future__ import annotations

import asyncio
import time

DEFAULT_BUDGET = 0.005
"""Seconds of rendering between two yields: short enough that the loop's other work waits at most this long."""


class Pacer:
    """Yields to the event loop whenever ``budget`` seconds passed since the last yield."""

    __slots__ = ("budget", "_until", "yields")

    def __init__(self, budget: float | None = None) -> None:
        self.budget = DEFAULT_BUDGET if budget is None else budget
        self._until = time.perf_counter() + self.budget
        self.yields = 0

    async def tick(self) -> None:
        if time.perf_counter() >= self._until:
            await asyncio.sleep(0)
            self.yields += 1
            self._until = time.perf_counter() + self.budget


__all__ = ["DEFAULT_BUDGET", "Pacer"]
