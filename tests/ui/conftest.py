"""The UI tests: the scheduler on a real localmesos cluster (the integration fixtures) and a real headless
Chromium driven over the DevTools protocol (``tests/ui/cdp.py``), stopped at the end of each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.conftest import mesos, scheduler, served
from tests.ui.cdp import Browser

__all__ = ["browser", "mesos", "scheduler", "served"]


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    started = await Browser.start(tmp_path)
    try:
        yield started
    finally:
        await started.stop()
