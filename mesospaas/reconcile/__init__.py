"""Reconciliation: desired vs actual per app, and which instances go first on scale-down.

``reconcile_app`` is level-triggered and pure; ``select_instances_to_kill`` is Marathon's scale-down order;
``unreachable`` derives UnreachableInactive / expiry from the app's unreachable strategy.
"""

from mesospaas.reconcile.kill_selection import kill_order_key, select_instances_to_kill
from mesospaas.reconcile.reconcile_app import (
    ReconcileResult,
    apply_result,
    considered_available,
    considered_healthy,
    reconcile_app,
)
from mesospaas.reconcile.unreachable import condition_name, is_unreachable_expired, is_unreachable_inactive

__all__ = [
    "ReconcileResult",
    "apply_result",
    "condition_name",
    "considered_available",
    "considered_healthy",
    "is_unreachable_expired",
    "is_unreachable_inactive",
    "kill_order_key",
    "reconcile_app",
    "select_instances_to_kill",
]
