"""Waiting for a condition in tests: poll with a deadline, fail with what was last seen (never a timed assertion:
the deadline only bounds how long a broken build takes to fail)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float = 90.0, what: str = "condition",
             interval: float = 0.05) -> T:
    """The first truthy value of ``check()``; AssertionError naming ``what`` and the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s; last: {last!r}")
        time.sleep(interval)


@overload
async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = ..., what: str = ...,
                     interval: float = ...) -> T: ...


@overload
async def eventually(check: Callable[[], T | None], timeout: float = ..., what: str = ...,
                     interval: float = ...) -> T: ...


async def eventually(check: Callable[[], Any], timeout: float = 90.0, what: str = "condition",
                     interval: float = 0.02) -> Any:
    """``wait_for`` for coroutines: polls ``check()`` (awaited if it returns an awaitable, e.g. an HTTP read)
    between ``asyncio.sleep``s, so the loop keeps running."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        value = check()
        last = await value if inspect.isawaitable(value) else value
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s; last: {last!r}")
        await asyncio.sleep(interval)
