"""Fixtures: a real localmesos cluster on its own event-loop thread, on free ports, in a temp dir.

pymesos drivers block and run their own threads, so the cluster gets a loop of its own; tests talk to it over
real HTTP and reach into it only through ``ThreadedCluster.call`` (faults, state inspection).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from localmesos.clock import LOOP_CLOCK, Clock
from localmesos.cluster import ClusterConfig, LocalCluster, build_agent_specs
from localmesos.master import MasterFlags
from localmesos.resources import Resources
from tests.host_ports import agent_ports
from tests.localmesos import transcripts as T

T = TypeVar("T")


class ThreadedCluster:
    """A LocalCluster running on a private loop in a daemon thread."""

    def __init__(self, config: ClusterConfig, clock: Clock = LOOP_CLOCK) -> None:
        self.loop = asyncio.new_event_loop()
        self.cluster = LocalCluster(config, clock)
        self._thread = threading.Thread(target=self.loop.run_forever, name="localmesos", daemon=True)
        self._thread.start()
        self.call(self.cluster.start())

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def run(self, fn: Callable[[], T], timeout: float = 30) -> T:
        async def wrapper() -> T:
            return fn()
        return self.call(wrapper(), timeout)

    @property
    def url(self) -> str:
        return self.cluster.url

    @property
    def address(self) -> str:
        return self.cluster.address

    @property
    def master(self) -> Any:
        return self.cluster.master

    def restart_master(self, *, failover: bool = False, downtime: float = 0.0) -> Any:
        """``LocalCluster.restart_master`` from the test's thread; returns the new master."""
        return self.call(self.cluster.restart_master(failover=failover, downtime=downtime), timeout=60 + downtime)

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        try:
            self.call(self.cluster.stop(), timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


def make_config(tmp_path: Path, agents: int = 2, *, attributes: list[str] | None = None,
                resources: str = "cpus:2;mem:2048;disk:10000", simulate: bool = False,
                docker_registry: Path | None = None, **master_flags: Any) -> ClusterConfig:
    specs = build_agent_specs(agents, None, resources=resources, agent_port=0, simulate=simulate)
    if not simulate and "ports:" not in resources:
        # Real tasks listen on these: each xdist worker offers ports of its own (tests/host_ports.py).
        for n, spec in enumerate(specs):
            ranges = {**spec.resources.ranges, **Resources.parse(f"ports:{agent_ports(n, len(specs))}").ranges}
            spec.resources = dataclasses.replace(spec.resources, ranges=ranges)
    for spec, attrs in zip(specs, attributes or []):
        spec.attributes = attrs
    retry = master_flags.pop("status_update_retry_interval", 10.0)
    flags = MasterFlags(port=0, **master_flags)
    return ClusterConfig(agents=specs, master=flags, mode="simulate" if simulate else "process",
                         work_dir=tmp_path / "cluster", status_update_retry_interval=retry,
                         docker_registry=docker_registry)


@pytest.fixture
def start_cluster(tmp_path: Path) -> Iterator[Callable[..., ThreadedCluster]]:
    started: list[ThreadedCluster] = []

    def start(agents: int = 2, *, clock: Clock = LOOP_CLOCK, **kw: Any) -> ThreadedCluster:
        cluster = ThreadedCluster(make_config(tmp_path, agents, **kw), clock)
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()


@pytest.fixture
def cluster(start_cluster: Callable[..., ThreadedCluster]) -> ThreadedCluster:
    return start_cluster(2, attributes=["rack:r1;zone:a", "rack:r2;zone:b"])


@pytest.fixture
def schedulers() -> Iterator[list[T.Scheduler]]:
    """Raw-socket frameworks (``transcripts.Scheduler``) a test appends to; each is closed at the end."""
    made: list[T.Scheduler] = []
    yield made
    for s in made:
        s.close()
