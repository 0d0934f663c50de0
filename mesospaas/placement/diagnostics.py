"""Why is my app waiting? Per-app counts of rejected offers by reason, as ``/v2/queue`` shows them.

Owns: ``AppTally`` (the round-local, mutable record the search writes into) and ``AppDiagnostics`` (the
immutable summary ``place()`` returns). Every offer the search evaluated for an app is counted once, under
the verdict of its *last* evaluation (an offer can first take two instances, then be too full for the
third). When an app is left with unplaced instances, the round re-evaluates every offer that was not
rejected for it at the end, so a waiting app's counts say why each offer of the round cannot take it now.

``reject_summary`` gives Marathon's ``rejectSummaryLastOffers`` rows: reasons in check order, each with
the offers declined for it and the offers that reached that check (a funnel).

Invariant: counts only cover offers of the round; every processed offer is counted under at most one reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from mesospaas.model.ids import AppId
from mesospaas.placement.reasons import CHECK_ORDER, NoMatchReason, Reject


class AppTally:
    """What the search saw for one app during a round (mutable, round-local)."""

    __slots__ = ("app_id", "last", "used", "launched", "unplaced")

    def __init__(self, app_id: AppId) -> None:
        self.app_id = app_id
        self.last: dict[int, Reject | None] = {}
        """offer index -> verdict of its last evaluation for this app (None = it fitted)"""
        self.used: set[int] = set()
        self.launched = 0
        self.unplaced = 0

    def summary(self) -> AppDiagnostics:
        rejects: dict[NoMatchReason, int] = {}
        by_rule: dict[str, int] = {}
        for index, verdict in self.last.items():
            if verdict is None:
                continue
            rejects[verdict.reason] = rejects.get(verdict.reason, 0) + 1
            if verdict.rule is not None:
                by_rule[verdict.rule] = by_rule.get(verdict.rule, 0) + 1
        processed = len(self.used | set(self.last))
        return AppDiagnostics(
            app_id=self.app_id,
            processed_offers=processed,
            used_offers=len(self.used),
            launched=self.launched,
            unplaced=self.unplaced,
            rejects=MappingProxyType(rejects),
            rejects_by_rule=MappingProxyType(by_rule),
        )


@dataclass(frozen=True, slots=True)
class RejectSummaryLine:
    reason: NoMatchReason
    declined: int
    processed: int


@dataclass(frozen=True, slots=True)
class AppDiagnostics:
    app_id: AppId
    processed_offers: int
    used_offers: int
    launched: int
    unplaced: int
    rejects: Mapping[NoMatchReason, int]
    rejects_by_rule: Mapping[str, int]
    """Rejects by the constraint / affinity rule that caused them, e.g. ``{"rack:GROUP_BY": 12}``."""

    @property
    def unused_offers(self) -> int:
        return self.processed_offers - self.used_offers

    def reject_summary(self) -> tuple[RejectSummaryLine, ...]:
        lines = []
        reached = self.processed_offers
        for reason in CHECK_ORDER:
            declined = self.rejects.get(reason, 0)
            lines.append(RejectSummaryLine(reason, declined, reached))
            reached -= declined
        return tuple(lines)
