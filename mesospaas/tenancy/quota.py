"""Quotas per tenant prefix: how much cpus, mem, disk and how many instances the apps under it may hold.

``quota_violations(quotas, before, after)`` is the admission decision for a change of the root group: a
quota is violated when the change *raises* a dimension's usage under its prefix above the limit (a change
that lowers usage is always admitted, so a tenant over a lowered quota can still scale down).
``over_capacity_headroom`` says how many extra instances a rolling deployment of one app may start on top
of the steady state without crossing its tenant's limits (the runtime's over-capacity is clamped to it).

Usage counts an app's ``instances`` times its per-instance resources, plus what ``extra`` holds (job runs).
A limit of None is unlimited. Nothing here raises except ``Quota.from_json`` (``ValueError``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from mesospaas.tenancy.grants import ROOT, normalise_id, prefix_matches

DIMENSIONS = ("cpus", "mem", "disk", "instances")


class Sized(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def instances(self) -> int: ...

    @property
    def cpus(self) -> float: ...

    @property
    def mem(self) -> float: ...

    @property
    def disk(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Demand:
    """Something that holds resources under an id besides an app: a job run (one instance of its run spec)."""

    id: str
    cpus: float
    mem: float
    disk: float
    instances: int = 1


@dataclass(frozen=True, slots=True)
class Usage:
    cpus: float = 0.0
    mem: float = 0.0
    disk: float = 0.0
    instances: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.cpus + other.cpus, self.mem + other.mem, self.disk + other.disk,
                     self.instances + other.instances)

    @classmethod
    def of_app(cls, app: Sized, instances: int | None = None) -> Usage:
        n = app.instances if instances is None else instances
        return cls(app.cpus * n, app.mem * n, app.disk * n, float(n))

    def get(self, dimension: str) -> float:
        value: float = getattr(self, dimension)
        return value


@dataclass(frozen=True, slots=True)
class Quota:
    cpus: float | None = None
    mem: float | None = None
    disk: float | None = None
    instances: int | None = None

    @classmethod
    def from_json(cls, raw: Any) -> Quota:
        if not isinstance(raw, Mapping):
            raise ValueError("expected an object of cpus, mem, disk, instances")
        unknown = set(raw) - set(DIMENSIONS)
        if unknown:
            raise ValueError(f"unknown quota keys {sorted(unknown)}")
        values: dict[str, Any] = {}
        for key in DIMENSIONS:
            value = raw.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{key} must be a non-negative number")
            values[key] = int(value) if key == "instances" else float(value)
        return cls(**values)

    def to_json(self) -> dict[str, float | int]:
        return {k: v for k in DIMENSIONS if (v := getattr(self, k)) is not None}

    def limit(self, dimension: str) -> float | None:
        value: float | None = getattr(self, dimension)
        return value


@dataclass(frozen=True, slots=True)
class QuotaExceeded:
    prefix: str
    dimension: str
    limit: float
    requested: float

    @property
    def message(self) -> str:
        return (f"quota of {self.prefix} exceeded: {self.dimension} would be {self.requested:g}, "
                f"the quota is {self.limit:g}")


def usage_under(prefix: str, apps: Iterable[Sized], extra: Mapping[str, Usage] | None = None) -> Usage:
    """The usage of the apps (and ``extra`` entries, by id) under the quota prefix ``prefix``."""
    subtree = prefix.rstrip("/") + "/**" if not prefix.endswith("/**") else prefix
    base = normalise_id(subtree[:-3])
    inside = base + "/"
    cpus = mem = disk = instances = 0.0
    for app in apps:
        app_id = app.id
        if base == ROOT or app_id == base or app_id.startswith(inside) or (
                not app_id.startswith("/") or app_id.endswith("/")) and prefix_matches(subtree, app_id):
            n = app.instances
            cpus, mem, disk, instances = cpus + app.cpus * n, mem + app.mem * n, disk + app.disk * n, instances + n
    total = Usage(cpus, mem, disk, instances)
    for key, used in (extra or {}).items():
        if prefix_matches(subtree, key):
            total = total + used
    return total


def quota_violations(quotas: Mapping[str, Quota], before: Iterable[Sized], after: Iterable[Sized],
                     extra: Mapping[str, Usage] | None = None) -> list[QuotaExceeded]:
    """The limits the change ``before`` -> ``after`` would cross (empty: admit it)."""
    if not quotas:
        return []
    old, new = list(before), list(after)
    found: list[QuotaExceeded] = []
    for prefix, quota in sorted(quotas.items()):
        found += crossed(prefix, quota, usage_under(prefix, old, extra), usage_under(prefix, new, extra))
    return found


def crossed(prefix: str, quota: Quota, was: Usage, will: Usage) -> list[QuotaExceeded]:
    """The limits of ``quota`` (on ``prefix``) that going from ``was`` to ``will`` crosses: a dimension over
    its limit that the change raises."""
    found: list[QuotaExceeded] = []
    for dimension in DIMENSIONS:
        limit = quota.limit(dimension)
        if limit is None:
            continue
        requested = will.get(dimension)
        if requested > limit + 1e-9 and requested > was.get(dimension) + 1e-9:
            found.append(QuotaExceeded(prefix, dimension, limit, requested))
    return found


def over_capacity_headroom(quotas: Mapping[str, Quota], apps: Iterable[Sized], app: Sized,
                           extra: Mapping[str, Usage] | None = None) -> int | None:
    """How many instances of ``app`` may run on top of the steady state of ``apps`` (None: no quota binds)."""
    everything = list(apps)
    bound: int | None = None
    for prefix, quota in quotas.items():
        subtree = prefix.rstrip("/") + "/**" if not prefix.endswith("/**") else prefix
        if not prefix_matches(subtree, app.id):
            continue
        used = usage_under(prefix, everything, extra)
        one = Usage.of_app(app, 1)
        for dimension in DIMENSIONS:
            limit, per_instance = quota.limit(dimension), one.get(dimension)
            if limit is None or per_instance <= 0:
                continue
            room = max(0, math.floor((limit - used.get(dimension)) / per_instance + 1e-9))
            bound = room if bound is None else min(bound, room)
    return bound
