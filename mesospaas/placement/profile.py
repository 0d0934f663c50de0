"""Placement profiles: which filters run in which order, which scorers count and how much.

Owns: ``Profile`` and ``default_profile``. Scorers are chosen per placement strategy (an app's ``SPREAD`` or
``BINPACK``); weights are per scorer name and shared by all strategies.

Default weights: ``app-spread`` 10 >> ``least-allocated`` 1, so spread means "fewest instances of the app
per host, then least loaded"; ``most-allocated`` 1 for binpack; ``group-balance`` 10 (both strategies), so a
GROUP_BY app fills a new group before growing an existing one; ``preferred-affinity`` 3, so a soft
(anti-)affinity outweighs load but not a second instance on a host.

``candidates_per_decision`` (K) bounds the search, Fenzo-style: the search stops after K feasible offers
and the best of those wins. Candidates come in a useful order (see ``candidates``), so K = 8 loses little.
``max_partitions`` caps how many distinct values an attribute may have for the search to group offers by
it (a partition check per value per decision must stay cheap).

Invariants (``InvalidProfile`` on construction): every scorer has a weight > 0, every weight belongs to a
scorer, scorer and filter names are unique, K >= 1, ``max_partitions`` >= 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from mesospaas.errors import InvalidProfile
from mesospaas.model.app import PlacementStrategy
from mesospaas.placement.filters import (
    AgentMaintenanceFilter,
    AppAffinityFilter,
    ConstraintsFilter,
    Filter,
    PortsFilter,
    ResourcesFilter,
)
from mesospaas.placement.scorers import (
    AppSpreadScorer,
    GroupBalanceScorer,
    LeastAllocatedScorer,
    MostAllocatedScorer,
    PreferredAffinityScorer,
    Scorer,
)


@dataclass(frozen=True, slots=True)
class Profile:
    filters: tuple[Filter, ...]
    scorers: Mapping[PlacementStrategy, tuple[Scorer, ...]]
    weights: Mapping[str, float]
    candidates_per_decision: int = 8
    max_partitions: int = 64
    explain_unplaced: bool = True
    """Re-check every offer for apps left unplaced, so their diagnostics cover the whole round. Costs about
    one filter chain per offer per waiting app; a shell under pressure may turn it off."""
    _weight_list: Mapping[PlacementStrategy, tuple[float, ...]] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "scorers", MappingProxyType(dict(self.scorers)))
        object.__setattr__(self, "weights", MappingProxyType(dict(self.weights)))
        filter_names = [f.name for f in self.filters]
        if len(set(filter_names)) != len(filter_names):
            raise InvalidProfile(f"filter names must be unique: {filter_names}")
        used: set[str] = set()
        for strategy, scorers in self.scorers.items():
            names = [s.name for s in scorers]
            if len(set(names)) != len(names):
                raise InvalidProfile(f"{strategy.value}: scorer names must be unique: {names}")
            for name in names:
                weight = self.weights.get(name)
                if weight is None or weight <= 0:
                    raise InvalidProfile(f"scorer {name!r} has no positive weight")
            used.update(names)
        unknown = set(self.weights) - used
        if unknown:
            raise InvalidProfile(f"weights for scorers the profile does not have: {sorted(unknown)}")
        missing = [s for s in PlacementStrategy if s not in self.scorers]
        if missing:
            raise InvalidProfile(f"no scorers for strategies {[s.value for s in missing]}")
        if self.candidates_per_decision < 1:
            raise InvalidProfile("candidates_per_decision must be >= 1")
        if self.max_partitions < 1:
            raise InvalidProfile("max_partitions must be >= 1")
        object.__setattr__(
            self,
            "_weight_list",
            MappingProxyType(
                {s: tuple(float(self.weights[x.name]) for x in xs) for s, xs in self.scorers.items()}
            ),
        )

    def weights_for(self, strategy: PlacementStrategy) -> tuple[float, ...]:
        """The weights of ``scorers[strategy]``, in the same order."""
        return self._weight_list[strategy]


def default_profile(candidates_per_decision: int = 8, restrict_gpus: bool = True) -> Profile:
    preferred = PreferredAffinityScorer()
    balance = GroupBalanceScorer()
    return Profile(
        filters=(
            AgentMaintenanceFilter(),
            ResourcesFilter(restrict_gpus=restrict_gpus),
            PortsFilter(),
            ConstraintsFilter(),
            AppAffinityFilter(),
        ),
        scorers={
            PlacementStrategy.SPREAD: (balance, AppSpreadScorer(), LeastAllocatedScorer(), preferred),
            PlacementStrategy.BINPACK: (balance, MostAllocatedScorer(), preferred),
        },
        weights={
            "group-balance": 10.0,
            "app-spread": 10.0,
            "least-allocated": 1.0,
            "most-allocated": 1.0,
            "preferred-affinity": 3.0,
        },
        candidates_per_decision=candidates_per_decision,
    )


DEFAULT_PROFILE = default_profile()
