"""Domain types of the core: apps, instances, offers, agents, snapshots and their ids.

Everything here is an immutable value (frozen, slotted dataclasses and enums). Decisions over these values
live in ``placement``, ``reconcile`` and ``launch``. This package re-exports the names the shell uses.
"""

from mesospaas.model.affinity import AffinityMode, AffinityType, AppAffinity
from mesospaas.model.agent import AgentInfo
from mesospaas.model.app import (
    AppSpec,
    CommandExecutor,
    Container,
    CustomExecutor,
    FetchUri,
    HealthCheckSpec,
    KillSelection,
    PlacementStrategy,
    PortDefinition,
    UnreachableDisabled,
    UnreachableEnabled,
    UpgradeStrategy,
)
from mesospaas.model.attributes import Attribute, ItemSet, Ranges, Scalar, Text
from mesospaas.model.condition import Condition, condition_from_mesos, mesos_state
from mesospaas.model.constraints import Constraint, Operator, parse_constraint
from mesospaas.model.deployment import DeploymentStep
from mesospaas.model.ids import (
    AgentId,
    AppId,
    AppVersion,
    InstanceId,
    OfferId,
    TaskId,
    app_id,
    parse_task_id,
    random_instance_ids,
    task_id,
)
from mesospaas.model.instance import Goal, Instance, launched, scheduled, with_task_status
from mesospaas.model.offer import Offer, Unavailability
from mesospaas.model.resources import Resource
from mesospaas.model.snapshot import Snapshot

__all__ = [
    "AffinityMode",
    "AffinityType",
    "AgentId",
    "AgentInfo",
    "AppAffinity",
    "AppId",
    "AppSpec",
    "AppVersion",
    "Attribute",
    "CommandExecutor",
    "Condition",
    "Constraint",
    "Container",
    "CustomExecutor",
    "DeploymentStep",
    "FetchUri",
    "Goal",
    "HealthCheckSpec",
    "Instance",
    "InstanceId",
    "ItemSet",
    "KillSelection",
    "Offer",
    "OfferId",
    "Operator",
    "PlacementStrategy",
    "PortDefinition",
    "Ranges",
    "Resource",
    "Scalar",
    "Snapshot",
    "TaskId",
    "Text",
    "Unavailability",
    "UnreachableDisabled",
    "UnreachableEnabled",
    "UpgradeStrategy",
    "app_id",
    "condition_from_mesos",
    "launched",
    "mesos_state",
    "parse_constraint",
    "parse_task_id",
    "random_instance_ids",
    "scheduled",
    "task_id",
    "with_task_status",
]
