"""Stopping background tasks never hangs, even on a task whose cancellation was swallowed once."""

from __future__ import annotations

import asyncio

from scheduler.cancelling import cancel_and_wait


async def test_a_task_that_swallows_one_cancellation_is_cancelled_again() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # as wait_for on Python 3.11 may do when its inner future finishes meanwhile

    task = asyncio.get_running_loop().create_task(stubborn())
    await asyncio.sleep(0)
    await cancel_and_wait([task, None])
    assert task.cancelled() and swallowed == 1


async def test_finished_and_failed_tasks_are_fine() -> None:
    async def fail() -> None:
        raise RuntimeError("already logged")

    done = asyncio.get_running_loop().create_task(asyncio.sleep(0))
    failed = asyncio.get_running_loop().create_task(fail())
    await asyncio.sleep(0.01)
    await cancel_and_wait([done, failed])
    assert done.done() and failed.done() and isinstance(failed.exception(), RuntimeError)
