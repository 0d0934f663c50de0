"""The metrics tests run the scheduler on a real localmesos cluster (the integration fixtures) and ZooKeeper."""

from tests.integration.conftest import mesos, scheduler, served

__all__ = ["mesos", "scheduler", "served"]
