"""Placement: which offer each launchable instance goes to, and why the others wait.

    place(snapshot, pending, offers, profile, rng) -> PlacementResult(launches, declines, unplaced, diagnostics)

Filters (``filters``) answer fit or ``Reject(reason)`` per app and offer; scorers (``scorers``) rank the
feasible offers; a ``Profile`` orders the filters and weighs the scorers; ``candidates`` keeps the search
fast with indexes; ``diagnostics`` counts rejects per app by ``NoMatchReason``. Constraint semantics:
``constraint_rules``; affinity between apps: ``affinity_rules`` and ``README.md`` in this package.
"""

from mesospaas.placement.diagnostics import AppDiagnostics, RejectSummaryLine
from mesospaas.placement.place import Launch, PlacementResult, PlacementRound, place
from mesospaas.placement.profile import DEFAULT_PROFILE, Profile, default_profile
from mesospaas.placement.reasons import NoMatchReason, Reject

__all__ = [
    "DEFAULT_PROFILE",
    "AppDiagnostics",
    "Launch",
    "NoMatchReason",
    "PlacementResult",
    "PlacementRound",
    "Profile",
    "Reject",
    "RejectSummaryLine",
    "default_profile",
    "place",
]
