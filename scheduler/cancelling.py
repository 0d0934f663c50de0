"""Stopping background tasks: cancel them and wait until they are gone, whatever they were doing.

Owns ``cancel_and_wait``, which every shell part that owns asyncio tasks (the health probes, the readiness
probes) calls from its ``stop``, so that a stopped part leaves nothing running. A task that had already failed
is awaited too; its error was logged where it happened.

A cancellation can be lost: on Python 3.11 ``asyncio.wait_for`` swallows it when the awaited thing finishes
in the same moment, and a loop around such a call then goes on as if nothing happened. So tasks still running
after a short wait are cancelled again, a bounded number of times; one that survives all of them is logged
and left behind rather than hanging the stop for ever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)
ROUNDS = 20
ROUND_SECONDS = 0.5


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any] | None]) -> None:
    """Cancels every given task and waits until each one has ended (``None`` entries are skipped)."""
    pending = {t for t in tasks if t is not None and not t.done()}
    for _ in range(ROUNDS):
        if not pending:
            return
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=ROUND_SECONDS)
    for task in pending:
        log.error("task %s did not stop after %d cancellations", task.get_name(), ROUNDS)


__all__ = ["cancel_and_wait"]
