"""Filters: does one app fit one offer? Each answers fit (``None``) or ``Reject(reason)``.

Owns: the ``Filter`` protocol, the combinators that chain compiled checks (first reject wins), and the
default filters, in the order the default profile runs them (cheapest and most selective first):

1. ``AgentMaintenanceFilter`` — the agent is inside an announced maintenance window (``AgentMaintenance``).
2. ``ResourcesFilter`` — roles (``UnfulfilledRole``), then cpus, mem, disk, gpus (``Insufficient*``), then
   Marathon's GPU rule: apps without GPUs do not take offers with GPUs (``DeclinedScarceResources``).
3. ``PortsFilter`` — enough dynamic ports and every required port (``InsufficientPorts``).
4. ``ConstraintsFilter`` — Marathon constraints (``UnfulfilledConstraint``), see ``constraint_rules``.
5. ``AppAffinityFilter`` — REQUIRED affinity/anti-affinity between apps (``AffinityUnmet``).

A filter is *compiled* once per app per round into closures (``CompiledFilter``), so the per-offer work is a
few attribute reads and comparisons. A filter returns no closure when it has nothing to check for the app
(no constraints, no ports, no maintenance windows this round). Rules on the round's *partition field* (see
``candidates``) are compiled into ``part_check``, which answers for a whole group of offers sharing one
value; everything else into ``offer_check``. Both together decide exactly what the rules say.

Fails: never raises; a filter never mutates anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from mesospaas.model.app import AppSpec
from mesospaas.placement.affinity_rules import compile_required, required_rules
from mesospaas.placement.constraint_rules import Rule, compile_rule
from mesospaas.placement.offer_state import OfferState, ResourceRequest
from mesospaas.placement.placed_index import PlacedIndex
from mesospaas.placement.reasons import NoMatchReason, Reject

OfferCheck = Callable[[OfferState], Reject | None]
PartCheck = Callable[[str | None], Reject | None]


@dataclass(frozen=True, slots=True)
class CompiledFilter:
    name: str
    offer_check: OfferCheck | None = None
    part_check: PartCheck | None = None


@dataclass(frozen=True, slots=True)
class FilterContext:
    """What a filter may read while compiling for one app in one round."""

    placed: PlacedIndex
    request: ResourceRequest
    partition_field: str | None
    now: float
    any_unavailability: bool


class Filter(Protocol):
    @property
    def name(self) -> str: ...

    def compile(self, app: AppSpec, ctx: FilterContext) -> CompiledFilter: ...


_ROLE = Reject(NoMatchReason.UNFULFILLED_ROLE)
_CPUS = Reject(NoMatchReason.INSUFFICIENT_CPUS)
_MEM = Reject(NoMatchReason.INSUFFICIENT_MEMORY)
_DISK = Reject(NoMatchReason.INSUFFICIENT_DISK)
_GPUS = Reject(NoMatchReason.INSUFFICIENT_GPUS)
_SCARCE = Reject(NoMatchReason.DECLINED_SCARCE_RESOURCES)
_PORTS = Reject(NoMatchReason.INSUFFICIENT_PORTS)
_MAINTENANCE = Reject(NoMatchReason.AGENT_MAINTENANCE)


@dataclass(frozen=True, slots=True)
class AgentMaintenanceFilter:
    name: str = "agent-maintenance"

    def compile(self, app: AppSpec, ctx: FilterContext) -> CompiledFilter:
        if not ctx.any_unavailability:
            return CompiledFilter(self.name)
        now = ctx.now

        def check(offer: OfferState) -> Reject | None:
            window = offer.unavailability
            return _MAINTENANCE if window is not None and window.covers(now) else None

        return CompiledFilter(self.name, offer_check=check)


@dataclass(frozen=True, slots=True)
class ResourcesFilter:
    name: str = "resources"
    restrict_gpus: bool = True
    """Marathon's ``gpu_scheduling_behavior=restricted``: keep GPU agents for apps that need GPUs."""

    def compile(self, app: AppSpec, ctx: FilterContext) -> CompiledFilter:
        request = ctx.request
        role = request.role
        accepted = request.accepted_roles
        cpus, mem, disk, gpus = request.cpus, request.mem, request.disk, request.gpus
        guard_gpus = self.restrict_gpus and gpus == 0

        def check(offer: OfferState) -> Reject | None:
            allocation = offer.allocation_role
            if allocation is not None and allocation != role:
                return _ROLE
            pool = offer.single
            if pool is not None:
                if pool.role not in accepted:
                    return _ROLE
                if pool.cpus < cpus:
                    return _CPUS
                if pool.mem < mem:
                    return _MEM
                if pool.disk < disk:
                    return _DISK
                if pool.gpus < gpus:
                    return _GPUS
            else:
                usable = [p for p in offer.pools if p.role in accepted]
                if not usable:
                    return _ROLE
                if sum(p.cpus for p in usable) < cpus:
                    return _CPUS
                if sum(p.mem for p in usable) < mem:
                    return _MEM
                if sum(p.disk for p in usable) < disk:
                    return _DISK
                if sum(p.gpus for p in usable) < gpus:
                    return _GPUS
            if guard_gpus and offer.gpus_total > 0:
                return _SCARCE
            return None

        return CompiledFilter(self.name, offer_check=check)


@dataclass(frozen=True, slots=True)
class PortsFilter:
    name: str = "ports"

    def compile(self, app: AppSpec, ctx: FilterContext) -> CompiledFilter:
        request = ctx.request
        if not request.ports:
            return CompiledFilter(self.name)
        accepted = request.accepted_roles
        fixed = request.fixed_ports
        needed = len(request.ports)

        def check(offer: OfferState) -> Reject | None:
            pool = offer.single
            if pool is not None and not fixed:
                return None if pool.port_count >= needed else _PORTS
            usable = [p for p in offer.pools if p.role in accepted]
            if sum(p.port_count for p in usable) < needed:
                return _PORTS
            for port in fixed:
                if not any(p.has_port(port) for p in usable):
                    return _PORTS
            return None

        return CompiledFilter(self.name, offer_check=check)


def rules_offer_check(rules: Sequence[Rule]) -> OfferCheck | None:
    """One closure asking every rule about the offer's value of the rule's field, first reject wins."""
    if not rules:
        return None
    if len(rules) == 1:
        field = rules[0].field
        one = rules[0].check

        def check_one(offer: OfferState) -> Reject | None:
            return one(offer.fields.get(field))

        return check_one
    pairs = [(r.field, r.check) for r in rules]

    def check_all(offer: OfferState) -> Reject | None:
        fields = offer.fields
        for field, rule_check in pairs:
            verdict = rule_check(fields.get(field))
            if verdict is not None:
                return verdict
        return None

    return check_all


def rules_part_check(rules: Sequence[Rule]) -> PartCheck | None:
    """One closure asking every rule about a partition value, first reject wins."""
    return chain_part_checks([r.check for r in rules])


def chain_part_checks(checks: Sequence[PartCheck]) -> PartCheck | None:
    """One check running ``checks`` in order on a partition value; the first reject wins."""
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    items = tuple(checks)

    def every(value: str | None) -> Reject | None:
        for check in items:
            verdict = check(value)
            if verdict is not None:
                return verdict
        return None

    return every


def chain_offer_checks(checks: Sequence[OfferCheck]) -> OfferCheck:
    """One check running ``checks`` in order on an offer; the first reject wins (fits when empty)."""
    if not checks:
        return lambda offer: None
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks

        def both(offer: OfferState) -> Reject | None:
            verdict = first(offer)
            return verdict if verdict is not None else second(offer)

        return both
    items = tuple(checks)

    def every(offer: OfferState) -> Reject | None:
        for check in items:
            verdict = check(offer)
            if verdict is not None:
                return verdict
        return None

    return every


def _split(rules: Sequence[Rule], partition_field: str | None) -> tuple[list[Rule], list[Rule]]:
    on_part = [r for r in rules if partition_field is not None and r.field == partition_field]
    on_offer = [r for r in rules if not (partition_field is not None and r.field == partition_field)]
    return on_part, on_offer


@dataclass(frozen=True, slots=True)
class ConstraintsFilter:
    name: str = "constraints"

    def compile(self, app: AppSpec, ctx: FilterContext) -> CompiledFilter:
        rules = [compile_rule(c, app, ctx.placed) for c in app.constraints]
        on_part, on_offer = _split(rules, ctx.partition_field)
        return CompiledFilter(self.name, rules_offer_check(on_offer), rules_part_check(on_part))


@dataclass(frozen=True, slots=True)
class AppAffinityFilter:
    name: str = "app-affinity"

    def compile(self, app: AppSpec, ctx: FilterContext) -> CompiledFilter:
        rules = [compile_required(r, app, ctx.placed) for r in required_rules(app)]
        on_part, on_offer = _split(rules, ctx.partition_field)
        return CompiledFilter(self.name, rules_offer_check(on_offer), rules_part_check(on_part))
