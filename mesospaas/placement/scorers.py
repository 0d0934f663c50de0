"""Scorers: how good is a feasible offer for one app? Each returns a number in 0..1 (higher is better).

Owns: the ``Scorer`` protocol and the default scorers. A profile weighs them (``profile``); the candidate
with the highest weighted sum wins, ties broken by the round's seeded ``random.Random``.

- ``AppSpreadScorer`` (``app-spread``): 1 / (1 + instances of this app already on the host) — fewest first.
- ``GroupBalanceScorer`` (``group-balance``): for apps with GROUP_BY constraints, 1 / (1 + instances of
  the app in the offer's group), averaged over the GROUP_BY fields. Marathon's GROUP_BY filter accepts a new
  group *and* the smallest existing one; this prefers the new one, so groups stay balanced within a round.
- ``LeastAllocatedScorer`` (``least-allocated``): share of cpus and mem left after placing, relative to the
  largest offer of the round — the least loaded host first (spread's tie-breaker).
- ``MostAllocatedScorer`` (``most-allocated``): 1 - the above — the fullest host that still fits (binpack).
- ``PreferredAffinityScorer`` (``preferred-affinity``): weighted share of the app's PREFERRED affinity rules
  the offer satisfies (skipped for apps without preferences, so it never distorts their scores).

Like filters, a scorer is compiled once per app per round into a closure over the offer state, or into
``None`` when it has nothing to say about the app (every candidate would score the same).
Fails: never raises.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from mesospaas.model.agent import canonical_field
from mesospaas.model.app import AppSpec
from mesospaas.model.constraints import Operator
from mesospaas.placement.affinity_rules import Preferences, preferred_rules
from mesospaas.placement.offer_state import OfferState, ResourceRequest
from mesospaas.placement.placed_index import PlacedIndex

ScoreFn = Callable[[OfferState], float]


@dataclass(frozen=True, slots=True)
class ScoreContext:
    placed: PlacedIndex
    request: ResourceRequest
    max_cpus: int
    """Largest cpus (thousandths) of any offer in the round, for normalising (>= 1)."""
    max_mem: int


class Scorer(Protocol):
    @property
    def name(self) -> str: ...

    def compile(self, app: AppSpec, ctx: ScoreContext) -> ScoreFn | None: ...


def weighted_total(scorers: Sequence[tuple[ScoreFn, float]]) -> ScoreFn:
    """One closure computing ``sum(weight * score(offer))`` over ``scorers``, added left to right from 0.0
    (so exactly the float a loop would compute), without the loop for the usual one to four scorers."""
    items = tuple(scorers)
    if not items:
        return lambda offer: 0.0
    if len(items) == 1:
        ((f0, w0),) = items
        return lambda offer: w0 * f0(offer)
    if len(items) == 2:
        (f0, w0), (f1, w1) = items
        return lambda offer: w0 * f0(offer) + w1 * f1(offer)
    if len(items) == 3:
        (f0, w0), (f1, w1), (f2, w2) = items
        return lambda offer: w0 * f0(offer) + w1 * f1(offer) + w2 * f2(offer)
    if len(items) == 4:
        (f0, w0), (f1, w1), (f2, w2), (f3, w3) = items
        return lambda offer: w0 * f0(offer) + w1 * f1(offer) + w2 * f2(offer) + w3 * f3(offer)

    def total(offer: OfferState) -> float:
        result = 0.0
        for score, weight in items:
            result += weight * score(offer)
        return result

    return total


@dataclass(frozen=True, slots=True)
class AppSpreadScorer:
    name: str = "app-spread"

    def compile(self, app: AppSpec, ctx: ScoreContext) -> ScoreFn:
        on_host = ctx.placed.counter(app.id, "hostname").counts

        def score(offer: OfferState) -> float:
            return 1.0 / (1 + on_host.get(offer.hostname, 0))

        return score


@dataclass(frozen=True, slots=True)
class GroupBalanceScorer:
    name: str = "group-balance"

    def compile(self, app: AppSpec, ctx: ScoreContext) -> ScoreFn | None:
        fields = [canonical_field(c.field) for c in app.constraints if c.operator is Operator.GROUP_BY]
        if not fields:
            return None
        counters = [(field, ctx.placed.counter(app.id, field).counts) for field in fields]
        share = 1.0 / len(counters)

        def score(offer: OfferState) -> float:
            total = 0.0
            values = offer.fields
            for field, counts in counters:
                total += 1.0 / (1 + counts.get(values.get(field), 0))
            return total * share

        return score


def _left_share(request: ResourceRequest, ctx: ScoreContext) -> ScoreFn:
    cpus, mem = request.cpus, request.mem
    cpu_scale = 0.5 / ctx.max_cpus
    mem_scale = 0.5 / ctx.max_mem

    def share(offer: OfferState) -> float:
        return (offer.free_cpus - cpus) * cpu_scale + (offer.free_mem - mem) * mem_scale

    return share


@dataclass(frozen=True, slots=True)
class LeastAllocatedScorer:
    name: str = "least-allocated"

    def compile(self, app: AppSpec, ctx: ScoreContext) -> ScoreFn:
        return _left_share(ctx.request, ctx)


@dataclass(frozen=True, slots=True)
class MostAllocatedScorer:
    name: str = "most-allocated"

    def compile(self, app: AppSpec, ctx: ScoreContext) -> ScoreFn:
        share = _left_share(ctx.request, ctx)

        def score(offer: OfferState) -> float:
            return 1.0 - share(offer)

        return score


@dataclass(frozen=True, slots=True)
class PreferredAffinityScorer:
    name: str = "preferred-affinity"

    def compile(self, app: AppSpec, ctx: ScoreContext) -> ScoreFn | None:
        rules = preferred_rules(app)
        if not rules:
            return None
        preferences = Preferences(rules, ctx.placed)

        def score(offer: OfferState) -> float:
            return preferences.score(offer.fields)

        return score
