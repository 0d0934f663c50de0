"""The app spec: what the user asked to run, with Marathon's scheduling fields and defaults.

Owns: ``AppSpec`` and its small value types (port definitions, fetch URIs, unreachable strategy, upgrade
strategy, executor, container, placement strategy, kill selection, health check spec). JSON <-> ``AppSpec``
mapping belongs to the API layer; field names here are the snake_case of Marathon's.

Defaults are Marathon's (reference §2.1): 1 instance, 1 cpu, 128 MB, one dynamic port named ``default``,
backoff 1 s x 1.15 capped at 300 s, ``YOUNGEST_FIRST``, unreachable ``{0, 0}``, upgrade ``{1.0, 1.0}``,
role ``*``. ``accepted_resource_roles=None`` means "unreserved and the app's role".

Invariants (``InvalidSpec`` on construction otherwise): non-negative resources and instance count,
backoff factor >= 1, unreachable inactive-after <= expunge-after, upgrade capacities within 0..1, unique
constraints, unique port names, non-empty accepted roles when given. Mappings are copied, so a spec never
changes after construction.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from mesospaas.errors import InvalidSpec
from mesospaas.model.affinity import AppAffinity
from mesospaas.model.constraints import Constraint
from mesospaas.model.ids import AppId, AppVersion
from mesospaas.model.resources import UNRESERVED

EPOCH_VERSION = AppVersion("1970-01-01T00:00:00Z")


class KillSelection(enum.Enum):
    YOUNGEST_FIRST = "YOUNGEST_FIRST"
    OLDEST_FIRST = "OLDEST_FIRST"


class PlacementStrategy(enum.Enum):
    SPREAD = "SPREAD"
    """Fewest instances of the app per host first, then the least loaded host (default)."""
    BINPACK = "BINPACK"
    """Best fit: the offer with the least room left that still fits, so partly used and small agents fill up
    first and large agents stay free for large tasks."""


@dataclass(frozen=True, slots=True)
class PortDefinition:
    port: int = 0
    """Service port (0 = assigned by the service-port allocator); with ``require_ports`` also the host port."""
    protocol: str = "tcp"
    name: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


DEFAULT_PORT_DEFINITIONS = (PortDefinition(0, name="default"),)


@dataclass(frozen=True, slots=True)
class FetchUri:
    uri: str
    extract: bool = True
    executable: bool = False
    cache: bool = False
    dest_path: str | None = None


@dataclass(frozen=True, slots=True)
class UnreachableEnabled:
    """After ``inactive_after_seconds`` unreachable an instance is replaced; after ``expunge_after`` forgotten."""

    inactive_after_seconds: float = 0.0
    expunge_after_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.inactive_after_seconds < 0 or self.expunge_after_seconds < 0:
            raise InvalidSpec("unreachableStrategy seconds must be >= 0")
        if self.inactive_after_seconds > self.expunge_after_seconds:
            raise InvalidSpec(
                f"inactiveAfterSeconds ({self.inactive_after_seconds}) must be less or equal to "
                f"expungeAfterSeconds, which is {self.expunge_after_seconds}"
            )


@dataclass(frozen=True, slots=True)
class UnreachableDisabled:
    """Wait forever for unreachable instances: never replace, never expunge."""


UnreachableStrategy = UnreachableEnabled | UnreachableDisabled


@dataclass(frozen=True, slots=True)
class UpgradeStrategy:
    minimum_health_capacity: float = 1.0
    maximum_over_capacity: float = 1.0

    def __post_init__(self) -> None:
        for name in ("minimum_health_capacity", "maximum_over_capacity"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidSpec(f"upgradeStrategy.{name} must be between 0 and 1, got {value}")


@dataclass(frozen=True, slots=True)
class CommandExecutor:
    """The Mesos command executor (Marathon's ``executor: ""`` or ``"//cmd"``)."""


@dataclass(frozen=True, slots=True)
class CustomExecutor:
    """A custom executor at ``path`` (fetched and started by Mesos); wired up by a later issue."""

    path: str


Executor = CommandExecutor | CustomExecutor


@dataclass(frozen=True, slots=True)
class Container:
    type: str = "DOCKER"
    """``DOCKER`` or ``MESOS``."""
    docker_image: str | None = None


@dataclass(frozen=True, slots=True)
class HealthCheckSpec:
    """Enough of Marathon's AppHealthCheck for the reconciler to know health gates capacity."""

    protocol: str = "HTTP"
    path: str | None = "/"
    port_index: int | None = 0
    grace_period_seconds: float = 300.0
    interval_seconds: float = 60.0
    timeout_seconds: float = 20.0
    max_consecutive_failures: int = 3


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class AppSpec:
    id: AppId
    version: AppVersion = EPOCH_VERSION
    config_version: AppVersion | None = None
    """Marathon's ``versionInfo.lastConfigChangeAt``; ``None`` = same as ``version``. Keys the launch backoff."""
    cmd: str | None = None
    args: tuple[str, ...] | None = None
    user: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    instances: int = 1
    cpus: float = 1.0
    mem: float = 128.0
    disk: float = 0.0
    gpus: int = 0
    constraints: tuple[Constraint, ...] = ()
    port_definitions: tuple[PortDefinition, ...] = DEFAULT_PORT_DEFINITIONS
    require_ports: bool = False
    fetch: tuple[FetchUri, ...] = ()
    backoff_seconds: float = 1.0
    backoff_factor: float = 1.15
    max_launch_delay_seconds: float = 300.0
    kill_selection: KillSelection = KillSelection.YOUNGEST_FIRST
    unreachable_strategy: UnreachableStrategy = UnreachableEnabled()
    task_kill_grace_period_seconds: float | None = None
    role: str = UNRESERVED
    accepted_resource_roles: tuple[str, ...] | None = None
    executor: Executor = CommandExecutor()
    container: Container | None = None
    upgrade_strategy: UpgradeStrategy = UpgradeStrategy()
    health_checks: tuple[HealthCheckSpec, ...] = ()
    affinity: tuple[AppAffinity, ...] = ()
    placement_strategy: PlacementStrategy = PlacementStrategy.SPREAD

    def __post_init__(self) -> None:
        object.__setattr__(self, "env", _frozen(self.env))
        object.__setattr__(self, "labels", _frozen(self.labels))
        for name in ("instances", "cpus", "mem", "disk", "gpus", "backoff_seconds", "max_launch_delay_seconds"):
            if getattr(self, name) < 0:
                raise InvalidSpec(f"{self.id}: {name} must be >= 0")
        if self.backoff_factor < 1.0:
            raise InvalidSpec(f"{self.id}: backoffFactor must be >= 1")
        if len(set(self.constraints)) != len(self.constraints):
            raise InvalidSpec(f"{self.id}: constraints must be unique")
        names = [p.name for p in self.port_definitions if p.name is not None]
        if len(set(names)) != len(names):
            raise InvalidSpec(f"{self.id}: Port names must be unique.")
        if self.accepted_resource_roles is not None and not self.accepted_resource_roles:
            raise InvalidSpec(f"{self.id}: acceptedResourceRoles must not be empty when given")

    @property
    def effective_config_version(self) -> AppVersion:
        return self.config_version if self.config_version is not None else self.version

    @property
    def accepted_roles(self) -> frozenset[str]:
        """Reservation roles whose resources this app may use."""
        if self.accepted_resource_roles is not None:
            return frozenset(self.accepted_resource_roles)
        return frozenset((UNRESERVED, self.role))

    @property
    def docker_image(self) -> str | None:
        if self.container is not None and self.container.type == "DOCKER":
            return self.container.docker_image
        return None
