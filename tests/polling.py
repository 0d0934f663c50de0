"""Waiting for a condition in tests: poll with a deadline, fail with what was last seen (never a timed assertion:
the deadline only bounds how long a broken build takes to fail)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float = 30.0, what: str = "condition",
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
