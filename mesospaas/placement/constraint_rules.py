"""Marathon's constraint operators, one small rule per operator, with Marathon's exact semantics.

Owns: ``compile_rule`` and the rule classes. A rule answers for one *field value* of an offer (``None`` when
the agent lacks the field); the constraints filter looks the value up and asks the rule. "Placed" means the
app's placed instances (see ``placed_index``) including launches proposed earlier in the same round.

Semantics (Marathon, reference §3; values are Marathon strings, see ``model.attributes``):

- Missing field: only UNLIKE accepts; every other operator rejects (``hostname`` is never missing).
- UNIQUE: no placed instance has the offer's value (placed instances lacking the field never conflict).
- CLUSTER with value: the offer's value equals it. Without: accept while nothing is placed; then only the
  value of the *first* placed instance (earliest staged, then id; with no existing instance, the first
  placed in this round).
- GROUP_BY without value (Marathon <= 1.9): accept a value no placed instance has yet; otherwise only if its
  group is the smallest group. The group of instances lacking the field counts as a group.
- GROUP_BY with value n (Marathon 1.10): per = instances // n, rest = instances % n. A new value is accepted
  while fewer than n groups exist; an existing group while its count < per, or == per while fewer than
  ``rest`` groups hold more than ``per``. (So with n = 3 and only 2 racks offering, it waits for a third.)
- LIKE / UNLIKE: the value fully matches / does not fully match the regex (Java ``String.matches``).
- MAX_PER n: fewer than n placed instances have the offer's value.
- IS: the value equals the constraint value; when the constraint value looks like a scalar
  (``[0-9]+(\\.[0-9]+)?``) both sides are compared after ``0.###`` formatting (``0.80`` IS-matches ``0.8``).

Permanence (see ``reasons``): every reject is permanent within a round except GROUP_BY's.
Fails: never raises for a valid ``Constraint``.
"""

from __future__ import annotations

import re
from typing import Protocol

from mesospaas.model.agent import AgentInfo, canonical_field
from mesospaas.model.app import AppSpec
from mesospaas.model.attributes import SCALAR_TEXT, format_scalar
from mesospaas.model.constraints import Constraint, Operator
from mesospaas.placement.placed_index import GroupCounter, PlacedIndex
from mesospaas.placement.reasons import NoMatchReason, Reject


class Rule(Protocol):
    field: str

    def check(self, value: str | None) -> Reject | None: ...


def _rejects(constraint: Constraint) -> tuple[Reject, Reject]:
    text = str(constraint)
    reason = NoMatchReason.UNFULFILLED_CONSTRAINT
    return Reject(reason, True, text), Reject(reason, False, text)


class UniqueRule:
    __slots__ = ("field", "_counts", "_reject")

    def __init__(self, field: str, counter: GroupCounter, reject: Reject) -> None:
        self.field = field
        self._counts = counter.counts
        self._reject = reject

    def check(self, value: str | None) -> Reject | None:
        if value is None or value in self._counts:
            return self._reject
        return None


class ClusterValueRule:
    __slots__ = ("field", "_value", "_reject")

    def __init__(self, field: str, value: str, reject: Reject) -> None:
        self.field = field
        self._value = value
        self._reject = reject

    def check(self, value: str | None) -> Reject | None:
        return None if value is not None and value == self._value else self._reject


class ClusterFirstRule:
    __slots__ = ("field", "_app", "_placed", "_first", "_reject")

    def __init__(self, field: str, app: AppSpec, placed: PlacedIndex, reject: Reject) -> None:
        self.field = field
        self._app = app.id
        self._placed = placed
        self._first: AgentInfo | None = None
        self._reject = reject

    def check(self, value: str | None) -> Reject | None:
        if value is None:
            return self._reject
        first = self._first
        if first is None:
            first = self._first = self._placed.first_agent(self._app)
            if first is None:
                return None
        return None if first.fields.get(self.field) == value else self._reject


class GroupByRule:
    """GROUP_BY without a value (Marathon <= 1.9 semantics)."""

    __slots__ = ("field", "_counter", "_missing", "_busy")

    def __init__(self, field: str, counter: GroupCounter, missing: Reject, busy: Reject) -> None:
        self.field = field
        self._counter = counter
        self._missing = missing
        self._busy = busy

    def check(self, value: str | None) -> Reject | None:
        if value is None:
            return self._missing
        counter = self._counter
        count = counter.counts.get(value)
        if count is None or count == counter.min_count:
            return None
        return self._busy


class GroupByCountRule:
    """GROUP_BY with a group count (Marathon 1.10 semantics)."""

    __slots__ = ("field", "_counter", "_groups", "_per", "_rest", "_missing", "_busy")

    def __init__(
        self, field: str, counter: GroupCounter, groups: int, instances: int, missing: Reject, busy: Reject
    ) -> None:
        self.field = field
        self._counter = counter
        self._groups = groups
        self._per, self._rest = divmod(instances, groups)
        self._missing = missing
        self._busy = busy

    def check(self, value: str | None) -> Reject | None:
        if value is None:
            return self._missing
        counter = self._counter
        count = counter.counts.get(value)
        if count is None:
            return None if counter.groups < self._groups else self._busy
        if count < self._per:
            return None
        if count == self._per and counter.groups_above(self._per) < self._rest:
            return None
        return self._busy


class LikeRule:
    __slots__ = ("field", "_pattern", "_reject", "_memo")

    def __init__(self, field: str, pattern: str, reject: Reject) -> None:
        self.field = field
        self._pattern = re.compile(pattern)
        self._reject = reject
        self._memo: dict[str, Reject | None] = {}

    def check(self, value: str | None) -> Reject | None:
        if value is None:
            return self._reject
        try:
            return self._memo[value]
        except KeyError:
            verdict = None if self._pattern.fullmatch(value) else self._reject
            self._memo[value] = verdict
            return verdict


class UnlikeRule:
    __slots__ = ("field", "_pattern", "_reject", "_memo")

    def __init__(self, field: str, pattern: str, reject: Reject) -> None:
        self.field = field
        self._pattern = re.compile(pattern)
        self._reject = reject
        self._memo: dict[str, Reject | None] = {}

    def check(self, value: str | None) -> Reject | None:
        if value is None:
            return None
        try:
            return self._memo[value]
        except KeyError:
            verdict = self._reject if self._pattern.fullmatch(value) else None
            self._memo[value] = verdict
            return verdict


class MaxPerRule:
    __slots__ = ("field", "_counts", "_limit", "_reject")

    def __init__(self, field: str, counter: GroupCounter, limit: int, reject: Reject) -> None:
        self.field = field
        self._counts = counter.counts
        self._limit = limit
        self._reject = reject

    def check(self, value: str | None) -> Reject | None:
        if value is None or self._counts.get(value, 0) >= self._limit:
            return self._reject
        return None


class IsRule:
    __slots__ = ("field", "_value", "_scalar", "_reject", "_memo")

    def __init__(self, field: str, value: str, reject: Reject) -> None:
        self.field = field
        self._value = value
        self._scalar = format_scalar(float(value)) if SCALAR_TEXT.fullmatch(value) else None
        self._reject = reject
        self._memo: dict[str, Reject | None] = {}

    def check(self, value: str | None) -> Reject | None:
        if value is None:
            return self._reject
        try:
            return self._memo[value]
        except KeyError:
            same = value == self._value or (
                self._scalar is not None
                and SCALAR_TEXT.fullmatch(value) is not None
                and format_scalar(float(value)) == self._scalar
            )
            verdict = None if same else self._reject
            self._memo[value] = verdict
            return verdict


def compile_rule(constraint: Constraint, app: AppSpec, placed: PlacedIndex) -> Rule:
    """The rule enforcing ``constraint`` for ``app``, bound to the round's placement counts."""
    field = canonical_field(constraint.field)
    permanent, temporary = _rejects(constraint)
    op = constraint.operator
    value = constraint.value
    if op is Operator.UNIQUE:
        return UniqueRule(field, placed.counter(app.id, field), permanent)
    if op is Operator.CLUSTER:
        if value:
            return ClusterValueRule(field, value, permanent)
        return ClusterFirstRule(field, app, placed, permanent)
    if op is Operator.GROUP_BY:
        groups = constraint.int_value
        counter = placed.counter(app.id, field)
        if groups is not None and groups > 0:
            return GroupByCountRule(field, counter, groups, app.instances, permanent, temporary)
        return GroupByRule(field, counter, permanent, temporary)
    if op is Operator.LIKE:
        return LikeRule(field, value or "", permanent)
    if op is Operator.UNLIKE:
        return UnlikeRule(field, value or "", permanent)
    if op is Operator.MAX_PER:
        return MaxPerRule(field, placed.counter(app.id, field), constraint.int_value or 0, permanent)
    return IsRule(field, value or "", permanent)
