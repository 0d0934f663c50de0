"""What the HTTP API needs from the platform behind it, as a protocol (the scheduler runtime implements it).

Keeping this here lets ``api`` depend only on the core (``mesospaas``): the composition root
(``scheduler.local`` / ``scheduler.serve``) hands the runtime in. ``LeaderView`` is what the API needs from
the leader election (``scheduler.ha``) when several instances run side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from mesospaas.health import CheckHealth
from mesospaas.deploy.readiness import ReadinessResult
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
    """The batch jobs (``scheduler.jobs.JobsShell``; typed loosely so ``api`` needs only the core here)."""

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
