"""Affinity and anti-affinity between apps: the hard rules (filter side) and preference scoring.

Owns: ``compile_required`` (one rule per REQUIRED ``AppAffinity``, same ``check(value)`` shape as the
constraint rules) and ``preference_score`` (the 0..1 score of the PREFERRED ones). The JSON field and its
meaning are documented in ``mesospaas.model.affinity`` and ``placement/README.md``.

Semantics: the other app "is on" a field value when one of its placed instances (existing or proposed in
this round) has that value. AFFINITY needs it there (a missing field never satisfies it; a self-affinity is
satisfied while the app has nothing placed); ANTI_AFFINITY needs it absent (a missing field always
satisfies it). Reject reason ``AffinityUnmet``; anti-affinity rejects are permanent within a round (the
other app only gains placements), affinity rejects are not (it may arrive later in the round).
Fails: never raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mesospaas.model.affinity import AffinityMode, AffinityType, AppAffinity
from mesospaas.model.agent import canonical_field
from mesospaas.model.app import AppSpec
from mesospaas.placement.constraint_rules import Rule
from mesospaas.placement.placed_index import GroupCounter, PlacedIndex
from mesospaas.placement.reasons import NoMatchReason, Reject


class AffinityRule:
    __slots__ = ("field", "_counter", "_self_bootstrap", "_missing", "_absent")

    def __init__(self, field: str, counter: GroupCounter, self_bootstrap: bool, text: str) -> None:
        self.field = field
        self._counter = counter
        self._self_bootstrap = self_bootstrap
        self._missing = Reject(NoMatchReason.AFFINITY_UNMET, True, text)
        self._absent = Reject(NoMatchReason.AFFINITY_UNMET, False, text)

    def check(self, value: str | None) -> Reject | None:
        if value is None:
            return self._missing
        if value in self._counter.counts:
            return None
        if self._self_bootstrap and self._counter.total == 0:
            return None
        return self._absent


class AntiAffinityRule:
    __slots__ = ("field", "_counts", "_reject")

    def __init__(self, field: str, counter: GroupCounter, text: str) -> None:
        self.field = field
        self._counts = counter.counts
        self._reject = Reject(NoMatchReason.AFFINITY_UNMET, True, text)

    def check(self, value: str | None) -> Reject | None:
        if value is not None and value in self._counts:
            return self._reject
        return None


def compile_required(rule: AppAffinity, app: AppSpec, placed: PlacedIndex) -> Rule:
    field = canonical_field(rule.field)
    counter = placed.counter(rule.app, field)
    if rule.type is AffinityType.AFFINITY:
        return AffinityRule(field, counter, rule.app == app.id, str(rule))
    return AntiAffinityRule(field, counter, str(rule))


def required_rules(app: AppSpec) -> tuple[AppAffinity, ...]:
    return tuple(r for r in app.affinity if r.mode is AffinityMode.REQUIRED)


def preferred_rules(app: AppSpec) -> tuple[AppAffinity, ...]:
    return tuple(r for r in app.affinity if r.mode is AffinityMode.PREFERRED)


class Preferences:
    """The PREFERRED rules of one app bound to the round's counts; ``score`` is in 0..1."""

    __slots__ = ("_terms", "_total")

    def __init__(self, rules: Sequence[AppAffinity], placed: PlacedIndex) -> None:
        self._terms = [
            (
                canonical_field(r.field),
                placed.counter(r.app, r.field).counts,
                r.type is AffinityType.AFFINITY,
                float(r.weight),
            )
            for r in rules
        ]
        self._total = sum(r.weight for r in rules) or 1

    def score(self, fields: Mapping[str, str]) -> float:
        gained = 0.0
        for field, counts, attract, weight in self._terms:
            value = fields.get(field)
            present = value is not None and value in counts
            if present is attract:
                gained += weight
        return gained / self._total
