"""What is left of each offer during one placement round, and taking resources from it.

Owns: ``OfferState`` (the round-local, shrinking remainder of one offer, split into one ``RolePool`` per
reservation role), ``ResourceRequest`` (what one instance of an app needs, computed once per app) and
``take`` (remove a request from an offer state, choosing host ports).

Scalars are kept as integer thousandths (Mesos keeps three decimal digits), so repeated subtraction never
drifts and "fits" is an exact integer comparison.

Role rules: a request may use pools whose role is in the app's accepted roles; reserved pools are consumed
before the unreserved ``*`` pool (reserved capacity is dedicated, unreserved is shared). With a MULTI_ROLE
offer the offer's allocation role must equal the app's role.

Ports: dynamic host ports are drawn at random (from the round's ``random.Random``) from the accepted pools'
ranges, as Marathon does to make port reuse unlikely; with ``require_ports`` every non-zero port definition
must be present in the ranges and is taken exactly. Host ports come back in port-definition order.

Invariant: a state never goes below zero. ``take`` is only called after the resource and port filters said
the request fits; if it does not, ``take`` raises ``ValueError`` (a bug in the caller).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from mesospaas.model.app import AppSpec
from mesospaas.model.offer import Offer, Unavailability
from mesospaas.model.resources import CPUS, DISK, GPUS, MEM, PORTS, UNRESERVED, Resource

MILLI = 1000
MAX_AMOUNT = 1e15
"""More of a resource than any agent has: amounts beyond it (or infinite, or NaN) are clamped to it, so an
absurd request is simply never placed (InsufficientCpus, ...) instead of overflowing."""


def to_milli(amount: float) -> int:
    if not amount < MAX_AMOUNT:
        return int(MAX_AMOUNT * MILLI)
    return int(round(amount * MILLI))


_EXPAND_AFTER = 8
"""Port spans a pool may fragment into before it switches to an explicit list of its free ports."""
_EXPAND_LIMIT = 8192
"""Pools with more free ports than this keep their spans (the list would cost more than the walks)."""


class RolePool:
    """The remaining resources of one reservation role within one offer.

    Free ports are spans (``ranges``) until taking ports has cut them into more than ``_EXPAND_AFTER``
    pieces; then (if there are at most ``_EXPAND_LIMIT`` of them) they become one explicit list ``free``,
    the spans' ports in span order, so picking the n-th free port is one ``list.pop`` instead of a walk.
    Both forms answer the same: the n-th free port counts ports span by span, in span order.
    """

    __slots__ = ("role", "cpus", "mem", "disk", "gpus", "ranges", "port_count", "free")

    def __init__(self, role: str) -> None:
        self.role = role
        self.cpus = 0
        self.mem = 0
        self.disk = 0
        self.gpus = 0
        self.ranges: list[list[int]] = []
        self.port_count = 0
        self.free: list[int] | None = None

    def add(self, resource: Resource) -> None:
        if resource.name == CPUS:
            self.cpus += to_milli(resource.scalar)
        elif resource.name == MEM:
            self.mem += to_milli(resource.scalar)
        elif resource.name == DISK:
            self.disk += to_milli(resource.scalar)
        elif resource.name == GPUS:
            self.gpus += to_milli(resource.scalar)
        elif resource.name == PORTS:
            for begin, end in resource.ranges:
                self.ranges.append([begin, end])
                self.port_count += end - begin + 1
            self.ranges.sort()

    def has_port(self, port: int) -> bool:
        if self.free is not None:
            return port in self.free
        for begin, end in self.ranges:
            if begin <= port <= end:
                return True
        return False

    def remove_port(self, port: int) -> None:
        free = self.free
        if free is not None:
            try:
                free.remove(port)  # the first occurrence: the first span holding it
            except ValueError:
                raise ValueError(f"port {port} is not free in this pool") from None
            self.port_count -= 1
            return
        for i, rng in enumerate(self.ranges):
            if rng[0] <= port <= rng[1]:
                _cut(self.ranges, i, port)
                self.port_count -= 1
                self._maybe_expand()
                return
        raise ValueError(f"port {port} is not in {self.ranges}")

    def pop_random_port(self, rng: random.Random) -> int:
        offset = rng.randrange(self.port_count)
        free = self.free
        if free is not None:
            self.port_count -= 1
            return free.pop(offset)
        for i, span in enumerate(self.ranges):
            size = span[1] - span[0] + 1
            if offset < size:
                port = span[0] + offset
                _cut(self.ranges, i, port)
                self.port_count -= 1
                self._maybe_expand()
                return port
            offset -= size
        raise ValueError("port count out of step with ranges")

    def _maybe_expand(self) -> None:
        if len(self.ranges) > _EXPAND_AFTER and self.port_count <= _EXPAND_LIMIT:
            self.free = [port for begin, end in self.ranges for port in range(begin, end + 1)]
            self.ranges = []


def _cut(ranges: list[list[int]], i: int, port: int) -> None:
    span = ranges[i]
    if span[0] == span[1]:
        del ranges[i]
    elif port == span[0]:
        span[0] += 1
    elif port == span[1]:
        span[1] -= 1
    else:
        ranges.insert(i + 1, [port + 1, span[1]])
        span[1] = port - 1


def all_one_role(resources: tuple[Resource, ...], role: str) -> bool:
    for resource in resources:
        if resource.role != role:
            return False
    return True


class OfferState:
    """One offer's remainder during a round. ``single`` is set when all its resources share one role."""

    __slots__ = (
        "index",
        "offer",
        "hostname",
        "fields",
        "pools",
        "single",
        "allocation_role",
        "unavailability",
        "gpus_total",
        "free_cpus",
        "free_mem",
        "size",
        "launches",
    )

    def __init__(self, index: int, offer: Offer) -> None:
        self.index = index
        self.offer = offer
        self.hostname = offer.agent.hostname
        self.fields = offer.agent.fields
        self.allocation_role = offer.allocation_role
        self.unavailability: Unavailability | None = offer.unavailability
        resources = offer.resources
        first_role = resources[0].role if resources else UNRESERVED
        if all_one_role(resources, first_role):
            pool = RolePool(first_role)
            add = pool.add
            for resource in resources:
                add(resource)
            self.pools: tuple[RolePool, ...] = (pool,)
            self.single: RolePool | None = pool
            self.gpus_total = pool.gpus
            self.free_cpus = pool.cpus
            self.free_mem = pool.mem
        else:
            by_role: dict[str, RolePool] = {}
            for resource in resources:
                found = by_role.get(resource.role)
                if found is None:
                    found = by_role[resource.role] = RolePool(resource.role)
                found.add(resource)
            self.pools = tuple(sorted(by_role.values(), key=lambda p: (p.role == UNRESERVED, p.role)))
            self.single = None
            self.gpus_total = sum(p.gpus for p in self.pools)
            self.free_cpus = sum(p.cpus for p in self.pools)
            self.free_mem = sum(p.mem for p in self.pools)
        self.size = 0.0
        """Relative size used to order candidates (set by the round once it knows the largest offer)."""
        self.launches = 0


@dataclass(frozen=True, slots=True)
class ResourceRequest:
    """What one instance of an app takes from an offer, in thousandths, plus its port needs."""

    role: str
    accepted_roles: frozenset[str]
    cpus: int
    mem: int
    disk: int
    gpus: int
    ports: tuple[int | None, ...]
    """One entry per port definition: the exact host port (require_ports) or None for a dynamic one."""
    _scalars: dict[str, tuple[Resource, ...]] = field(default_factory=dict, repr=False, compare=False)
    """Memo: the scalar resources one launch takes from a single pool of a role (immutable, so shared)."""
    fixed_ports: tuple[int, ...] = field(init=False, repr=False, compare=False)
    """The exact host ports of ``ports``, in order (empty when every port is dynamic)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "fixed_ports", tuple(p for p in self.ports if p is not None))

    def scalar_resources(self, role: str) -> tuple[Resource, ...]:
        memo = self._scalars.get(role)
        if memo is None:
            memo = tuple(
                Resource(name, scalar=amount / MILLI, role=role)
                for name, amount in ((CPUS, self.cpus), (MEM, self.mem), (DISK, self.disk), (GPUS, self.gpus))
                if amount > 0
            )
            self._scalars[role] = memo
        return memo

    @property
    def dynamic_ports(self) -> int:
        return sum(1 for p in self.ports if p is None)



def request_for(app: AppSpec) -> ResourceRequest:
    return ResourceRequest(
        role=app.role,
        accepted_roles=app.accepted_roles,
        cpus=to_milli(app.cpus),
        mem=to_milli(app.mem),
        disk=to_milli(app.disk),
        gpus=to_milli(app.gpus),
        ports=tuple(
            (d.port if app.require_ports and d.port != 0 else None) for d in app.port_definitions
        ),
    )


def take(
    state: OfferState, request: ResourceRequest, rng: random.Random
) -> tuple[tuple[Resource, ...], tuple[int, ...]]:
    """Remove ``request`` from ``state``. Returns the resources taken (with roles) and the host ports."""
    single = state.single
    if single is not None and single.role in request.accepted_roles and not request.fixed_ports:
        return _take_single(state, single, request, rng)
    pools = [p for p in state.pools if p.role in request.accepted_roles]
    taken: list[Resource] = []
    for name, amount in ((CPUS, request.cpus), (MEM, request.mem), (DISK, request.disk), (GPUS, request.gpus)):
        left = amount
        for pool in pools:
            if left <= 0:
                break
            have = getattr(pool, name)
            use = have if have < left else left
            if use > 0:
                setattr(pool, name, have - use)
                left -= use
                taken.append(Resource(name, scalar=use / MILLI, role=pool.role))
        if left > 0:
            raise ValueError(f"offer {state.offer.id} lacks {name} for the request")
    state.free_cpus -= request.cpus
    state.free_mem -= request.mem
    # Fixed ports first, so a random pick can never take a port a later definition requires.
    chosen_ports: list[int | None] = list(request.ports)
    port_roles: dict[str, list[int]] = {}
    for wanted in request.ports:
        if wanted is None:
            continue
        owner = next((p for p in pools if p.has_port(wanted)), None)
        if owner is None:
            raise ValueError(f"offer {state.offer.id} lacks port {wanted}")
        owner.remove_port(wanted)
        port_roles.setdefault(owner.role, []).append(wanted)
    for i, wanted in enumerate(request.ports):
        if wanted is not None:
            continue
        owner = next((p for p in pools if p.port_count > 0), None)
        if owner is None:
            raise ValueError(f"offer {state.offer.id} has no ports left")
        port = owner.pop_random_port(rng)
        chosen_ports[i] = port
        port_roles.setdefault(owner.role, []).append(port)
    host_ports = tuple(p for p in chosen_ports if p is not None)
    for role, chosen in port_roles.items():
        taken.append(Resource(PORTS, ranges=tuple((p, p) for p in sorted(chosen)), role=role))
    state.launches += 1
    return tuple(taken), host_ports


def _take_single(
    state: OfferState, pool: RolePool, request: ResourceRequest, rng: random.Random
) -> tuple[tuple[Resource, ...], tuple[int, ...]]:
    """The common case: one role pool, dynamic ports only. Scalar resources are shared per request and role."""
    if pool.cpus < request.cpus or pool.mem < request.mem or pool.disk < request.disk or pool.gpus < request.gpus:
        raise ValueError(f"offer {state.offer.id} lacks resources for the request")
    needed = len(request.ports)
    if pool.port_count < needed:
        raise ValueError(f"offer {state.offer.id} has no ports left")
    pool.cpus -= request.cpus
    pool.mem -= request.mem
    pool.disk -= request.disk
    pool.gpus -= request.gpus
    state.free_cpus -= request.cpus
    state.free_mem -= request.mem
    state.launches += 1
    scalars = request.scalar_resources(pool.role)
    if not needed:
        return scalars, ()
    if needed == 1:
        port = pool.pop_random_port(rng)
        return scalars + (Resource(PORTS, ranges=((port, port),), role=pool.role),), (port,)
    host_ports = tuple(pool.pop_random_port(rng) for _ in range(needed))
    ranges = tuple((p, p) for p in sorted(host_ports))
    return scalars + (Resource(PORTS, ranges=ranges, role=pool.role),), host_ports
