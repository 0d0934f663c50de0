"""Deployments: the persisted plan that moves the root group, and what a rolling step asks of the reconciler.

Owns:

- ``DeploymentStep``: the reconciler's rolling input for one app. A deployment is an *input* to the
  level-triggered reconciler, not an actor: while an app's restart is the current step, the reconciler
  replaces instances whose version differs from ``target_version`` within the capacity bounds of Marathon's
  upgrade strategy (``reconcile.reconcile_app`` documents the arithmetic). ``deploy.progress`` fills it.
- ``DeploymentPlan`` (id, original root, target root, ordered ``PlanStep``s of ``DeploymentAction``s,
  version): what the store persists and ``/v2/deployments`` and the deployment events render. Steps run one
  after another; the actions of a step run in parallel. ``deploy.plan`` computes it.
- ``DeploymentId`` and ``random_deployment_ids`` (uuids from an injected ``random.Random``).

Invariants: capacities within 0..1; a plan's steps are non-empty; a START or SCALE action says how many
instances it scales to (``InvalidSpec`` otherwise).
"""

from __future__ import annotations

import enum
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NewType

from mesospaas.errors import InvalidSpec
from mesospaas.model.app import AppSpec
from mesospaas.model.group import Group
from mesospaas.model.ids import AppId, AppVersion

DeploymentId = NewType("DeploymentId", str)
"""A deployment's uuid (``Marathon-Deployment-Id``)."""
DeploymentIdSource = Callable[[], DeploymentId]
"""Makes a fresh deployment id; injected into the planner."""


def random_deployment_ids(rng: random.Random) -> DeploymentIdSource:
    """A ``DeploymentIdSource`` drawing version-4 uuids from ``rng`` (deterministic for a seed)."""

    def make() -> DeploymentId:
        return DeploymentId(str(uuid.UUID(int=rng.getrandbits(128), version=4)))

    return make


@dataclass(frozen=True, slots=True)
class DeploymentStep:
    target_version: AppVersion
    minimum_health_capacity: float = 1.0
    maximum_over_capacity: float = 1.0
    canary_instances: int | None = None
    """While a canary phase holds: start at most this many new instances, on top of the old ones, and stop
    no old instance (``None``: roll as the upgrade strategy says)."""

    def __post_init__(self) -> None:
        for value in (self.minimum_health_capacity, self.maximum_over_capacity):
            if not 0.0 <= value <= 1.0:
                raise InvalidSpec(f"deployment capacities must be within 0..1, got {value}")
        if self.canary_instances is not None and self.canary_instances < 1:
            raise InvalidSpec(f"a canary needs at least one instance, got {self.canary_instances}")

    @staticmethod
    def restart(app: AppSpec, canary_instances: int | None = None) -> DeploymentStep:
        """A step rolling ``app`` to its current version with its own upgrade strategy (held at
        ``canary_instances`` new instances while its canary phase lasts)."""
        return DeploymentStep(
            target_version=app.version,
            minimum_health_capacity=app.upgrade_strategy.minimum_health_capacity,
            maximum_over_capacity=app.upgrade_strategy.maximum_over_capacity,
            canary_instances=canary_instances,
        )


class ActionKind(enum.Enum):
    """Marathon's action names, as ``/v2/deployments`` and the events show them."""

    START = "StartApplication"
    """A new app is created with 0 instances (done at once); a later SCALE brings it up."""
    STOP = "StopApplication"
    """A removed app: every instance is killed."""
    SCALE = "ScaleApplication"
    """A new app, a scale-only change, or a change to 0 instances: converge on ``scale_to``."""
    RESTART = "RestartApplication"
    """A config change (or a restart request): replace every instance, rolling per the upgrade strategy."""


@dataclass(frozen=True, slots=True)
class DeploymentAction:
    action: ActionKind
    app: AppId
    scale_to: int | None = None
    """Instances the action converges on: 0 for START, the target's count for SCALE and RESTART."""

    def __post_init__(self) -> None:
        if self.action is not ActionKind.STOP and (self.scale_to is None or self.scale_to < 0):
            raise InvalidSpec(f"{self.action.value} of {self.app} needs scale_to >= 0")

    @property
    def name(self) -> str:
        """The JSON ``action`` value, e.g. ``RestartApplication``."""
        return self.action.value


@dataclass(frozen=True, slots=True)
class PlanStep:
    """Actions that may run in parallel (JSON ``{"actions": [{"action": …, "app": …}]}``)."""

    actions: tuple[DeploymentAction, ...]

    def __post_init__(self) -> None:
        if not self.actions:
            raise InvalidSpec("a deployment step needs at least one action")


@dataclass(frozen=True, slots=True)
class DeploymentPlan:
    id: DeploymentId
    original: Group
    """The root group before the deployment."""
    target: Group
    """The root group the deployment moves to (what the store holds as the current root)."""
    steps: tuple[PlanStep, ...]
    version: AppVersion
    """When it was planned, Marathon's timestamp text; also the version given to changed apps and groups."""
    _affected: frozenset[AppId] | None = field(default=None, init=False, repr=False, compare=False)
    """``affected_apps``, computed on first use (not a field of the plan: not compared, stored or copied)."""

    @property
    def affected_apps(self) -> frozenset[AppId]:
        """Every app an action names (Marathon's ``affectedRunSpecIds``): what the deployment locks."""
        affected = self._affected
        if affected is None:
            affected = frozenset(a.app for s in self.steps for a in s.actions)
            object.__setattr__(self, "_affected", affected)
        return affected

    @property
    def is_empty(self) -> bool:
        return not self.steps
