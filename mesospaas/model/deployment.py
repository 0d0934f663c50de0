"""The rolling-deployment hook: what a deployment step asks of the reconciler for one app.

Owns: ``DeploymentStep``. A deployment is an *input* to the level-triggered reconciler, not an actor: while a
step is active the reconciler replaces instances whose version differs from ``target_version`` within the
capacity bounds of Marathon's upgrade strategy (``reconcile.reconcile_app`` documents the arithmetic).
The planner that orders steps (``deploy/``) is a later issue; this type is the contract it will fill.

Invariant: capacities within 0..1 (``InvalidSpec`` otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

from mesospaas.errors import InvalidSpec
from mesospaas.model.app import AppSpec
from mesospaas.model.ids import AppVersion


@dataclass(frozen=True, slots=True)
class DeploymentStep:
    target_version: AppVersion
    minimum_health_capacity: float = 1.0
    maximum_over_capacity: float = 1.0

    def __post_init__(self) -> None:
        for value in (self.minimum_health_capacity, self.maximum_over_capacity):
            if not 0.0 <= value <= 1.0:
                raise InvalidSpec(f"deployment capacities must be within 0..1, got {value}")

    @staticmethod
    def restart(app: AppSpec) -> DeploymentStep:
        """A step rolling ``app`` to its current version with its own upgrade strategy."""
        return DeploymentStep(
            target_version=app.version,
            minimum_health_capacity=app.upgrade_strategy.minimum_health_capacity,
            maximum_over_capacity=app.upgrade_strategy.maximum_over_capacity,
        )
