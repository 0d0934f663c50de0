"""Fixtures for the scheduler on a real localmesos cluster (process mode, real tasks).

The cluster runs on its own loop thread (``ThreadedCluster``); the scheduler runtime runs on the test's loop,
as it would in ``mesospaas serve``. Every fixture stops what it started.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from api.app import ApiConfig, build_api_app
from mesospaas.model import AppId, AppSpec, Condition, Instance
from scheduler.runtime import RuntimeSettings, SchedulerRuntime
from scheduler.store import LocalDirectoryStore
from tests.localmesos.conftest import ThreadedCluster, make_config

RACKED = ["rack:r1;zone:a", "rack:r2;zone:a", "rack:r3;zone:b"]


@pytest.fixture
def mesos(tmp_path: Path) -> Iterator[ThreadedCluster]:
    cluster = ThreadedCluster(make_config(tmp_path, 3, attributes=RACKED, resources="cpus:4;mem:4096;disk:10000",
                                          agent_ping_timeout=0.5, max_agent_ping_timeouts=2))
    yield cluster
    cluster.stop()


class RuntimeHandle:
    """Starts and restarts the scheduler runtime on one store directory."""

    def __init__(self, mesos: ThreadedCluster, state_dir: Path) -> None:
        self.mesos = mesos
        self.state_dir = state_dir
        self.runtime: SchedulerRuntime | None = None
        self.store: LocalDirectoryStore | None = None

    async def start(self, clock: Callable[[], float] | None = None, **settings: Any) -> SchedulerRuntime:
        """A runtime on the store, with ``settings`` over the test defaults (and ``clock``, the test's, if given)."""
        self.store = LocalDirectoryStore(self.state_dir)
        defaults: dict[str, Any] = {"master": self.mesos.address, "tick_interval": 0.2, "seed": 7,
                                    "decline_refuse_seconds": 1.0}
        defaults.update(settings)
        self.runtime = SchedulerRuntime(self.store, RuntimeSettings(**defaults),
                                        **({"clock": clock} if clock is not None else {}))
        await self.runtime.start()
        await asyncio.wait_for(self.runtime.subscribed.wait(), 20)
        return self.runtime

    async def stop(self) -> None:
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = None
        if self.store is not None:
            self.store.close()
            self.store = None


@pytest.fixture
async def scheduler(mesos: ThreadedCluster, tmp_path: Path) -> AsyncIterator[RuntimeHandle]:
    handle = RuntimeHandle(mesos, tmp_path / "state")
    yield handle
    await handle.stop()


@pytest.fixture
async def served(scheduler: RuntimeHandle) -> AsyncIterator[TestServer]:
    """The API of a started scheduler on a real TCP port of 127.0.0.1."""
    runtime = await scheduler.start()
    app = build_api_app(runtime, runtime.events, ApiConfig(master=scheduler.mesos.address))
    server = TestServer(app, host="127.0.0.1")
    async with server:
        yield server


async def eventually(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Polls ``check`` until it returns something truthy; fails with its last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


def running(runtime: SchedulerRuntime, app: str) -> list[Instance]:
    return [i for i in runtime.instances_of(AppId(app)) if i.condition is Condition.RUNNING]


def sleeper(app: str, instances: int = 1, **kw: Any) -> AppSpec:
    fields: dict[str, Any] = {"cmd": "sleep 600", "cpus": 0.1, "mem": 32.0, "instances": instances}
    fields.update(kw)
    return AppSpec(id=AppId(app), **fields)
