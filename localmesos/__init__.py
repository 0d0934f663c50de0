"""localmesos: an embedded Mesos-compatible cluster (one master and N agents) speaking the real v1 HTTP APIs.

It imports nothing from mesospaas, scheduler, api or executor, so the framework cannot agree with it by
construction: what works against it must work against a real Mesos 1.x master.
"""

from .cluster import ClusterConfig, LocalCluster, build_agent_specs
from .master import MasterFlags

__all__ = ["ClusterConfig", "LocalCluster", "MasterFlags", "build_agent_specs"]
