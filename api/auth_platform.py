"""Where changes are made, the last check: the ids a change touches, and the tenants' quotas.

Owns ``GuardedPlatform``: the platform the routes see when authentication or quotas are on. It passes every
read through unchanged and wraps the two calls that change apps:

- ``deploy(edit)``: runs ``edit`` on the root group inside the runtime's commit (so two concurrent POSTs are
  checked one after the other, against each other's result), then compares the roots: every app (and group)
  the change adds, alters or removes, and every app it restarts, must be ``deploy``-able by the request's
  principal (``api.auth.CURRENT_PRINCIPAL``), else 403 and nothing changes. This is what covers the ids inside
  group bodies, ``PUT /v2/apps`` lists, rollbacks and ``scaleBy``. Then the tenants' quotas
  (``mesospaas.tenancy.quota``): a change that raises a tenant's usage above a limit is refused with a 422
  that names the quota, whoever makes it. An app that is redeployed gets its ``maximumOverCapacity`` clamped
  to the room its tenant has left, so the extra instances of a rolling deployment stay inside the quota too
  (with no room at all, ``minimumHealthCapacity`` is lowered so one instance at a time is replaced).
- ``kill_tasks(ids)``: every task's app must be ``deploy``-able (``POST /v2/tasks/delete``).
- ``jobs.start_run(id)`` (``GuardedJobs``): a job run fits its tenant's quota beside the tenant's apps; unfinished
  runs count in the app admission above too.

Fails: ``Forbidden`` (403) and ``QuotaRejected`` (422), both ``ApiError``s the error middleware renders.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from api.auth import CURRENT_PRINCIPAL, LISTING_VIEW, NOT_AUTHORIZED
from api.errors import ApiError, Unprocessable
from api.routes_apps import ResponseCache
from mesospaas.jobs.admission import run_demands, run_violations
from mesospaas.model import AppId
from mesospaas.model.group import Group
from mesospaas.model.group_parts import changed_parts
from mesospaas.tenancy import Action, Principal, Quota, quota_violations
from mesospaas.tenancy.quota import over_capacity_headroom


class Forbidden(ApiError, ValueError):
    """403. A ``ValueError`` too: the runtime reports it to the caller and goes on (``scheduler.runtime``)."""

    status = 403

    def __init__(self) -> None:
        super().__init__(NOT_AUTHORIZED)


class QuotaRejected(Unprocessable, ValueError):
    """422 naming the quota: ``{"message": "quota of /team-a exceeded: cpus would be 12, the quota is 8", ...}``."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages

    def body(self) -> dict[str, Any]:
        return {"message": "Object is not valid", "details": [{"path": "/", "errors": self.messages}]}


def changed_ids(before: Group, after: Group) -> set[str]:
    """Apps added, removed or changed, and groups added or removed (subtrees an edit did not touch are
    skipped by identity, so one app changed among thousands costs little)."""
    parts = changed_parts(before, after)
    touched = {str(a) for a in (*parts.put_apps, *parts.deleted_apps)}
    touched.update(str(g) for g in parts.deleted_nodes)
    touched.update(str(g) for g in parts.put_nodes if before.group(g) is None)
    return touched


def check_change(principal: Principal | None, before: Group, after: Group, restart: Iterable[AppId]) -> None:
    if principal is None:
        return
    for target in sorted(changed_ids(before, after) | {str(a) for a in restart}):
        if not principal.may(Action.DEPLOY, target):
            raise Forbidden()


def clamp_over_capacity(quotas: Mapping[str, Quota], before: Group, after: Group,
                        restart: Iterable[AppId]) -> Group:
    """``after`` with each redeployed app's over-capacity inside its tenant's room."""
    if not quotas:
        return after
    old, new = before.all_apps(), after.all_apps()
    redeployed = {a for a in old.keys() & new.keys()
                  if old[a] is not new[a] and replace(old[a], instances=new[a].instances) != new[a]}
    redeployed |= set(restart) & new.keys()
    result = after
    for app_id in sorted(redeployed):
        app = new[app_id]
        room = over_capacity_headroom(quotas, new.values(), app)
        if room is None or app.instances == 0:
            continue
        extra = math.ceil(app.instances * app.upgrade_strategy.maximum_over_capacity - 1e-9)
        if extra <= room:
            continue
        strategy = replace(app.upgrade_strategy, maximum_over_capacity=max(0.0, (room - 1e-6) / app.instances))
        if room == 0 and strategy.minimum_health_capacity >= 1.0:
            strategy = replace(strategy, minimum_health_capacity=(app.instances - 1) / app.instances)
        result = result.update_app(replace(app, upgrade_strategy=strategy))
    return result


class GuardedJobs:
    """The jobs shell with the quota check of ``POST /v1/jobs/{id}/runs``: a run counts one instance of its run
    spec under the job's tenant (``team-a.nightly`` -> ``/team-a``), beside that tenant's apps
    (``mesospaas.jobs.admission``). Checked when the run is asked for; the runs a schedule or a dependency
    starts are checked by the jobs shell itself (``scheduler.jobs``, recorded FAILED when refused)."""

    def __init__(self, inner: Any, platform: Any, quotas: Callable[[], Mapping[str, Quota]]) -> None:
        self._inner, self._platform, self._quotas = inner, platform, quotas

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def start_run(self, job_id: Any) -> Any:
        limits = self._quotas()
        state = self._inner.jobs.get(job_id)
        if limits and state is not None:
            problems = run_violations(limits, self._platform.state.apps.values(), self._inner.jobs, state.spec)
            if problems:
                raise QuotaRejected([p.message for p in problems])
        return await self._inner.start_run(job_id)


class TenantView:
    """The state as one principal's listing sees it: its readable apps and their instances; the rest as is."""

    def __init__(self, state: Any, principal: Principal) -> None:
        self._state = state
        self.apps = {a: spec for a, spec in state.apps.items() if principal.may(Action.READ, str(a))}
        self.instances = {k: i for k, i in state.instances.items() if i.app_id in self.apps}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state, name)


class ScopedResponses(ResponseCache):
    """``api.routes_apps``' cache of rendered GET bodies, with a tenant view's bodies kept apart by principal."""

    @staticmethod
    def _scoped(key: str) -> str:
        principal = LISTING_VIEW.get()
        return key if principal is None else f"{key}\x00view:{principal.name}"

    def get(self, platform: Any, key: str) -> bytes | None:
        return super().get(platform, self._scoped(key))

    def put(self, key: str, body: bytes) -> None:
        super().put(self._scoped(key), body)


class GuardedPlatform:
    """The platform with the checks above; everything else is the wrapped platform's. While a listing renders
    for a principal that does not see every id (``api.auth.LISTING_VIEW``), ``state`` is that principal's
    ``TenantView`` (cached per principal and state generation); the routes' response cache keeps such bodies
    under the principal's name (``ScopedResponses``), so two principals' listings never mix."""

    def __init__(self, platform: Any, quotas: Callable[[], Mapping[str, Quota]]) -> None:
        object.__setattr__(self, "_inner", platform)
        object.__setattr__(self, "_quotas", quotas)
        object.__setattr__(self, "_views", {})

    @property
    def state(self) -> Any:
        principal = LISTING_VIEW.get()
        if principal is None:
            return self._inner.state
        generation = self._inner.generation
        cached = self._views.get(principal.name)
        if cached is None or cached[0] != generation:
            if len(self._views) > 1024:
                self._views.clear()
            cached = (generation, TenantView(self._inner.state, principal))
            self._views[principal.name] = cached
        return cached[1]


    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)

    def _job_states(self) -> Mapping[Any, Any]:
        shell = getattr(self._inner, "jobs", None)
        states = getattr(shell, "jobs", None)
        return states if isinstance(states, Mapping) else {}

    @property
    def jobs(self) -> GuardedJobs:
        return GuardedJobs(self._inner.jobs, self._inner, self._quotas)

    async def deploy(self, edit: Callable[[Group], Group], *, force: bool = False, dry_run: bool = False,
                     restart: Iterable[AppId] = (), definitions: dict[AppId, bytes] | None = None) -> Any:
        principal = CURRENT_PRINCIPAL.get()
        restarted = tuple(restart)
        quotas = self._quotas

        def guarded(root: Group) -> Group:
            edited = edit(root)
            check_change(principal, root, edited, restarted)
            limits = quotas()
            runs = run_demands(self._job_states()) if limits else []
            problems = quota_violations(limits, [*root.all_apps().values(), *runs],
                                        [*edited.all_apps().values(), *runs])
            if problems:
                raise QuotaRejected([p.message for p in problems])
            return clamp_over_capacity(limits, root, edited, restarted)

        return await self._inner.deploy(guarded, force=force, dry_run=dry_run, restart=restarted,
                                        definitions=definitions)

    async def kill_tasks(self, task_ids: Iterable[Any], *, scale: bool, wipe: bool, force: bool = False) -> Any:
        principal = CURRENT_PRINCIPAL.get()
        wanted = list(task_ids)
        if principal is not None:
            apps = {str(i.task_id): str(i.app_id) for i in self._inner.state.instances.values()
                    if i.task_id is not None}
            for task in wanted:
                owner = apps.get(str(task))
                if owner is not None and not principal.may(Action.DEPLOY, owner):
                    raise Forbidden()
        return await self._inner.kill_tasks(wanted, scale=scale, wipe=wipe, force=force)


__all__ = ["Forbidden", "GuardedPlatform", "QuotaRejected", "changed_ids", "check_change", "clamp_over_capacity"]
