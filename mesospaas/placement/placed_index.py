"""Counts of placed instances per (app, field value): existing plus proposed in this round.

Owns: ``GroupCounter`` (instances of one app grouped by one field's value, with the smallest group size kept
up to date in O(1)) and ``PlacedIndex`` (lazily built counters for every (app, field) a round asks about,
seeded from the snapshot's placed instances and updated by every launch the round makes — Nomad's
"existing + proposed" property sets, so a UNIQUE app never gets two instances on one host in one round).

"Placed" is ``Instance.is_placed`` (tested here as ``agent is not None and condition in PLACED``):
non-terminal, reachable, on a known agent. Instances whose agent lacks
the field fall into the ``None`` group, which counts as a group for GROUP_BY exactly as in Marathon.

Invariant: counts only grow during a round (nothing is un-placed mid-round); the search relies on this to
treat some rejects as permanent. Fails: never raises.
"""

from __future__ import annotations

from mesospaas.model.agent import AgentInfo, canonical_field
from mesospaas.model.condition import PLACED, Condition
from mesospaas.model.ids import AppId
from mesospaas.model.instance import Instance
from mesospaas.model.snapshot import Snapshot


class GroupCounter:
    """Instances of one app grouped by one field's value."""

    __slots__ = ("counts", "hist", "min_count", "total")

    def __init__(self) -> None:
        self.counts: dict[str | None, int] = {}
        self.hist: dict[int, int] = {}
        """group size -> number of groups of that size"""
        self.min_count = 0
        self.total = 0

    def add(self, value: str | None) -> None:
        counts = self.counts
        hist = self.hist
        old = counts.get(value, 0)
        new = old + 1
        counts[value] = new
        self.total += 1
        if old:
            left = hist[old] - 1
            if left:
                hist[old] = left
            else:
                del hist[old]
        hist[new] = hist.get(new, 0) + 1
        if old == 0:
            self.min_count = 1
        elif old == self.min_count and old not in hist:
            self.min_count = new

    @classmethod
    def of(cls, values: list[str | None]) -> GroupCounter:
        """A counter holding ``values`` (the same state as adding them one by one, built in bulk)."""
        counter = cls()
        counts = counter.counts
        get = counts.get
        for value in values:
            counts[value] = get(value, 0) + 1
        hist = counter.hist
        for count in counts.values():
            hist[count] = hist.get(count, 0) + 1
        counter.min_count = min(hist) if hist else 0
        counter.total = len(values)
        return counter

    @property
    def groups(self) -> int:
        return len(self.counts)

    def groups_above(self, size: int) -> int:
        """How many groups hold more than ``size`` instances."""
        return sum(n for count, n in self.hist.items() if count > size)


_PLACED_ORDER = tuple(sorted(PLACED, key=lambda c: (c is not Condition.RUNNING, c.value)))
"""``PLACED`` as a tuple, RUNNING first: ``in`` compares by identity, where a frozenset would hash the enum
member (which runs Python code) once per instance."""


def _first_key(instance: Instance) -> tuple[float, str]:
    staged = instance.staged_at if instance.staged_at is not None else instance.since
    return staged, instance.id


class PlacedIndex:
    """Lazily built ``GroupCounter``s for the apps and fields a round needs."""

    __slots__ = ("_snapshot", "_agents", "_counters", "_first")

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._agents: dict[AppId, list[AgentInfo]] = {}
        self._counters: dict[AppId, dict[str, GroupCounter]] = {}
        self._first: dict[AppId, AgentInfo | None] = {}

    def _placed_agents(self, app: AppId) -> list[AgentInfo]:
        agents = self._agents.get(app)
        if agents is None:
            instances = self._snapshot.instances_of(app)
            agents = [i.agent for i in instances if i.agent is not None and i.condition in _PLACED_ORDER]
            self._agents[app] = agents
        return agents

    def counter(self, app: AppId, field: str) -> GroupCounter:
        name = canonical_field(field)
        by_field = self._counters.setdefault(app, {})
        counter = by_field.get(name)
        if counter is None:
            counter = GroupCounter.of([agent.fields.get(name) for agent in self._placed_agents(app)])
            by_field[name] = counter
        return counter

    def first_agent(self, app: AppId) -> AgentInfo | None:
        """Where the app's first placed instance runs (CLUSTER without a value locks onto it)."""
        if app in self._first:
            return self._first[app]
        placed = [i for i in self._snapshot.instances_of(app) if i.is_placed and i.agent is not None]
        if placed:
            first = min(placed, key=_first_key).agent
        else:
            agents = self._agents.get(app)
            first = agents[0] if agents else None
        if first is not None:
            self._first[app] = first
        return first

    def record(self, app: AppId, agent: AgentInfo) -> None:
        """A launch of ``app`` on ``agent`` was proposed in this round."""
        self._placed_agents(app).append(agent)
        for name, counter in self._counters.get(app, {}).items():
            counter.add(agent.fields.get(name))
