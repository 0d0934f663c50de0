"""``place()``: match launchable instances to offers in one offer round.

Owns: ``place``, ``PlacementRound`` (the same, one decision at a time, for the benchmark and for shells that
interleave), ``Launch`` and ``PlacementResult``.

    place(snapshot, pending, offers, profile, rng) -> PlacementResult(launches, declines, unplaced, diagnostics)

A round:

1. Wraps each offer in an ``OfferState`` (its shrinking remainder), in an order shuffled by ``rng`` so that
   equal offers are tried in a random but replayable order.
2. Takes pending instances in the given order (the shell passes the launch queue, oldest first). For each,
   the app's ``AppPool`` (built on first use, see ``candidates``) yields up to K feasible offers; the
   profile's weighted scorers pick one, ties broken by ``rng``; ``take`` removes the resources and picks
   host ports; the launch is recorded in the round's placement counts (existing + proposed), so later
   decisions in the same round see it (UNIQUE, GROUP_BY, MAX_PER, affinity all count it).
3. Declines every offer that received no launch, and explains, for apps left with unplaced instances, every
   offer not already rejected for them (``diagnostics``).

Purity: the inputs are never mutated (only ``rng`` advances); the round's indexes are private mutable
scratch space, discarded with the round. The same snapshot, pending list, offers, profile and seed give the
same result, so the shell logs the seed of each round to make it replayable.

Fails: ``UnknownApp`` when an instance's app (version) is not in the snapshot; ``InvalidPlacementInput`` when
an instance is not launchable (goal not RUNNING, or it has a live task). Unplaceable instances are not
errors: they are listed in ``unplaced`` with reasons in ``diagnostics``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from mesospaas.errors import InvalidPlacementInput
from mesospaas.model.affinity import AffinityMode, AffinityType
from mesospaas.model.agent import HOSTNAME, AgentInfo, canonical_field
from mesospaas.model.app import PlacementStrategy
from mesospaas.model.ids import AppId, AppVersion, InstanceId, OfferId, TaskId, task_id
from mesospaas.model.instance import Instance
from mesospaas.model.offer import Offer
from mesospaas.model.resources import Resource
from mesospaas.model.snapshot import Snapshot
from mesospaas.placement.candidates import AppPool, choose_partition_field, host_level_cap
from mesospaas.placement.diagnostics import AppDiagnostics, AppTally
from mesospaas.placement.filters import FilterContext
from mesospaas.placement.offer_state import OfferState, ResourceRequest, request_for, take
from mesospaas.placement.placed_index import GroupCounter, PlacedIndex
from mesospaas.placement.profile import Profile
from mesospaas.placement.scorers import ScoreContext

_TIE = 1e-9


@dataclass(frozen=True, slots=True)
class Launch:
    """Launch the next task of ``instance_id`` on ``offer_id`` with exactly these resources and host ports."""

    instance_id: InstanceId
    app_id: AppId
    app_version: AppVersion
    task_id: TaskId
    incarnation: int
    offer_id: OfferId
    agent: AgentInfo
    resources: tuple[Resource, ...]
    host_ports: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PlacementResult:
    launches: tuple[Launch, ...]
    declines: tuple[OfferId, ...]
    """Offers that received no launch, in input order."""
    unplaced: tuple[InstanceId, ...]
    diagnostics: Mapping[AppId, AppDiagnostics]

    def launches_by_offer(self) -> dict[OfferId, list[Launch]]:
        """Launches grouped per offer, in launch order (one ACCEPT per offer)."""
        grouped: dict[OfferId, list[Launch]] = {}
        for launch in self.launches:
            grouped.setdefault(launch.offer_id, []).append(launch)
        return grouped


class _Pool:
    """An ``AppPool`` plus what committing a launch for it needs."""

    __slots__ = ("search", "request", "own_hosts", "empty_at")

    def __init__(self, search: AppPool, request: ResourceRequest, own_hosts: GroupCounter) -> None:
        self.search = search
        self.request = request
        self.own_hosts = own_hosts
        self.empty_at = -1
        """Number of round launches when the last search came back empty (-1: never)."""


class PlacementRound:
    """One offer round: call ``place_one`` per pending instance, then ``result``."""

    def __init__(self, snapshot: Snapshot, offers: Sequence[Offer], profile: Profile, rng: random.Random) -> None:
        self._snapshot = snapshot
        self._offers = tuple(offers)
        self._profile = profile
        self._rng = rng
        self._k = profile.candidates_per_decision
        shuffled = list(self._offers)
        rng.shuffle(shuffled)
        self._states = [OfferState(i, offer) for i, offer in enumerate(shuffled)]
        self._max_cpus = max((s.free_cpus for s in self._states), default=1) or 1
        self._max_mem = max((s.free_mem for s in self._states), default=1) or 1
        for state in self._states:
            state.size = state.free_cpus / self._max_cpus + state.free_mem / self._max_mem
        self._by_host: dict[str, list[int]] = {}
        for state in self._states:
            self._by_host.setdefault(state.hostname, []).append(state.index)
        self._any_unavailability = any(s.unavailability is not None for s in self._states)
        self._placed = PlacedIndex(snapshot)
        self._groups: dict[str | None, dict[str | None, list[int]]] = {}
        self._orders: dict[tuple[str | None, bool], list[tuple[str | None, list[int]]]] = {}
        self._sized: dict[bool, list[int]] = {}
        self._pools: dict[tuple[AppId, AppVersion], _Pool] = {}
        self._pools_by_app: dict[AppId, list[_Pool]] = {}
        self._tallies: dict[AppId, AppTally] = {}
        self._launches: list[Launch] = []
        self._unplaced: list[InstanceId] = []
        self._unplaced_pools: list[_Pool] = []

    # -- shared offer orders -----------------------------------------------------------------------------

    def _group(self, field: str | None) -> dict[str | None, list[int]]:
        groups = self._groups.get(field)
        if groups is None:
            groups = {}
            if field is None:
                groups[None] = [s.index for s in self._states]
            else:
                for state in self._states:
                    groups.setdefault(state.fields.get(field), []).append(state.index)
            self._groups[field] = groups
        return groups

    def _by_size(self, largest_first: bool) -> list[int]:
        """Every offer index ordered by size (ties in the round's shuffled order), computed once per round."""
        order = self._sized.get(largest_first)
        if order is None:
            sizes = [s.size for s in self._states]
            order = self._sized[largest_first] = sorted(range(len(sizes)), key=sizes.__getitem__, reverse=largest_first)
        return order

    def _order(self, field: str | None, largest_first: bool) -> list[tuple[str | None, list[int]]]:
        """The offers of each value of ``field``, size-ordered. Filtering the round's one size order by value
        gives exactly what sorting each group would (the sort is stable, even reversed), without re-sorting."""
        key = (field, largest_first)
        order = self._orders.get(key)
        if order is None:
            ordered = self._by_size(largest_first)
            if field is None:
                order = [(None, ordered)]
            else:
                buckets: dict[str | None, list[int]] = {value: [] for value in self._group(field)}
                states = self._states
                for index in ordered:
                    buckets[states[index].fields.get(field)].append(index)
                order = list(buckets.items())
            self._orders[key] = order
        return order

    # -- pools -------------------------------------------------------------------------------------------

    def _pool(self, app_id: AppId, version: AppVersion) -> _Pool:
        key = (app_id, version)
        pool = self._pools.get(key)
        if pool is not None:
            return pool
        app = self._snapshot.spec_for(app_id, version)
        request = request_for(app)
        spread = app.placement_strategy is PlacementStrategy.SPREAD
        placed = self._placed
        partition_field = choose_partition_field(
            app, lambda field: len(self._group(field)), self._profile.max_partitions
        )
        filter_context = FilterContext(
            placed=placed,
            request=request,
            partition_field=partition_field,
            now=self._snapshot.now,
            any_unavailability=self._any_unavailability,
        )
        compiled = [f.compile(app, filter_context) for f in self._profile.filters]
        score_context = ScoreContext(placed, request, self._max_cpus, self._max_mem)
        strategy = app.placement_strategy
        scorers = []
        for scorer, weight in zip(self._profile.scorers[strategy], self._profile.weights_for(strategy)):
            score = scorer.compile(app, score_context)
            if score is not None:
                scorers.append((score, weight))
        host_source = None
        self_affinity = False
        for rule in app.affinity:
            if (
                rule.mode is AffinityMode.REQUIRED
                and rule.type is AffinityType.AFFINITY
                and canonical_field(rule.field) == HOSTNAME
            ):
                host_source = placed.counter(rule.app, HOSTNAME)
                self_affinity = rule.app == app.id
                break
        own_hosts = placed.counter(app_id, HOSTNAME)
        tally = self._tallies.get(app_id)
        if tally is None:
            tally = self._tallies[app_id] = AppTally(app_id)
        search = AppPool(
            app=app,
            spread=spread,
            compiled=compiled,
            partition_field=partition_field,
            orders=self._order(partition_field, spread),
            states=self._states,
            by_host=self._by_host,
            own_hosts=own_hosts,
            part_counter=placed.counter(app_id, partition_field) if partition_field is not None else None,
            level_cap=host_level_cap(app),
            host_source=host_source,
            host_source_is_self=self_affinity,
            scorers=scorers,
            tally=tally,
        )
        pool = _Pool(search, request, own_hosts)
        self._pools[key] = pool
        self._pools_by_app.setdefault(app_id, []).append(pool)
        return pool

    # -- decisions ---------------------------------------------------------------------------------------

    def place_one(self, instance: Instance) -> Launch | None:
        """Place one instance (or fail to). Returns its launch, or ``None`` when nothing fits now."""
        if not instance.is_launchable:
            raise InvalidPlacementInput(
                f"{instance.id} is not launchable (goal {instance.goal.value}, {instance.condition.value})"
            )
        pool = self._pools.get((instance.app_id, instance.app_version))
        if pool is None:
            pool = self._pool(instance.app_id, instance.app_version)
        search = pool.search
        found: list[int] = []
        if pool.empty_at != len(self._launches):
            found = search.gather(self._k)
        if not found:
            pool.empty_at = len(self._launches)
            search.tally.unplaced += 1
            self._unplaced.append(instance.id)
            if pool not in self._unplaced_pools:
                self._unplaced_pools.append(pool)
            return None
        index = found[0] if len(found) == 1 else self._best(search, found)
        return self._commit(instance, pool, index)

    def _best(self, search: AppPool, found: list[int]) -> int:
        states = self._states
        total_of = search.total
        best = float("-inf")
        ties: list[int] = []
        for index in found:
            total = total_of(states[index])
            if total > best + _TIE:
                best = total
                ties = [index]
            elif total >= best - _TIE:
                ties.append(index)
        return ties[0] if len(ties) == 1 else ties[self._rng.randrange(len(ties))]

    def _commit(self, instance: Instance, pool: _Pool, index: int) -> Launch:
        state = self._states[index]
        resources, host_ports = take(state, pool.request, self._rng)
        incarnation = instance.incarnation + 1
        agent = state.offer.agent
        launch = Launch(
            instance_id=instance.id,
            app_id=instance.app_id,
            app_version=instance.app_version,
            task_id=task_id(instance.id, incarnation),
            incarnation=incarnation,
            offer_id=state.offer.id,
            agent=agent,
            resources=resources,
            host_ports=host_ports,
        )
        self._launches.append(launch)
        self._placed.record(instance.app_id, agent)
        level = pool.own_hosts.counts.get(state.hostname, 0)
        for sibling in self._pools_by_app[instance.app_id]:
            sibling.search.on_own_launch(state.hostname, level)
        tally = pool.search.tally
        tally.used.add(index)
        tally.launched += 1
        return launch

    # -- result ------------------------------------------------------------------------------------------

    def result(self) -> PlacementResult:
        explain = self._unplaced_pools if self._profile.explain_unplaced else []
        for pool in explain:
            tally = pool.search.tally
            for index in range(len(self._states)):
                if tally.last.get(index) is None:
                    tally.last[index] = pool.search.explain(index)
        used = {s.offer.id for s in self._states if s.launches}
        return PlacementResult(
            launches=tuple(self._launches),
            declines=tuple(o.id for o in self._offers if o.id not in used),
            unplaced=tuple(self._unplaced),
            diagnostics=MappingProxyType({app: tally.summary() for app, tally in self._tallies.items()}),
        )


def place(
    snapshot: Snapshot,
    pending: Sequence[Instance],
    offers: Sequence[Offer],
    profile: Profile,
    rng: random.Random,
) -> PlacementResult:
    """Place ``pending`` instances on ``offers``; see the module docstring."""
    placement_round = PlacementRound(snapshot, offers, profile, rng)
    for instance in pending:
        placement_round.place_one(instance)
    return placement_round.result()
