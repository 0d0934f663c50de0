"""The ports of the HTTP API: what it needs from the platform behind it, as protocols.

``api`` imports nothing from ``scheduler`` (``tests/architecture/test_import_rules.py``): it depends on the core
(``mesospaas``) and on these protocols, and the composition root (``scheduler.serve`` / ``scheduler.local``, the
test fixtures) hands the scheduler's implementations in:

- ``Platform``: the runtime (``scheduler.runtime.SchedulerRuntime``, or ``scheduler.ha_runner``'s platform
  that follows the current leader term); ``LeaderView``: the leader election (``scheduler.ha``);
- ``EventStream``: the event bus behind ``/v2/events`` (``scheduler.events.EventBus``);
- ``MetricsView``: the process's meters (``scheduler.metrics.Metrics``);
- ``TaskUsageView``: the executors' usage reports (``scheduler.task_stats.TaskStats``, ``platform.task_stats``);
- ``JobsView``: the jobs shell (``platform.jobs``, ``scheduler.jobs.JobsShell``), and ``JobsRefusal``, what it
  raises for a request it refuses.

Failures the platform may raise into a request: ``mesospaas.errors.NotActing`` (503), the core's
``DeploymentConflict`` (409) and ``DeploymentRejected`` (422), a ``JobsRefusal`` on the job routes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from mesospaas.deploy.readiness import ReadinessResult
from mesospaas.executor_protocol import UsageReport
from mesospaas.health import CheckHealth
from mesospaas.jobs.run import JobRun
from mesospaas.jobs.spec import JobId, JobSpec, ScheduleSpec
from mesospaas.jobs.step import JobState
from mesospaas.launch.backoff import Backoff
from mesospaas.model import AppId, AppSpec, Instance
from mesospaas.model.deployment import DeploymentId, DeploymentPlan
from mesospaas.model.group import Group
from mesospaas.model.ids import AppVersion, TaskId
from mesospaas.model.task_failure import TaskFailure
from mesospaas.placement import AppDiagnostics


class PlatformState(Protocol):
    root: Group
    apps: dict[AppId, AppSpec]
    instances: dict[Any, Instance]
    backoffs: dict[AppId, Backoff]
    framework_id: str | None

    @property
    def deployments(self) -> dict[DeploymentId, Any]: ...

    @property
    def finished(self) -> dict[DeploymentId, Any]:
        """Recently finished deployments (``scheduler.runtime.FinishedDeployment``), oldest first."""
        ...


class Platform(Protocol):
    state: PlatformState
    generation: int
    """Changes whenever the state changes: responses rendered from it can be reused while it holds."""
    diagnostics: dict[AppId, AppDiagnostics]
    plan_json: Callable[[DeploymentPlan], dict[str, Any]]

    def clock(self) -> float: ...

    async def deploy(self, edit: Callable[[Group], Group], *, force: bool = False, dry_run: bool = False,
                     restart: Iterable[AppId] = (), definitions: dict[AppId, bytes] | None = None
                     ) -> DeploymentPlan: ...

    async def cancel_deployment(self, deployment_id: DeploymentId, *, rollback: bool) -> DeploymentPlan | None: ...

    async def continue_deployment(self, deployment_id: DeploymentId) -> bool:
        """Promote held canaries and end a pause; False when there is nothing to continue."""
        ...

    def readiness_results(self, app_id: AppId) -> list[ReadinessResult]:
        """The latest readiness answers of the app's polled tasks."""
        ...

    def app_definition(self, app_id: AppId, version: AppVersion | None = None) -> bytes | None: ...

    def app_versions(self, app_id: AppId) -> list[AppVersion]: ...

    def instances_of(self, app_id: AppId) -> list[Instance]: ...

    async def kill_tasks(self, task_ids: Iterable[TaskId], *, scale: bool, wipe: bool,
                         force: bool = False) -> tuple[list[Instance], DeploymentPlan | None]: ...

    async def reset_delay(self, app_id: AppId) -> bool: ...

    def launch_queue(self) -> Any: ...

    jobs: Any
    """The batch jobs: a ``JobsView`` (``scheduler.jobs.JobsShell``, or the guarded one of ``api.auth_platform``)."""

    def health_records(self, instance: Instance) -> Mapping[int, CheckHealth]:
        """The per-check health detail of the instance's current task, by check index (may be empty)."""
        ...

    def health_generation(self, app_id: AppId) -> int:
        """Moves whenever the health detail of the app's tasks moves (it changes without the instances)."""
        ...

    def task_failure(self, app_id: AppId) -> TaskFailure | None:
        """The app's ``lastTaskFailure``."""
        ...


class LeaderView(Protocol):
    """The leader election as the API sees it. Every value may change between two reads: read, don't cache."""

    @property
    def is_leader(self) -> bool:
        """This instance leads right now."""
        ...

    @property
    def leader(self) -> str | None:
        """``host:port`` of the current leader's API; ``None`` while unknown."""
        ...

    @property
    def me(self) -> str:
        """This instance's advertised API ``host:port`` (what the others proxy to when it leads)."""
        ...

    async def abdicate(self) -> None:
        """Give up leadership (``DELETE /v2/leader``)."""
        ...


class EventSubscription(Protocol):
    def events(self, keepalive: float) -> AsyncIterator[dict[str, Any] | None]:
        """Events as they come, ``None`` after every ``keepalive`` seconds of silence; ends when the subscriber
        fell too far behind (it then reconnects, as Marathon's clients do)."""
        ...

    def close(self) -> None: ...


class EventStream(Protocol):
    """The event bus as the API sees it: ``/v2/events`` subscribes, ``api_post_event`` is published."""

    @property
    def subscribers(self) -> int: ...

    def subscribe(self, types: Iterable[str] | None = None) -> EventSubscription:
        """``types``: the event types wanted (ours only when named); None: Marathon's own types."""
        ...

    def publish(self, event_type: str, now: float | None = None, **fields: Any) -> dict[str, Any]: ...


class MetricsSources(Protocol):
    subscribers: Callable[[], int] | None
    """The number of event-stream subscribers, for the metrics (the API sets it)."""


class MetricsView(Protocol):
    """The process's meters: the API counts and times its requests and renders the registry."""

    api_requests: Any
    """A Prometheus counter labelled ``(method, route, status)``."""
    api_duration: Any
    """A Prometheus histogram labelled ``(method, route)``."""

    @property
    def sources(self) -> MetricsSources:
        """Where scrape-time gauges read from (the API sets ``subscribers``)."""
        ...

    async def families(self) -> list[Any]:
        """Every metric family (``prometheus_client`` ``Metric``s) of the registry, collected now."""
        ...

    async def render(self, accept: str | None) -> tuple[bytes, str]:
        """The exposition for an ``Accept`` header: (body, content type)."""
        ...


class ReceivedUsageView(Protocol):
    """One usage report of a task's executor, as received."""

    @property
    def report(self) -> UsageReport: ...

    @property
    def agent_id(self) -> str: ...

    @property
    def received_at(self) -> float: ...


class TaskUsageView(Protocol):
    def latest(self, task_id: str) -> ReceivedUsageView | None:
        """The newest report of exactly this task (None: none, or only another incarnation's)."""
        ...


class JobsView(Protocol):
    """The jobs shell as the Metronome routes use it; every change refused with a ``JobsRefusal``."""

    jobs: Mapping[JobId, JobState]
    diagnostics: Mapping[AppId, AppDiagnostics]
    """Placement diagnostics of the runs waiting to launch, by their run spec's app id (``app_of``)."""

    def get(self, job_id: JobId) -> JobState | None: ...

    def app_of(self, spec: JobSpec) -> AppSpec:
        """The one-instance run spec the job's runs are placed with."""
        ...

    def queued(self) -> list[tuple[JobId, list[JobRun]]]: ...

    def finished_run(self, job_id: JobId, run_id: str) -> JobRun | None: ...

    async def create(self, spec: JobSpec) -> JobState: ...

    async def replace_spec(self, spec: JobSpec, *, with_schedules: bool = False) -> JobState: ...

    async def delete(self, job_id: JobId, *, stop_current: bool) -> JobState: ...

    async def start_run(self, job_id: JobId) -> JobRun: ...

    async def stop_run(self, job_id: JobId, run_id: str) -> JobRun: ...

    async def set_schedules(self, job_id: JobId, schedules: tuple[ScheduleSpec, ...]) -> JobState: ...


@runtime_checkable
class JobsRefusal(Protocol):
    """A request the jobs shell refuses (a ``ValueError`` it raises): Metronome's status and message, keys for
    the body (``extra``), and for a 422 the ``details`` as ``(path, message)`` pairs."""

    status: int
    message: str
    extra: dict[str, Any]
