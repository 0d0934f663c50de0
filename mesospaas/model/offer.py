"""Offers: resources one agent offers the framework for one allocation role.

Owns: ``Offer`` and ``Unavailability``. The shell builds an ``Offer`` from a Mesos v1 offer JSON:

- ``id``             <- ``offer.id.value``
- ``agent``          <- ``AgentInfo(agent_id.value, hostname, attributes, region, zone)`` where attributes come
                        from ``offer.attributes`` (TEXT -> ``Text``, SCALAR -> ``Scalar``, RANGES -> ``Ranges``,
                        SET -> ``ItemSet``) and region/zone from ``offer.domain.fault_domain.{region,zone}.name``
- ``resources``      <- one ``Resource`` per ``offer.resources`` entry named cpus/mem/disk/gpus/ports; ``role``
                        is the pre-refinement ``role`` field, or the role of the last entry of ``reservations``,
                        or ``"*"`` when unreserved
- ``allocation_role``<- ``offer.allocation_info.role`` (MULTI_ROLE frameworks), else ``None``
- ``unavailability`` <- ``offer.unavailability`` converted from nanoseconds to seconds

Invariant: immutable; several resources of one name (e.g. reserved and unreserved cpus) may coexist.
"""

from __future__ import annotations

from dataclasses import dataclass

from mesospaas.model.agent import AgentInfo
from mesospaas.model.ids import AgentId, OfferId
from mesospaas.model.resources import Resource


@dataclass(frozen=True, slots=True)
class Unavailability:
    """A maintenance window announced for the agent: from ``start`` for ``duration`` seconds (None = forever)."""

    start: float
    duration: float | None = None

    def covers(self, now: float) -> bool:
        return self.start <= now and (self.duration is None or now < self.start + self.duration)


@dataclass(frozen=True, slots=True)
class Offer:
    id: OfferId
    agent: AgentInfo
    resources: tuple[Resource, ...]
    allocation_role: str | None = None
    unavailability: Unavailability | None = None

    @property
    def hostname(self) -> str:
        return self.agent.hostname

    @property
    def agent_id(self) -> AgentId:
        return self.agent.agent_id

    def scalar(self, name: str) -> float:
        """The total of a scalar resource over every role in the offer."""
        return sum(r.scalar for r in self.resources if r.name == name)
