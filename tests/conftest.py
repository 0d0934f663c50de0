"""Fixtures shared by every test package: a real ZooKeeper (see ``tests/zookeeper_server.py``)."""

from tests.zookeeper_server import own_zookeeper, zk_hosts, zookeeper_server

__all__ = ["own_zookeeper", "zk_hosts", "zookeeper_server"]
