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


class CanaryPromotion(enum.Enum):
    AUTO = "AUTO"
    """Continue the rollout by itself once the canaries have been healthy for ``healthy_seconds``."""
    MANUAL = "MANUAL"
    """Pause until ``POST /v2/deployments/{id}/continue``."""


@dataclass(frozen=True, slots=True)
class Canary:
    """A restart first starts ``instances`` new instances on top of the old ones (out of the over-capacity
    budget, at least one), waits until they have all been healthy (and ready) for ``healthy_seconds``, then
    goes on with the rolling upgrade (AUTO) or pauses until told to continue (MANUAL)."""

    instances: int = 1
    healthy_seconds: float = 60.0
    promote: CanaryPromotion = CanaryPromotion.AUTO

    def __post_init__(self) -> None:
        if self.instances < 1:
            raise InvalidSpec(f"upgradeStrategy.canary.instances must be >= 1, got {self.instances}")
        if self.healthy_seconds < 0:
            raise InvalidSpec(f"upgradeStrategy.canary.healthySeconds must be >= 0, got {self.healthy_seconds}")


DEFAULT_ROLLBACK_DEADLINE = 600.0
"""The progress deadline of an app that asks for ``autoRollback`` without giving one (seconds)."""


@dataclass(frozen=True, slots=True)
class UpgradeStrategy:
    minimum_health_capacity: float = 1.0
    maximum_over_capacity: float = 1.0
    progress_deadline_seconds: float | None = None
    """Extension: a deployment of this app that makes no progress for this long fails (None: never)."""
    auto_rollback: bool = False
    """Extension: a failed deployment rolls back to the previous version by itself."""
    canary: Canary | None = None
    """Extension: start a few new instances first and wait for them to prove healthy."""

    def __post_init__(self) -> None:
        for name in ("minimum_health_capacity", "maximum_over_capacity"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidSpec(f"upgradeStrategy.{name} must be between 0 and 1, got {value}")
        if self.progress_deadline_seconds is not None and self.progress_deadline_seconds <= 0:
            raise InvalidSpec("upgradeStrategy.progressDeadlineSeconds must be > 0")

    @property
    def fails(self) -> bool:
        """Whether deployments of the app can fail at all (Marathon's never do): a deadline or auto rollback."""
        return self.progress_deadline_seconds is not None or self.auto_rollback

    @property
    def deadline(self) -> float | None:
        """The progress deadline in force: the given one, else the default one when rolling back automatically."""
        if self.progress_deadline_seconds is not None:
            return self.progress_deadline_seconds
        return DEFAULT_ROLLBACK_DEADLINE if self.auto_rollback else None


@dataclass(frozen=True, slots=True)
class CommandExecutor:
    """The Mesos command executor (Marathon's ``executor: ""`` or ``"//cmd"``)."""


@dataclass(frozen=True, slots=True)
class CustomExecutor:
    """A custom executor at ``path`` (fetched and started by Mesos); wired up by a later issue."""

    path: str


Executor = CommandExecutor | CustomExecutor


@dataclass(frozen=True, slots=True)
class PortMapping:
    """One ``container.portMappings`` entry (bridge and container networking).

    ``host_port`` None = no host port (container networking only); 0 = any port of the offer.
    ``container_port`` 0 = the same as the host port the task gets."""

    container_port: int = 0
    host_port: int | None = None
    service_port: int = 0
    protocol: str = "tcp"
    name: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    network_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Network:
    """One of the app's ``networks``: ``host``, ``container/bridge`` or ``container`` (with a name)."""

    mode: str = "host"
    name: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HostVolume:
    """A host path (absolute) or a path relative to the sandbox mounted at ``container_path``."""

    container_path: str
    host_path: str
    mode: str = "RW"


@dataclass(frozen=True, slots=True)
class Container:
    """The app's ``container`` (with the app's ``networks``, which only matter when there is one)."""

    type: str = "DOCKER"
    """``DOCKER`` or ``MESOS``."""
    docker_image: str | None = None
    force_pull_image: bool = False
    privileged: bool = False
    parameters: tuple[tuple[str, str], ...] = ()
    """``docker.parameters`` as (key, value) pairs, in order."""
    port_mappings: tuple[PortMapping, ...] = ()
    volumes: tuple[HostVolume, ...] = ()
    networks: tuple[Network, ...] = (Network(),)


@dataclass(frozen=True, slots=True)
class HealthCheckSpec:
    """Marathon's AppHealthCheck (reference §4.2), with its defaults.

    ``protocol`` is Marathon's name: ``HTTP``/``HTTPS``/``TCP`` are run by the leader (``mesospaas.health``),
    ``COMMAND``/``MESOS_HTTP``/``MESOS_HTTPS``/``MESOS_TCP`` by the Mesos executor on the agent. ``port`` (a
    literal port) wins over ``port_index``; ``max_consecutive_failures`` 0 means "never kill" for checks the
    leader runs and "kill on the first failure" for Mesos-run ones (Mesos treats 0 as 1).
    """

    protocol: str = "HTTP"
    path: str | None = "/"
    port_index: int | None = 0
    grace_period_seconds: float = 300.0
    interval_seconds: float = 60.0
    timeout_seconds: float = 20.0
    max_consecutive_failures: int = 3
    delay_seconds: float = 15.0
    port: int | None = None
    command: str | None = None
    """The shell command of a ``COMMAND`` check (exit code 0 = healthy)."""
    ignore_http1xx: bool = False
    ip_protocol: str = "IPv4"

    @property
    def run_by_scheduler(self) -> bool:
        """Marathon-level: probed by the leader over the network."""
        return self.protocol in SCHEDULER_HEALTH_PROTOCOLS

    @property
    def run_by_mesos(self) -> bool:
        return self.protocol in MESOS_HEALTH_PROTOCOLS


SCHEDULER_HEALTH_PROTOCOLS = frozenset({"HTTP", "HTTPS", "TCP"})
MESOS_HEALTH_PROTOCOLS = frozenset({"COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"})


@dataclass(frozen=True, slots=True)
class ReadinessCheckSpec:
    """Marathon's readiness check (reference §4.4): polled over HTTP(S) once a new task runs, during
    deployments; the task is ready at the first answer whose status is in ``http_status_codes_for_ready``."""

    name: str = "readinessCheck"
    protocol: str = "HTTP"
    path: str = "/"
    port_name: str = "http-api"
    interval_seconds: float = 30.0
    timeout_seconds: float = 10.0
    http_status_codes_for_ready: tuple[int, ...] = (200,)
    preserve_last_response: bool = False


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
    readiness_checks: tuple[ReadinessCheckSpec, ...] = ()
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
