"""What the HTTP API needs from the platform behind it, as a protocol (the scheduler runtime implements it).

Keeping this here lets ``api`` depend only on the core (``mesospaas``): the composition root
(``scheduler.local`` / ``scheduler.serve``) hands the runtime in. ``LeaderView`` is what the API needs from
the leader election (``scheduler.ha``) when several instances run side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from mesospaas.launch.backoff import Backoff
from mesospaas.model import AppId, AppSpec, Instance
from mesospaas.model.deployment import DeploymentId, DeploymentPlan
from mesospaas.model.group import Group
from mesospaas.model.ids import AppVersion, TaskId
from mesospaas.placement import AppDiagnostics


class PlatformState(Protocol):
    root: Group
    apps: dict[AppId, AppSpec]
    instances: dict[Any, Instance]
    backoffs: dict[AppId, Backoff]
    framework_id: str | None

    @property
    def deployments(self) -> dict[DeploymentId, Any]: ...


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

    def app_definition(self, app_id: AppId, version: AppVersion | None = None) -> bytes | None: ...

    def app_versions(self, app_id: AppId) -> list[AppVersion]: ...

    def instances_of(self, app_id: AppId) -> list[Instance]: ...

    async def kill_tasks(self, task_ids: Iterable[TaskId], *, scale: bool, wipe: bool,
                         force: bool = False) -> tuple[list[Instance], DeploymentPlan | None]: ...

    async def reset_delay(self, app_id: AppId) -> bool: ...

    def launch_queue(self) -> Any: ...


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
