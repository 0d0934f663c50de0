"""Builders that make core tests read like specifications.

    an_app("/web").instances(3).unique("hostname").build()
    an_offer().on("h1").attr("rack", "r1").cpus(4).build()
    an_instance(app).on(agent).running(since=10).build()

Every builder starts from small, valid defaults (an offer has 8 cpus, 32 GB, 100 GB disk and ports
31000-31099; an app 0.5 cpu, 128 MB, one dynamic port) so a test names only what it is about.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Sequence
from dataclasses import replace

from mesospaas.model import (
    AffinityMode,
    AffinityType,
    AgentId,
    AgentInfo,
    AppAffinity,
    AppId,
    AppSpec,
    AppVersion,
    Attribute,
    Condition,
    Constraint,
    Goal,
    Instance,
    InstanceId,
    ItemSet,
    KillSelection,
    Offer,
    OfferId,
    Operator,
    PlacementStrategy,
    PortDefinition,
    Ranges,
    Resource,
    Scalar,
    Snapshot,
    Text,
    Unavailability,
    UnreachableDisabled,
    UnreachableEnabled,
    app_id,
)
from mesospaas.model.app import Container, HealthCheckSpec, UpgradeStrategy
from mesospaas.model.attributes import AttributeValue
from mesospaas.model.resources import CPUS, DISK, GPUS, MEM, PORTS, UNRESERVED
from mesospaas.placement import PlacementResult, Profile, default_profile, place

_serial = itertools.count(1)


class AppBuilder:
    def __init__(self, path: str) -> None:
        self._fields: dict[str, object] = {
            "id": app_id(path),
            "cpus": 0.5,
            "mem": 128.0,
            "instances": 1,
        }
        self._constraints: list[Constraint] = []
        self._affinity: list[AppAffinity] = []

    def _set(self, **fields: object) -> AppBuilder:
        self._fields.update(fields)
        return self

    def instances(self, n: int) -> AppBuilder:
        return self._set(instances=n)

    def cpus(self, n: float) -> AppBuilder:
        return self._set(cpus=n)

    def mem(self, n: float) -> AppBuilder:
        return self._set(mem=n)

    def disk(self, n: float) -> AppBuilder:
        return self._set(disk=n)

    def gpus(self, n: int) -> AppBuilder:
        return self._set(gpus=n)

    def version(self, v: str) -> AppBuilder:
        return self._set(version=AppVersion(v))

    def no_ports(self) -> AppBuilder:
        return self._set(port_definitions=())

    def ports(self, *ports: int) -> AppBuilder:
        return self._set(port_definitions=tuple(PortDefinition(p) for p in ports))

    def named_ports(self, **ports: int) -> AppBuilder:
        return self._set(port_definitions=tuple(PortDefinition(p, name=n) for n, p in ports.items()))

    def require_ports(self) -> AppBuilder:
        return self._set(require_ports=True)

    def constraint(self, field: str, op: str, value: str | None = None) -> AppBuilder:
        self._constraints.append(Constraint(field, Operator(op), value))
        return self

    def unique(self, field: str) -> AppBuilder:
        return self.constraint(field, "UNIQUE")

    def cluster(self, field: str, value: str | None = None) -> AppBuilder:
        return self.constraint(field, "CLUSTER", value)

    def group_by(self, field: str, groups: int | None = None) -> AppBuilder:
        return self.constraint(field, "GROUP_BY", None if groups is None else str(groups))

    def like(self, field: str, regex: str) -> AppBuilder:
        return self.constraint(field, "LIKE", regex)

    def unlike(self, field: str, regex: str) -> AppBuilder:
        return self.constraint(field, "UNLIKE", regex)

    def max_per(self, field: str, n: int) -> AppBuilder:
        return self.constraint(field, "MAX_PER", str(n))

    def is_(self, field: str, value: str) -> AppBuilder:
        return self.constraint(field, "IS", value)

    def _rule(self, kind: AffinityType, other: str, field: str, weight: int | None) -> AppBuilder:
        mode = AffinityMode.REQUIRED if weight is None else AffinityMode.PREFERRED
        self._affinity.append(AppAffinity(app_id(other), kind, field, mode, weight or 50))
        return self

    def next_to(self, other: str, field: str = "hostname", weight: int | None = None) -> AppBuilder:
        return self._rule(AffinityType.AFFINITY, other, field, weight)

    def away_from(self, other: str, field: str = "hostname", weight: int | None = None) -> AppBuilder:
        return self._rule(AffinityType.ANTI_AFFINITY, other, field, weight)

    def binpack(self) -> AppBuilder:
        return self._set(placement_strategy=PlacementStrategy.BINPACK)

    def role(self, role: str) -> AppBuilder:
        return self._set(role=role)

    def accepted_roles(self, *roles: str) -> AppBuilder:
        return self._set(accepted_resource_roles=tuple(roles))

    def oldest_first(self) -> AppBuilder:
        return self._set(kill_selection=KillSelection.OLDEST_FIRST)

    def unreachable(self, inactive_after: float, expunge_after: float) -> AppBuilder:
        return self._set(unreachable_strategy=UnreachableEnabled(inactive_after, expunge_after))

    def unreachable_disabled(self) -> AppBuilder:
        return self._set(unreachable_strategy=UnreachableDisabled())

    def backoff(self, seconds: float, factor: float, max_delay: float) -> AppBuilder:
        return self._set(backoff_seconds=seconds, backoff_factor=factor, max_launch_delay_seconds=max_delay)

    def upgrade(self, minimum_health: float, maximum_over: float) -> AppBuilder:
        return self._set(upgrade_strategy=UpgradeStrategy(minimum_health, maximum_over))

    def health_checked(self) -> AppBuilder:
        return self._set(health_checks=(HealthCheckSpec(),))

    def labels(self, **labels: str) -> AppBuilder:
        return self._set(labels=labels)

    def env(self, **env: str) -> AppBuilder:
        return self._set(env=env)

    def docker(self, image: str) -> AppBuilder:
        return self._set(container=Container("DOCKER", image))

    def build(self) -> AppSpec:
        return AppSpec(
            constraints=tuple(self._constraints),
            affinity=tuple(self._affinity),
            **self._fields,  # type: ignore[arg-type]
        )


def an_app(path: str = "/app") -> AppBuilder:
    return AppBuilder(path)


class OfferBuilder:
    def __init__(self) -> None:
        self._host = f"host-{next(_serial)}"
        self._agent_id: str | None = None
        self._attributes: list[Attribute] = []
        self._region: str | None = None
        self._zone: str | None = None
        self._resources: dict[tuple[str, str], Resource] = {}
        self._allocation_role: str | None = None
        self._unavailability: Unavailability | None = None
        self._id: str | None = None
        self.cpus(8).mem(32768).disk(100_000).ports((31000, 31099))

    def on(self, host: str) -> OfferBuilder:
        self._host = host
        return self

    def id(self, offer_id: str) -> OfferBuilder:
        self._id = offer_id
        return self

    def agent(self, agent_id: str) -> OfferBuilder:
        self._agent_id = agent_id
        return self

    def attr(self, name: str, value: str | float | AttributeValue) -> OfferBuilder:
        if isinstance(value, str):
            typed: AttributeValue = Text(value)
        elif isinstance(value, (int, float)):
            typed = Scalar(float(value))
        else:
            typed = value
        self._attributes.append(Attribute(name, typed))
        return self

    def ranges_attr(self, name: str, *ranges: tuple[int, int]) -> OfferBuilder:
        return self.attr(name, Ranges(tuple(ranges)))

    def set_attr(self, name: str, *items: str) -> OfferBuilder:
        return self.attr(name, ItemSet(tuple(items)))

    def region(self, region: str) -> OfferBuilder:
        self._region = region
        return self

    def zone(self, zone: str) -> OfferBuilder:
        self._zone = zone
        return self

    def _scalar(self, name: str, amount: float, role: str) -> OfferBuilder:
        self._resources[(name, role)] = Resource(name, scalar=amount, role=role)
        return self

    def cpus(self, n: float, role: str = UNRESERVED) -> OfferBuilder:
        return self._scalar(CPUS, n, role)

    def mem(self, n: float, role: str = UNRESERVED) -> OfferBuilder:
        return self._scalar(MEM, n, role)

    def disk(self, n: float, role: str = UNRESERVED) -> OfferBuilder:
        return self._scalar(DISK, n, role)

    def gpus(self, n: float, role: str = UNRESERVED) -> OfferBuilder:
        return self._scalar(GPUS, n, role)

    def ports(self, *ranges: tuple[int, int], role: str = UNRESERVED) -> OfferBuilder:
        key = (PORTS, role)
        if not ranges:
            self._resources.pop(key, None)
        else:
            self._resources[key] = Resource(PORTS, ranges=tuple(ranges), role=role)
        return self

    def no_ports(self) -> OfferBuilder:
        return self.ports()

    def reserved(self, role: str, cpus: float = 0, mem: float = 0) -> OfferBuilder:
        """Move ``cpus``/``mem`` of this offer into a reservation for ``role``."""
        if cpus:
            self.cpus(cpus, role)
        if mem:
            self.mem(mem, role)
        return self

    def only_role(self, role: str) -> OfferBuilder:
        """Every resource of the offer is reserved for ``role``."""
        self._resources = {(n, role): replace(r, role=role) for (n, _), r in self._resources.items()}
        return self

    def allocated_to(self, role: str) -> OfferBuilder:
        self._allocation_role = role
        return self

    def maintenance(self, start: float, duration: float | None = None) -> OfferBuilder:
        self._unavailability = Unavailability(start, duration)
        return self

    def agent_info(self) -> AgentInfo:
        return AgentInfo(
            AgentId(self._agent_id or f"agent-{self._host}"),
            self._host,
            tuple(self._attributes),
            self._region,
            self._zone,
        )

    def build(self) -> Offer:
        return Offer(
            OfferId(self._id or f"offer-{next(_serial)}"),
            self.agent_info(),
            tuple(self._resources.values()),
            self._allocation_role,
            self._unavailability,
        )


def an_offer() -> OfferBuilder:
    return OfferBuilder()


def an_agent(host: str, **attrs: str) -> AgentInfo:
    builder = an_offer().on(host)
    for name, value in attrs.items():
        builder.attr(name, value)
    return builder.agent_info()


class InstanceBuilder:
    def __init__(self, app: AppSpec) -> None:
        self._instance = Instance(
            id=InstanceId(f"{app.id.strip('/').replace('/', '_')}.instance-{next(_serial):08d}"),
            app_id=app.id,
            app_version=app.version,
        )

    def _set(self, **fields: object) -> InstanceBuilder:
        self._instance = replace(self._instance, **fields)  # type: ignore[arg-type]
        return self

    def id(self, instance_id: str) -> InstanceBuilder:
        return self._set(id=InstanceId(instance_id))

    def version(self, v: str) -> InstanceBuilder:
        return self._set(app_version=AppVersion(v))

    def on(self, agent: AgentInfo | str) -> InstanceBuilder:
        info = agent if isinstance(agent, AgentInfo) else an_agent(agent)
        return self._set(agent=info, incarnation=max(1, self._instance.incarnation))

    def condition(self, condition: Condition, since: float = 0.0) -> InstanceBuilder:
        return self._set(condition=condition, since=since)

    def running(self, since: float = 0.0, healthy: bool | None = None) -> InstanceBuilder:
        return self._set(condition=Condition.RUNNING, since=since, staged_at=since, started_at=since, healthy=healthy)

    def staging(self, since: float = 0.0) -> InstanceBuilder:
        return self._set(condition=Condition.STAGING, since=since, staged_at=since)

    def unreachable(self, since: float) -> InstanceBuilder:
        return self._set(condition=Condition.UNREACHABLE, since=since, unreachable_since=since)

    def failed(self, since: float = 0.0) -> InstanceBuilder:
        return self._set(condition=Condition.FAILED, since=since)

    def goal(self, goal: Goal) -> InstanceBuilder:
        return self._set(goal=goal)

    def build(self) -> Instance:
        return self._instance


def an_instance(app: AppSpec) -> InstanceBuilder:
    return InstanceBuilder(app)


def pending(app: AppSpec, n: int | None = None) -> list[Instance]:
    """``n`` (default: ``app.instances``) fresh SCHEDULED instances of ``app``."""
    return [an_instance(app).build() for _ in range(app.instances if n is None else n)]


def place_all(
    apps: Sequence[AppSpec] | AppSpec,
    offers: Sequence[Offer],
    *,
    waiting: Iterable[Instance] | None = None,
    existing: Iterable[Instance] = (),
    seed: int = 7,
    profile: Profile | None = None,
    now: float = 0.0,
) -> PlacementResult:
    """Place ``waiting`` (default: ``instances`` fresh ones per app, in app order) on ``offers``."""
    app_list = [apps] if isinstance(apps, AppSpec) else list(apps)
    todo = list(waiting) if waiting is not None else [i for a in app_list for i in pending(a)]
    snapshot = Snapshot.of(app_list, existing, now=now)
    return place(snapshot, todo, offers, profile or default_profile(), random.Random(seed))


def hosts_of(result: PlacementResult, app: AppSpec | None = None) -> list[str]:
    """Hostnames of the launches (of ``app``), in launch order."""
    return [l.agent.hostname for l in result.launches if app is None or l.app_id == app.id]


def launched_count(result: PlacementResult, app: AppSpec) -> int:
    return sum(1 for l in result.launches if l.app_id == app.id)


def app_ids(*paths: str) -> list[AppId]:
    return [app_id(p) for p in paths]
