"""The bounded candidate search for one app in one round: indexes instead of scans.

Owns: ``AppPool`` (per app version, per round), ``Part``, ``choose_partition_field`` and ``host_level_cap``.
The filters define *what* fits; this module decides *which offers to ask about*, in an order where the
first few feasible ones are nearly the best, and stops after K of them (Fenzo's "good enough").

Indexes (all round-local, built lazily, updated in O(1) per launch):

- **Partitions**: when the app has a rule on an agent attribute with few distinct values (rack, zone),
  offers are grouped by that value. Rules on that field are asked once per group (``part_check``), so
  "GROUP_BY rack" costs one check per rack, not one per offer, and a rack that is permanently out
  (MAX_PER reached, LIKE fails) is dropped with all its offers at once. Groups are visited in order of the
  app's instance count in them (fewest first for spread, most first for binpack).
- **Host levels** (spread): offers are bucketed by how many instances of this app their host already has.
  Level 0 is a cursor over the round's shared, size-ordered offer list; levels >= 1 are insertion-ordered
  dicts. A launch moves the host's offers up one level. UNIQUE / MAX_PER on hostname cap the levels
  searched. The search stops at the lowest level that has a feasible offer, so "fewest instances per host"
  is exact (lexicographic, not sampled or weighed), and spread has no skew beyond 1 while capacity lasts.
- **Size order**: within a level (or for binpack, the whole partition), offers are ordered by their size
  at the start of the round (largest first for spread, smallest first for binpack), ties in the round's
  seeded random order.
- **Pruning**: an offer rejected *permanently* (see ``reasons``) leaves this app's candidates for the rest
  of the round; the level-0 cursor advances past pruned and promoted offers, so each offer is passed over
  at most once per app per round (amortised O(1) per decision).
- **Hosts of another app**: with a REQUIRED AFFINITY on hostname, candidates are the offers on the hosts
  the other app runs on (from its placement counts), rotated per decision.

Invariant: everything the search skips would have been rejected by the filters at that moment, or is
ranked after K feasible candidates; the explain pass (``place``) evaluates skipped offers when an app ends
the round unplaced. Fails: never raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import islice

from mesospaas.model.affinity import AffinityMode, AffinityType
from mesospaas.model.agent import HOSTNAME, canonical_field
from mesospaas.model.app import AppSpec
from mesospaas.model.constraints import Operator
from mesospaas.placement.diagnostics import AppTally
from mesospaas.placement.filters import CompiledFilter, PartCheck, chain_offer_checks, chain_part_checks
from mesospaas.placement.offer_state import OfferState
from mesospaas.placement.placed_index import GroupCounter
from mesospaas.placement.reasons import Reject
from mesospaas.placement.scorers import weighted_total

PRUNED = -1
_COMPACT_AFTER = 64

_PARTITION_PRIORITY: Mapping[Operator, int] = {
    Operator.GROUP_BY: 1,
    Operator.MAX_PER: 2,
    Operator.UNIQUE: 2,
    Operator.CLUSTER: 2,
    Operator.IS: 3,
    Operator.LIKE: 3,
    Operator.UNLIKE: 5,
}


def partition_candidates(app: AppSpec) -> list[str]:
    """Attribute fields worth grouping offers by for ``app``, most useful first (never ``hostname``)."""
    ranked: list[tuple[int, int, str]] = []
    for position, constraint in enumerate(app.constraints):
        field = canonical_field(constraint.field)
        if field != HOSTNAME:
            ranked.append((_PARTITION_PRIORITY[constraint.operator], position, field))
    for position, rule in enumerate(app.affinity):
        field = canonical_field(rule.field)
        if field == HOSTNAME or rule.mode is not AffinityMode.REQUIRED:
            continue
        priority = 0 if rule.type is AffinityType.AFFINITY else 4
        ranked.append((priority, 1000 + position, field))
    seen: list[str] = []
    for _, _, field in sorted(ranked):
        if field not in seen:
            seen.append(field)
    return seen


def choose_partition_field(app: AppSpec, distinct_values: Callable[[str], int], limit: int) -> str | None:
    """The first useful field whose number of distinct values among the round's offers is <= ``limit``."""
    for field in partition_candidates(app):
        if distinct_values(field) <= limit:
            return field
    return None


def host_level_cap(app: AppSpec) -> int | None:
    """The highest host level worth searching: UNIQUE hostname -> 0, MAX_PER hostname n -> n - 1."""
    cap: int | None = None
    for constraint in app.constraints:
        if canonical_field(constraint.field) != HOSTNAME:
            continue
        limit: int | None = None
        if constraint.operator is Operator.UNIQUE:
            limit = 0
        elif constraint.operator is Operator.MAX_PER:
            limit = max((constraint.int_value or 0) - 1, -1)
        if limit is not None:
            cap = limit if cap is None else min(cap, limit)
    for rule in app.affinity:
        if (
            rule.app == app.id
            and rule.type is AffinityType.ANTI_AFFINITY
            and rule.mode is AffinityMode.REQUIRED
            and canonical_field(rule.field) == HOSTNAME
        ):
            cap = 0 if cap is None else min(cap, 0)
    return cap


class Part:
    """The offers of one partition value, as seen by one app."""

    __slots__ = ("value", "order", "cursor", "levels", "holes")

    def __init__(self, value: str | None, order: list[int]) -> None:
        self.value = value
        self.order = order
        """Shared, size-ordered offer indices of this value; never mutated."""
        self.cursor = 0
        self.levels: list[dict[int, None]] = [{}]
        """levels[n]: offers whose host has n instances of the app (n >= 1; index 0 is unused)."""
        self.holes: list[int] = [0]

    def level(self, n: int) -> dict[int, None]:
        while len(self.levels) <= n:
            self.levels.append({})
            self.holes.append(0)
        return self.levels[n]

    def discard(self, n: int, index: int) -> None:
        level = self.levels[n]
        del level[index]
        self.holes[n] += 1
        if self.holes[n] > _COMPACT_AFTER and self.holes[n] > len(level):
            self.levels[n] = dict(level)  # a fresh dict drops the holes iteration would walk over
            self.holes[n] = 0


class AppPool:
    """Candidate search state for one app version in one round."""

    __slots__ = (
        "app",
        "spread",
        "compiled",
        "check",
        "part_check",
        "partition_field",
        "parts",
        "_by_value",
        "_states",
        "_by_host",
        "_state",
        "_part_counts",
        "_level_cap",
        "_max_level",
        "_host_source",
        "_host_source_is_self",
        "_rotation",
        "tally",
        "scorers",
        "total",
    )

    def __init__(
        self,
        *,
        app: AppSpec,
        spread: bool,
        compiled: Sequence[CompiledFilter],
        partition_field: str | None,
        orders: Sequence[tuple[str | None, list[int]]],
        states: Sequence[OfferState],
        by_host: Mapping[str, list[int]],
        own_hosts: GroupCounter,
        part_counter: GroupCounter | None,
        level_cap: int | None,
        host_source: GroupCounter | None,
        host_source_is_self: bool,
        scorers: Sequence[tuple[Callable[[OfferState], float], float]],
        tally: AppTally,
    ) -> None:
        self.app = app
        self.spread = spread
        self.compiled = tuple(compiled)
        self.check = chain_offer_checks([c.offer_check for c in compiled if c.offer_check is not None])
        part_checks = [c.part_check for c in compiled if c.part_check is not None]
        self.part_check: PartCheck | None = chain_part_checks(part_checks)
        self.partition_field = partition_field
        self.parts = [Part(value, order) for value, order in orders]
        self._by_value = {part.value: part for part in self.parts}
        self._states = states
        self._by_host = by_host
        self._state: dict[int, int] = {}
        """offer index -> host level (>= 1, spread only) or PRUNED; absent = level 0 and alive"""
        self._part_counts = part_counter.counts if part_counter is not None else None
        self._level_cap = level_cap
        self._max_level = 0
        self._host_source = host_source
        self._host_source_is_self = host_source_is_self
        self._rotation = 0
        self.tally = tally
        self.scorers = tuple(scorers)
        self.total = weighted_total(self.scorers)
        """The weighted score of one offer for this app (higher is better)."""
        if spread:
            self._raise_existing(own_hosts)

    # -- index maintenance -------------------------------------------------------------------------------

    def _raise_existing(self, own_hosts: GroupCounter) -> None:
        """Put the offers of the hosts the app already runs on into their levels (``_raise_host`` for each
        host in counter order, done in one pass: nothing is raised or pruned yet)."""
        state = self._state
        by_host = self._by_host
        states = self._states
        field = self.partition_field
        single = self.parts[0] if self.parts else None
        by_value = self._by_value
        top = self._max_level
        for host, count in own_hosts.counts.items():
            if host is None or count <= 0:
                continue
            if count > top:
                top = count
            for index in by_host.get(host, ()):
                state[index] = count
                part = single if field is None else by_value.get(states[index].fields.get(field))
                if part is not None:
                    levels = part.levels
                    (levels[count] if count < len(levels) else part.level(count))[index] = None
        self._max_level = top

    def _part_of(self, index: int) -> Part | None:
        if self.partition_field is None:
            return self.parts[0] if self.parts else None
        return self._by_value.get(self._states[index].fields.get(self.partition_field))

    def _raise_host(self, host: str, to_level: int) -> None:
        state = self._state
        field = self.partition_field
        for index in self._by_host.get(host, ()):
            current = state.get(index, 0)
            if current == PRUNED:
                continue
            if field is None:
                part = self.parts[0] if self.parts else None
            else:
                part = self._by_value.get(self._states[index].fields.get(field))
            state[index] = to_level
            if part is None:
                continue
            if current >= 1:
                part.discard(current, index)
            part.level(to_level)[index] = None
        if to_level > self._max_level:
            self._max_level = to_level

    def on_own_launch(self, host: str, level: int) -> None:
        """This app got an instance on ``host``, which now holds ``level`` of them."""
        if self.spread:
            self._raise_host(host, level)

    def _prune(self, index: int) -> None:
        current = self._state.get(index, 0)
        self._state[index] = PRUNED
        if current >= 1:
            part = self._part_of(index)
            if part is not None and index in part.levels[current]:
                part.discard(current, index)

    # -- search ------------------------------------------------------------------------------------------

    def _eligible_parts(self) -> list[Part]:
        check = self.part_check
        if check is None:
            eligible = self.parts
        else:
            eligible = []
            dead = []
            for part in self.parts:
                verdict = check(part.value)
                if verdict is None:
                    eligible.append(part)
                elif verdict.permanent:
                    dead.append(part)
            if dead:
                self.parts = [p for p in self.parts if p not in dead]
                self._by_value = {p.value: p for p in self.parts}
        counts = self._part_counts
        if counts is not None and len(eligible) > 1:
            eligible = sorted(eligible, key=lambda p: counts.get(p.value, 0), reverse=not self.spread)
        return eligible

    def gather(self, k: int) -> list[int]:
        """Up to ``k`` offer indices that pass every filter right now, best-ordered first."""
        found: list[int] = []
        parts = self._eligible_parts()
        if not parts:
            return found
        source = self._host_source
        if source is not None and (source.counts or not self._host_source_is_self):
            self._gather_from_hosts(source, parts, found, k)
            return found
        if not self.spread:
            for part in parts:
                self._scan_order(part, found, k)
                if len(found) >= k:
                    break
            return found
        # Spread is lexicographic: the lowest host level with any feasible offer wins outright, and only
        # offers of that level are scored against each other (load, preferences).
        top = self._max_level if self._level_cap is None else min(self._level_cap, self._max_level)
        if top < 0:
            return found
        for part in parts:
            self._scan_order(part, found, k)
            if len(found) >= k:
                return found
        for level in range(1, top + 1):
            if found:
                return found
            for part in parts:
                if level < len(part.levels) and part.levels[level]:
                    self._scan_level(part, level, found, k)
                    if len(found) >= k:
                        return found
        return found

    def _scan_order(self, part: Part, found: list[int], k: int) -> None:
        # Level-0 offers are exactly those absent from ``_state`` (raised ones and pruned ones are in it).
        order = part.order
        state = self._state
        end = len(order)
        i = part.cursor
        while i < end and order[i] in state:
            i += 1
        part.cursor = i
        check = self.check
        states = self._states
        last = self.tally.last
        wanted = k - len(found)
        for index in islice(order, i, None):
            if index in state:
                continue
            verdict = check(states[index])
            last[index] = verdict
            if verdict is None:
                found.append(index)
                wanted -= 1
                if wanted <= 0:
                    return
            elif verdict.permanent:
                state[index] = PRUNED

    def _scan_level(self, part: Part, level: int, found: list[int], k: int) -> None:
        check = self.check
        states = self._states
        last = self.tally.last
        dead: list[int] = []
        for index in part.levels[level]:
            verdict = check(states[index])
            last[index] = verdict
            if verdict is None:
                found.append(index)
                if len(found) >= k:
                    break
            elif verdict.permanent:
                dead.append(index)
        for index in dead:
            self._prune(index)

    def _gather_from_hosts(self, source: GroupCounter, parts: list[Part], found: list[int], k: int) -> None:
        hosts = [h for h in source.counts if h is not None]
        if not hosts:
            return
        allowed = {id(p) for p in parts}
        state = self._state
        check = self.check
        states = self._states
        last = self.tally.last
        start = self._rotation % len(hosts)
        self._rotation += 1
        for step in range(len(hosts)):
            host = hosts[(start + step) % len(hosts)]
            for index in self._by_host.get(host, ()):
                if state.get(index, 0) == PRUNED:
                    continue
                part = self._part_of(index)
                if part is None or id(part) not in allowed:
                    continue
                verdict = check(states[index])
                last[index] = verdict
                if verdict is None:
                    found.append(index)
                    if len(found) >= k:
                        return
                elif verdict.permanent:
                    self._prune(index)

    # -- explanation -------------------------------------------------------------------------------------

    def explain(self, index: int) -> Reject | None:
        """The verdict of the full filter chain, in profile order, for one offer (used for diagnostics)."""
        offer = self._states[index]
        value = offer.fields.get(self.partition_field) if self.partition_field is not None else None
        for compiled in self.compiled:
            if compiled.part_check is not None:
                verdict = compiled.part_check(value)
                if verdict is not None:
                    return verdict
            if compiled.offer_check is not None:
                verdict = compiled.offer_check(offer)
                if verdict is not None:
                    return verdict
        return None
