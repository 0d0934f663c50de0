"""Host-port plan for tests that run real tasks on localmesos agents, so parallel test workers never share a port.

Tasks in process mode listen on the host ports their agent offers (``$PORT0``), on every address. Two clusters
offering the same ports, in two pytest-xdist workers, would let one test's health check or HAProxy reach the
other test's task. Each worker therefore gets a region of its own below the kernel's ephemeral range (where
``free_port()`` picks API, ZooKeeper and HAProxy ports) and below localmesos' default agent ports (31000+, used
by the ``mesospaas local`` subprocess tests, which run in one xdist group): worker ``gwN`` owns
``[20000 + N * 1300, 20000 + (N + 1) * 1300)``. Without xdist the process is worker 0.
"""

from __future__ import annotations

import os

REGION_BEGIN = 20000
REGION_WIDTH = 1300
MAX_WORKERS = 8  # 20000 + 8 * 1300 = 30400 < 31000


def worker_index() -> int:
    """0 for ``gw0`` (or no xdist), 1 for ``gw1``, ...; a worker beyond ``MAX_WORKERS`` is an error."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(name.removeprefix("gw") or 0)
    if index >= MAX_WORKERS:
        raise RuntimeError(f"at most {MAX_WORKERS} xdist workers have host-port regions; got {name}")
    return index


def worker_region() -> range:
    begin = REGION_BEGIN + worker_index() * REGION_WIDTH
    return range(begin, begin + REGION_WIDTH)


def agent_ports(agent: int, agents: int) -> str:
    """Agent ``agent`` of ``agents``: its slice of this worker's region, in agent flag syntax (``[a-b]``)."""
    region = worker_region()
    width = max(1, len(region) // max(agents, 1))
    if agent >= agents or width < 1:
        raise ValueError(f"no port slice for agent {agent} of {agents}")
    begin = region.start + agent * width
    return f"[{begin}-{begin + width - 1}]"
