"""Unreachable strategy: when an unreachable instance stops counting, and when it is forgotten.

Owns the two derived predicates (nothing is stored: they are functions of ``unreachable_since``, the app's
``unreachableStrategy`` and ``now``):

- inactive: unreachable for at least ``inactiveAfterSeconds`` -> Marathon's ``UnreachableInactive``; it no
  longer counts towards the app's instances, so the reconciler schedules a replacement;
- expired: unreachable for at least ``expungeAfterSeconds`` -> expunged (if its task ever comes back the
  shell kills it as unknown).

``UnreachableDisabled`` means never inactive, never expired. Fails: never raises.
"""

from __future__ import annotations

from mesospaas.model.app import UnreachableEnabled, UnreachableStrategy
from mesospaas.model.condition import Condition
from mesospaas.model.instance import Instance


def _unreachable_for(instance: Instance, now: float) -> float | None:
    if instance.condition is not Condition.UNREACHABLE:
        return None
    since = instance.unreachable_since if instance.unreachable_since is not None else instance.since
    return now - since


def is_unreachable_inactive(instance: Instance, strategy: UnreachableStrategy, now: float) -> bool:
    duration = _unreachable_for(instance, now)
    return (
        duration is not None
        and isinstance(strategy, UnreachableEnabled)
        and duration >= strategy.inactive_after_seconds
    )


def is_unreachable_expired(instance: Instance, strategy: UnreachableStrategy, now: float) -> bool:
    duration = _unreachable_for(instance, now)
    return (
        duration is not None
        and isinstance(strategy, UnreachableEnabled)
        and duration >= strategy.expunge_after_seconds
    )


def condition_name(instance: Instance, strategy: UnreachableStrategy, now: float) -> str:
    """The condition name the API shows (``UnreachableInactive`` is derived here)."""
    if is_unreachable_inactive(instance, strategy, now):
        return "UnreachableInactive"
    return instance.condition.value
