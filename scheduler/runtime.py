"""The scheduler runtime: the one asyncio task that owns the framework's state and acts on it.

Owns: apps, instances, launch backoffs and the framework id in memory (a cache of the store, which is the
truth); the event loop that takes Mesos events, app commands and timer ticks one at a time; and the order of
every effect: decide with the pure core -> persist what it changes -> perform the commands it returns ->
acknowledge the Mesos update.

- Offers: the launch queue (a view over instances) is placed by ``mesospaas.placement.place``; launched
  instances are persisted before ACCEPT; every other offer is declined with a refuse filter. REVIVE/SUPPRESS
  come only from ``mesospaas.launch.offer_interest``.
- Status updates: the instance's condition is updated and persisted, a failure extends the app's backoff, then
  the update is acknowledged; updates for tasks nobody knows get their task killed.
- Level-triggered reconciliation (``mesospaas.reconcile``) after every change and on every tick: scale up and
  down, replace failed, lost and unreachable instances, expunge what is gone; tasks stuck in staging past the
  launch timeout are killed.
- Task reconciliation with Mesos after every (re)subscription (explicit for known tasks, then implicit) and
  periodically.

Fails: a store error stops the runtime (``StoreError`` propagates out of ``run``): acting on state that was
not persisted would lose data. Mesos call failures are logged; level-triggered reconciliation repairs them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from mesospaas.deploy import assign_versions, conflicts, plan, progress, pruned, revert
from mesospaas.errors import CoreError, DeploymentConflict, DeploymentRejected
from mesospaas.launch.backoff import Backoff, after_failure, after_stable_run, current, is_launch_failure
from mesospaas.launch.offer_interest import OfferInterestState, decide_offer_interest
from mesospaas.launch.queue import launch_queue
from mesospaas.model import AppId, AppSpec, Condition, Goal, Instance, InstanceId, Snapshot, launched, \
    parse_task_id, random_instance_ids, with_task_status
from mesospaas.model.deployment import DeploymentId, DeploymentPlan, DeploymentStep, random_deployment_ids
from mesospaas.model.group import ROOT, DependencyCycle, Group, GroupId
from mesospaas.model.group_parts import GroupNode, PartChanges, assemble, changed_parts, split
from mesospaas.model.ids import AppVersion, TaskId
from mesospaas.placement import AppDiagnostics, Profile, default_profile, place
from mesospaas.reconcile.reconcile_app import apply_result, reconcile_app
from scheduler.acting import ActingGate, RuntimeStopped
from scheduler.codecs import CodecError, decode, encode
from scheduler.events import EventBus, instance_changed_event, status_update_event
from scheduler.mesos_adapter import AdapterError, offer_from_mesos, status_facts, task_info
from scheduler.mesos_driver import (AgentLost, Disconnected, ExecutorLost, FrameworkSettings, MesosCallError,
                                    MesosDriver, MesosError, MesosEvent, OfferRescinded, OffersReceived,
                                    StatusReceived, Subscribed)
from scheduler.store import Change, Delete, Put, Store

log = logging.getLogger(__name__)

INSTANCES, BACKOFFS, FRAMEWORK, GROUPS, DEPLOYMENTS = "instances", "backoffs", "framework", "groups", "deployments"
APPS, DEFINITIONS = "apps", "app_definitions"
LEGACY_ROOT_KEY = "root"
"""Before apps and groups were stored one by one, ``groups/root`` held the whole tree; it is migrated on load."""
MAX_STORED_VERSIONS = 25
STAGING = frozenset({Condition.PROVISIONED, Condition.STAGING, Condition.STARTING})
MAX_STATUS_BATCH = 2000
TERMINAL_STATES = frozenset({"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_DROPPED",
                             "TASK_GONE", "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN"})


@dataclass
class RuntimeSettings:
    master: str = "127.0.0.1:5050"
    tick_interval: float = 1.0
    task_launch_timeout: float = 300.0
    kill_retry_interval: float = 10.0
    reconciliation_interval: float = 600.0
    decline_refuse_seconds: float = 120.0
    max_launches_per_round: int = 5000
    max_app_versions: int = MAX_STORED_VERSIONS
    """How many definitions of each app are kept (``/v2/apps/{id}/versions``, rollback); older ones are dropped."""
    seed: int | None = None


@dataclass(frozen=True)
class RunningDeployment:
    """A deployment in progress, as persisted: its plan and the index of its current step."""

    plan: DeploymentPlan
    step_index: int = 0


class _Command:
    """An app command from the API, run on the runtime's task; its result goes back through a future."""

    def __init__(self, fn: Callable[[], Awaitable[Any]]) -> None:
        self.fn = fn
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()


@dataclass
class RuntimeStats:
    offers_received: int = 0
    offers_declined: int = 0
    tasks_launched: int = 0
    status_updates: int = 0
    unknown_tasks_killed: int = 0
    rounds: int = 0


@dataclass
class _State:
    root: Group = field(default_factory=lambda: Group(ROOT))
    apps: dict[AppId, AppSpec] = field(default_factory=dict)
    """The apps of ``root`` (the target of every deployment), by id."""
    deployments: dict[DeploymentId, RunningDeployment] = field(default_factory=dict)
    definitions: dict[AppId, dict[AppVersion, bytes]] = field(default_factory=dict)
    """Each app's definitions as the API received them (opaque JSON bytes), by version, newest last."""
    instances: dict[InstanceId, Instance] = field(default_factory=dict)
    backoffs: dict[AppId, Backoff] = field(default_factory=dict)
    framework_id: str | None = None


class SchedulerRuntime:
    def __init__(self, store: Store, settings: RuntimeSettings, framework: FrameworkSettings | None = None,
                 profile: Profile | None = None, clock: Callable[[], float] = time.time,
                 events: EventBus | None = None, gate: ActingGate | None = None) -> None:
        self.store = store
        self.gate = gate
        """Under leader election: every store write and Mesos call waits for it, and stops on ``NotLeader``."""
        self.events = events or EventBus()
        self.settings = settings
        self.framework = framework or FrameworkSettings()
        self.profile = profile or default_profile()
        self.clock = clock
        seed = settings.seed if settings.seed is not None else random.SystemRandom().getrandbits(64)
        log.info("placement random seed %d", seed)
        self.rng = random.Random(seed)
        self.new_ids = random_instance_ids(self.rng)
        self.new_deployment_ids = random_deployment_ids(self.rng)
        self.plan_json: Callable[[DeploymentPlan], dict[str, Any]] = _light_plan_json
        self.state = _State()
        self.generation = 0
        """Bumped after every committed change; what is rendered from the state stays valid while it holds."""
        self.diagnostics: dict[AppId, AppDiagnostics] = {}
        self.stats = RuntimeStats()
        self.subscribed = asyncio.Event()
        self._events: asyncio.Queue[MesosEvent | _Command | None] = asyncio.Queue()
        self._driver: MesosDriver | None = None
        self._interest = OfferInterestState()
        self._kills_sent: dict[TaskId, float] = {}
        self._last_mesos_reconcile = 0.0
        self._tasks: list[asyncio.Task[Any]] = []
        self._failed: BaseException | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        await self._load()
        loop = asyncio.get_running_loop()
        self._driver = MesosDriver(self.settings.master, self.framework, self.state.framework_id,
                                   self._events.put_nowait, loop, self.gate)
        self._tasks = [loop.create_task(self._run(), name="scheduler-runtime"),
                       loop.create_task(self._ticker(), name="scheduler-ticker")]
        await self._driver.start()

    def finished(self) -> asyncio.Future[Any]:
        """Done when the runtime's loop has ended (stopped, or failed: see ``_failed``)."""
        return asyncio.gather(*self._tasks[:1], return_exceptions=True)

    async def stop(self) -> None:
        """Stops acting, then disconnects from Mesos, leaving the framework and its tasks in place.

        Events still queued are dropped: unacknowledged updates are re-sent by Mesos to the next leader.
        """
        self._events.put_nowait(None)
        for task in self._tasks:
            if task.get_name() == "scheduler-ticker":
                task.cancel()
        for task in self._tasks:
            try:
                await asyncio.wait_for(task, 30)
            except (asyncio.CancelledError, asyncio.TimeoutError):
                pass
            except Exception:  # already logged by _run; stopping goes on
                pass
        self._tasks = []
        if self._driver is not None:
            await self._driver.stop()
            self._driver = None

    async def _load(self) -> None:
        def read() -> _State:
            state = _State()
            raw_nodes = self.store.load(GROUPS)
            legacy = raw_nodes.pop(LEGACY_ROOT_KEY, None)
            nodes = {GroupId(k): decode(GroupNode, v) for k, v in raw_nodes.items()}
            apps = [decode(AppSpec, v) for v in self.store.load(APPS).values()]
            state.root = assemble(nodes, apps)
            if legacy is not None:
                state.root = decode(Group, legacy)
                migrate = self._root_changes(changed_parts(state.root, state.root), split(state.root))
                self.store.commit([*migrate, Delete(GROUPS, LEGACY_ROOT_KEY)])
                log.info("migrated the stored root group to one record per app and group")
            state.apps = dict(state.root.all_apps())
            for key, raw in sorted(self.store.load(DEFINITIONS).items()):
                app_id, _, version = key.rpartition("@")
                state.definitions.setdefault(AppId(app_id), {})[AppVersion(version)] = raw
            for key, raw in self.store.load(DEPLOYMENTS).items():
                running = decode(RunningDeployment, raw)
                state.deployments[running.plan.id] = running
            for key, raw in self.store.load(INSTANCES).items():
                instance = decode(Instance, raw)
                state.instances[instance.id] = instance
            for key, raw in self.store.load(BACKOFFS).items():
                backoff = decode(Backoff, raw)
                state.backoffs[backoff.app_id] = backoff
            framework_id = self.store.get(FRAMEWORK, "id")
            state.framework_id = framework_id.decode() if framework_id else None
            return state
        started = time.monotonic()
        try:
            self.state = await asyncio.to_thread(read)
        except CodecError as exc:
            raise RuntimeError(f"the store holds data this version cannot read: {exc}") from exc
        log.info("loaded %d apps, %d instances, %d deployments, framework id %s in %.2f s", len(self.state.apps),
                 len(self.state.instances), len(self.state.deployments), self.state.framework_id,
                 time.monotonic() - started)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tick_interval)
            self._events.put_nowait(_Command(self._tick))

    async def _run(self) -> None:
        nothing = object()
        ahead: object = nothing  # an item taken from the queue while batching (it may be the stop marker None)
        while True:
            if ahead is not nothing:
                item, ahead = ahead, nothing
            else:
                item = await self._events.get()
            if item is None:
                return
            try:
                if isinstance(item, StatusReceived):
                    # Updates that queued up while we were busy form one batch: one commit, one
                    # reconciliation, then the acknowledgements.
                    batch = [item.status]
                    while len(batch) < MAX_STATUS_BATCH and not self._events.empty():
                        nxt = self._events.get_nowait()
                        if not isinstance(nxt, StatusReceived):
                            ahead = nxt
                            break
                        batch.append(nxt.status)
                    await self._on_statuses(batch)
                elif isinstance(item, _Command):
                    await self._run_command(item)
                else:
                    await self._on_event(item)
            except Exception as exc:
                log.exception("scheduler runtime stopped: %s", exc)
                self._failed = exc
                raise

    async def _run_command(self, command: _Command) -> None:
        try:
            result = await command.fn()
        except Exception as exc:
            if not command.future.done():
                command.future.set_exception(exc)
            if not _expected(exc):
                raise
        else:
            if not command.future.done():
                command.future.set_result(result)

    async def submit(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Runs ``fn`` on the runtime's task, in order with Mesos events; returns its result."""
        if self._failed is not None:
            raise RuntimeStopped(f"the scheduler runtime has stopped: {self._failed}")
        command = _Command(fn)
        self._events.put_nowait(command)
        return await command.future

    # -- persistence ----------------------------------------------------------------------------------
    async def _commit(self, changes: list[Change]) -> None:
        if changes:
            if self.gate is not None:
                await self.gate.check()
            await asyncio.to_thread(self.store.commit, changes)
            self.generation += 1  # readers (the API's response cache) know the state moved on

    @staticmethod
    def _put_instance(instance: Instance) -> Put:
        return Put(INSTANCES, instance.id, encode(instance))

    @staticmethod
    def _root_changes(parts: PartChanges,
                      everything: tuple[dict[GroupId, GroupNode], dict[AppId, AppSpec]] | None = None) -> list[Change]:
        """The store changes that move the stored root by ``parts`` (or write ``everything`` anew)."""
        nodes, apps = everything if everything is not None else (parts.put_nodes, parts.put_apps)
        changes: list[Change] = [Delete(GROUPS, g) for g in sorted(parts.deleted_nodes)]
        changes += [Delete(APPS, a) for a in sorted(parts.deleted_apps)]
        changes += [Put(GROUPS, g, encode(n)) for g, n in nodes.items()]
        changes += [Put(APPS, a, encode(app)) for a, app in apps.items()]
        return changes

    @staticmethod
    def _put_deployment(running: RunningDeployment) -> Put:
        """A running deployment as stored: its plan pruned to what it changes, so its size does not grow
        with the number of apps."""
        return Put(DEPLOYMENTS, running.plan.id, encode(replace(running, plan=pruned(running.plan))))

    # -- app commands ---------------------------------------------------------------------------------
    async def put_app(self, app: AppSpec, *, force: bool = True) -> DeploymentPlan:
        """Creates or replaces one app (a deployment)."""
        return await self.deploy(lambda root: root.update_app(app), force=force)

    async def delete_app(self, app_id: AppId, *, force: bool = True) -> bool:
        """Removes one app (a deployment stops it). False if there is no such app."""
        async def exists() -> bool:
            return app_id in self.state.apps
        if not await self.submit(exists):
            return False
        await self.deploy(lambda root: root.remove_app(app_id), force=force)
        return True

    async def deploy(self, edit: Callable[[Group], Group], *, force: bool = False, dry_run: bool = False,
                     restart: Iterable[AppId] = (), definitions: dict[AppId, bytes] | None = None) -> DeploymentPlan:
        """Applies ``edit`` to the root group as one deployment.

        Raises ``DeploymentRejected`` (invalid change, dependency cycle) or ``DeploymentConflict`` (apps locked
        by running deployments; ``force`` cancels those instead). With ``dry_run`` nothing changes."""
        async def run() -> DeploymentPlan:
            now = self.clock()
            original = self.state.root
            try:
                target = assign_versions(original, edit(original), now, restart=tuple(restart))
            except CoreError as exc:
                raise DeploymentRejected(str(exc)) from exc
            result = plan(original, target, now, self.new_deployment_ids)
            if isinstance(result, DependencyCycle):
                raise DeploymentRejected(result.message)
            if dry_run:
                return result
            return await self._start_deployment(result, force, now, definitions or {})
        deployment: DeploymentPlan = await self.submit(run)
        return deployment

    async def cancel_deployment(self, deployment_id: DeploymentId, *, rollback: bool) -> DeploymentPlan | None:
        """Stops a deployment; with ``rollback`` starts the deployment back to its original state.

        Raises KeyError for an unknown id."""
        async def run() -> DeploymentPlan | None:
            running = self.state.deployments[deployment_id]
            now = self.clock()
            await self._commit([Delete(DEPLOYMENTS, deployment_id)])
            del self.state.deployments[deployment_id]
            if self.events.wants("deployment_failed"):
                self.events.publish("deployment_failed", now, id=deployment_id,
                                    plan=self.plan_json(running.plan), reason="canceled")
            self._group_change(running.plan, now, failed="canceled")
            if not rollback:
                await self._reconcile_apps(running.plan.affected_apps)
                return None
            back = revert(running.plan, self.state.root, now, self.new_deployment_ids)
            if isinstance(back, DependencyCycle):
                raise DeploymentRejected(back.message)
            return await self._start_deployment(back, True, now)
        result: DeploymentPlan | None = await self.submit(run)
        return result

    async def _start_deployment(self, deployment: DeploymentPlan, force: bool, now: float,
                                definitions: dict[AppId, bytes] | None = None) -> DeploymentPlan:
        locked = conflicts(deployment, [d.plan for d in self.state.deployments.values()])
        if locked and not force:
            raise DeploymentConflict(locked)
        parts = changed_parts(self.state.root, deployment.target)
        changes = self._root_changes(parts)
        kept = self._definition_changes(deployment, parts, definitions or {}, changes)
        changes += [Delete(DEPLOYMENTS, d) for d in locked]
        if not deployment.is_empty:
            changes.append(self._put_deployment(RunningDeployment(deployment)))
        await self._commit(changes)  # the intent is persisted before anything acts on it
        for d in locked:
            cancelled = self.state.deployments.pop(d)
            if self.events.wants("deployment_failed"):
                self.events.publish("deployment_failed", now, id=d, plan=self.plan_json(cancelled.plan),
                                    reason="overridden by a forced deployment")
            self._group_change(cancelled.plan, now, failed="overridden by a forced deployment")
        self.state.root = deployment.target
        for removed in parts.deleted_apps:
            self.state.apps.pop(removed, None)
        self.state.apps.update(parts.put_apps)
        self.state.definitions = kept
        for removed in parts.deleted_apps:
            self.state.backoffs.pop(removed, None)
            self.diagnostics.pop(removed, None)
        if not deployment.is_empty:
            self.state.deployments[deployment.id] = RunningDeployment(deployment)
            if self.events.wants("deployment_info"):
                self.events.publish("deployment_info", now, plan=self.plan_json(deployment),
                                    currentStep=_step_json(deployment, 0))
        await self._advance_deployments()
        await self._reconcile_apps(deployment.affected_apps)
        await self._revive_for(deployment.affected_apps)
        return deployment

    def _definition_changes(self, deployment: DeploymentPlan, parts: PartChanges, given: dict[AppId, bytes],
                            changes: list[Change]) -> dict[AppId, dict[AppVersion, bytes]]:
        """Stores the definitions of changed apps under their new versions (bounded history); drops removed apps'."""
        kept = dict(self.state.definitions)
        for app_id in parts.deleted_apps:
            for version in kept.pop(app_id, {}):
                changes.append(Delete(DEFINITIONS, f"{app_id}@{version}"))
        for app_id, raw in given.items():
            app = deployment.target.app(app_id)
            if app is None:
                continue
            versions = kept[app_id] = dict(kept.get(app_id, {}))
            versions[app.version] = raw
            changes.append(Put(DEFINITIONS, f"{app_id}@{app.version}", raw))
            for old in sorted(versions)[:-self.settings.max_app_versions]:
                del versions[old]
                changes.append(Delete(DEFINITIONS, f"{app_id}@{old}"))
        return kept

    def app_definition(self, app_id: AppId, version: AppVersion | None = None) -> bytes | None:
        """The definition of ``app_id`` at ``version`` (default: its current version), as the API stored it."""
        app = self.state.apps.get(app_id)
        versions = self.state.definitions.get(app_id, {})
        if version is None:
            if app is None:
                return None
            return versions.get(app.version)
        return versions.get(version)

    def app_versions(self, app_id: AppId) -> list[AppVersion]:
        return sorted(self.state.definitions.get(app_id, {}), reverse=True)

    async def kill_tasks(self, task_ids: Iterable[TaskId], *, scale: bool, wipe: bool,
                         force: bool = False) -> tuple[list[Instance], DeploymentPlan | None]:
        """Kills tasks. ``scale``: also lowers the apps' instance counts (a deployment); ``wipe``: the
        instances are forgotten instead of relaunched. Returns the instances whose tasks are killed."""
        async def run() -> tuple[list[Instance], DeploymentPlan | None]:
            now = self.clock()
            targets: list[Instance] = []
            for task in task_ids:
                try:
                    instance_id, incarnation = parse_task_id(task)
                except ValueError:
                    continue
                instance = self.state.instances.get(instance_id)
                if instance is not None and instance.incarnation == incarnation and instance.has_live_task:
                    targets.append(instance)
            plan_: DeploymentPlan | None = None
            if scale or wipe:
                changed = [replace(i, goal=Goal.DECOMMISSIONED) for i in targets]
                await self._commit([self._put_instance(i) for i in changed])
                for instance in changed:
                    self.state.instances[instance.id] = instance
            if scale and targets:
                counts: dict[AppId, int] = {}
                for instance in targets:
                    counts[instance.app_id] = counts.get(instance.app_id, 0) + 1
                root = self.state.root
                for app_id, n in counts.items():
                    app = root.app(app_id)
                    if app is not None:
                        root = root.update_app(replace(app, instances=max(0, app.instances - n)))
                target = assign_versions(self.state.root, root, now)
                result = plan(self.state.root, target, now, self.new_deployment_ids)
                if isinstance(result, DependencyCycle):
                    raise DeploymentRejected(result.message)
                plan_ = await self._start_deployment(result, force, now, self._scaled_definitions(counts))
            for instance in targets:
                if instance.task_id is not None:
                    self._kills_sent.pop(instance.task_id, None)
                    await self._kill(instance.task_id, now)
            return targets, plan_
        result: tuple[list[Instance], DeploymentPlan | None] = await self.submit(run)
        return result

    def _scaled_definitions(self, counts: dict[AppId, int]) -> dict[AppId, bytes]:
        """Current definitions with ``instances`` lowered, for a scale caused by killing tasks."""
        out: dict[AppId, bytes] = {}
        for app_id, n in counts.items():
            raw = self.app_definition(app_id)
            if raw is not None:
                definition = json.loads(raw)
                definition["instances"] = max(0, int(definition.get("instances", 0)) - n)
                out[app_id] = json.dumps(definition).encode()
        return out

    async def reset_delay(self, app_id: AppId) -> bool:
        """``DELETE /v2/queue/{id}/delay``: forget the app's launch backoff. False if nothing was delayed."""
        async def run() -> bool:
            if app_id not in self.state.backoffs:
                return False
            await self._commit([Delete(BACKOFFS, app_id)])
            del self.state.backoffs[app_id]
            await self._decide_offer_interest()
            return True
        result: bool = await self.submit(run)
        return result

    def launch_queue(self) -> Any:
        now = self.clock()
        return launch_queue(self._snapshot(now), self.state.backoffs, now)

    async def _advance_deployments(self) -> None:
        """Moves each running deployment on as far as its instances allow; finishes the done ones."""
        now = self.clock()
        by_app = self._instances_by_app(a for d in self.state.deployments.values() for a in d.plan.affected_apps)
        for deployment_id, running in list(self.state.deployments.items()):
            state = progress(running.plan, running.step_index,
                             {a: by_app[a] for a in running.plan.affected_apps})
            if state.step_index == running.step_index and not state.finished:
                continue
            if state.finished:
                await self._commit([Delete(DEPLOYMENTS, deployment_id)])
                del self.state.deployments[deployment_id]
            else:
                advanced = RunningDeployment(running.plan, state.step_index)
                await self._commit([self._put_deployment(advanced)])
                self.state.deployments[deployment_id] = advanced
            for step in state.completed_steps:
                if self.events.wants("deployment_step_success"):
                    self.events.publish("deployment_step_success", now, plan=self.plan_json(running.plan),
                                        currentStep=_step_json(running.plan, step))
            if state.finished:
                log.info("deployment %s finished", deployment_id)
                if self.events.wants("deployment_success"):
                    self.events.publish("deployment_success", now, id=deployment_id,
                                        plan=self.plan_json(running.plan))
                self._group_change(running.plan, now)
                for app_id in running.plan.original.all_apps().keys() - self.state.apps.keys():
                    self.events.publish("app_terminated_event", now, appId=app_id)

    def _group_change(self, deployment: DeploymentPlan, now: float, failed: str | None = None) -> None:
        """Marathon's ``group_change_success`` / ``group_change_failed``: the root group's change ended."""
        if failed is None:
            if self.events.wants("group_change_success"):
                self.events.publish("group_change_success", now, groupId=deployment.target.id,
                                    version=deployment.version)
        elif self.events.wants("group_change_failed"):
            self.events.publish("group_change_failed", now, groupId=deployment.target.id,
                                version=deployment.version, reason=failed)

    def _instances_by_app(self, app_ids: Iterable[AppId]) -> dict[AppId, tuple[Instance, ...]]:
        wanted = set(app_ids)
        grouped: dict[AppId, list[Instance]] = {a: [] for a in wanted}
        for instance in self.state.instances.values():
            if instance.app_id in wanted:
                grouped[instance.app_id].append(instance)
        return {a: tuple(v) for a, v in grouped.items()}

    def _reconcile_inputs(self) -> dict[AppId, tuple[AppSpec | None, DeploymentStep | None]]:
        """What the reconciler works towards per app: the root's app, unless a deployment says otherwise."""
        inputs: dict[AppId, tuple[AppSpec | None, DeploymentStep | None]] = {
            app_id: (app, None) for app_id, app in self.state.apps.items()}
        by_app = self._instances_by_app(a for d in self.state.deployments.values() for a in d.plan.affected_apps)
        for running in self.state.deployments.values():
            state = progress(running.plan, running.step_index, {a: by_app[a] for a in running.plan.affected_apps})
            for app_id, given in state.inputs.items():
                inputs[app_id] = (given.app, given.deployment)
        return inputs

    def instances_of(self, app_id: AppId) -> list[Instance]:
        return [i for i in self.state.instances.values() if i.app_id == app_id]

    # -- events ---------------------------------------------------------------------------------------
    async def _on_event(self, event: MesosEvent) -> None:
        if isinstance(event, OffersReceived):
            await self._on_offers(event.offers)
        elif isinstance(event, StatusReceived):
            await self._on_statuses([event.status])
        elif isinstance(event, Subscribed):
            await self._on_subscribed(event)
        elif isinstance(event, MesosError):
            log.error("Mesos reports an error: %s", event.message)
        elif isinstance(event, Disconnected):
            log.warning("disconnected from the Mesos master; pymesos reconnects")
            self.events.publish("scheduler_disconnected_event")
            self.subscribed.clear()
            self._interest = OfferInterestState()
        elif isinstance(event, (AgentLost, ExecutorLost, OfferRescinded)):
            log.info("Mesos: %s", event)

    async def _on_subscribed(self, event: Subscribed) -> None:
        if self.state.framework_id != event.framework_id:
            await self._commit([Put(FRAMEWORK, "id", event.framework_id.encode())])
            self.state.framework_id = event.framework_id
        log.info("subscribed as framework %s (%s)", event.framework_id,
                 "re-registered" if event.reregistered else "registered")
        if event.reregistered:
            self.events.publish("scheduler_reregistered_event", master=self.settings.master)
        else:
            self.events.publish("scheduler_registered_event", frameworkId=event.framework_id,
                                master=self.settings.master)
        self.subscribed.set()
        # Offers stay suppressed until something needs them; explicit then implicit task reconciliation.
        self._interest = OfferInterestState(wanted_roles=frozenset({self.framework.role}))
        await self._reconcile_with_mesos()
        await self._decide_offer_interest()

    async def _reconcile_with_mesos(self) -> None:
        assert self._driver is not None
        known = [i.task_id for i in self.state.instances.values() if i.task_id is not None and i.has_live_task]
        try:
            if known:
                await self._driver.reconcile([str(t) for t in known])
            await self._driver.reconcile([])
        except MesosCallError as exc:
            log.warning("task reconciliation failed: %s", exc)
        self._last_mesos_reconcile = self.clock()

    async def _on_offers(self, raw_offers: Iterable[dict[str, Any]]) -> None:
        assert self._driver is not None
        now = self.clock()
        offers = []
        for raw in raw_offers:
            self.stats.offers_received += 1
            try:
                offers.append((offer_from_mesos(raw), raw))
            except AdapterError as exc:
                log.warning("declining an offer I cannot read: %s", exc)
                await self._decline([raw["id"]["value"]], self.settings.decline_refuse_seconds)
        if not offers:
            return
        snapshot = self._snapshot(now)
        queue = launch_queue(snapshot, self.state.backoffs, now)
        pending = queue.pending[: self.settings.max_launches_per_round]
        if not pending:
            await self._decline([o.id for o, _ in offers], self.settings.decline_refuse_seconds)
            await self._decide_offer_interest(queue)
            return
        self.stats.rounds += 1
        result = place(snapshot, pending, [o for o, _ in offers], self.profile, self.rng)
        self.diagnostics.update(result.diagnostics)
        raw_by_id = {o.id: raw for o, raw in offers}
        allocation_roles = {o.id: o.allocation_role for o, _ in offers}
        updated: list[Instance] = []
        accepts: list[tuple[str, list[dict[str, Any]]]] = []
        for offer_id, launches in result.launches_by_offer().items():
            infos = []
            for launch in launches:
                instance = self.state.instances[launch.instance_id]
                app = snapshot.spec_for(launch.app_id, launch.app_version)
                try:
                    infos.append(task_info(launch, app, allocation_roles[offer_id]))
                except AdapterError as exc:
                    log.error("cannot launch %s: %s", launch.instance_id, exc)
                    continue
                updated.append(launched(instance, launch.agent, launch.host_ports, now))
            accepts.append((str(raw_by_id[offer_id]["id"]["value"]), infos))
        await self._commit([self._put_instance(i) for i in updated])  # persist intent before acting
        for instance in updated:
            self.state.instances[instance.id] = instance
        try:
            await self._driver.accept_all([([offer_id], [{"type": "LAUNCH", "launch": {"task_infos": infos}}])
                                           for offer_id, infos in accepts], refuse_seconds=5.0)
            self.stats.tasks_launched += sum(len(infos) for _, infos in accepts)
        except MesosCallError as exc:  # those tasks reconcile as lost and are launched again
            log.warning("ACCEPT failed: %s", exc)
        if result.declines:
            refuse = 5.0 if result.unplaced else self.settings.decline_refuse_seconds
            await self._decline([str(o) for o in result.declines], refuse)
        log.debug("offer round: %d offers, %d launched, %d unplaced", len(offers), len(updated),
                  len(result.unplaced))

    async def _decline(self, offer_ids: list[str], refuse: float) -> None:
        assert self._driver is not None
        self.stats.offers_declined += len(offer_ids)
        try:
            await self._driver.decline(offer_ids, refuse)
        except MesosCallError as exc:
            log.warning("DECLINE failed: %s", exc)

    async def _on_statuses(self, statuses: list[dict[str, Any]]) -> None:
        """Status updates: persist what they change, then acknowledge, then reconcile the apps they touch."""
        assert self._driver is not None
        now = self.clock()
        updated: dict[InstanceId, Instance] = {}
        backoffs: dict[AppId, Backoff] = {}
        unknown: list[TaskId] = []
        acks: list[dict[str, Any]] = []
        published: list[tuple[Instance, dict[str, Any]]] = []
        for status in statuses:
            self.stats.status_updates += 1
            try:
                facts = status_facts(status)
            except AdapterError as exc:
                log.error("ignoring a status update: %s", exc)
                continue
            if facts.acknowledge:
                acks.append(status)
            instance = None
            incarnation = 0
            try:
                instance_id, incarnation = parse_task_id(facts.task_id)
                instance = updated.get(instance_id) or self.state.instances.get(instance_id)
            except ValueError:
                pass
            if instance is None or incarnation != instance.incarnation:
                if facts.state not in TERMINAL_STATES and facts.state != "TASK_LOST":
                    log.warning("killing task %s that no instance owns (%s)", facts.task_id, facts.state)
                    unknown.append(TaskId(facts.task_id))
                continue
            after = with_task_status(instance, TaskId(facts.task_id), facts.state, facts.reason, now,
                                     facts.healthy)
            app = self.state.apps.get(instance.app_id)
            if app is not None and is_launch_failure(after.condition) and not is_launch_failure(instance.condition) \
                    and after.goal.value == "Running":
                backoff = after_failure(backoffs.get(app.id) or self.state.backoffs.get(app.id), app, now)
                backoffs[app.id] = backoff
                log.info("%s: task %s %s (%s); next launch in %.1fs", app.id, facts.task_id, facts.state,
                         facts.message, backoff.delay)
            if after != instance:
                updated[after.id] = after
            published.append((after, status))
        changes: list[Change] = [self._put_instance(i) for i in updated.values()]
        changes += [Put(BACKOFFS, app_id, encode(b)) for app_id, b in backoffs.items()]
        await self._commit(changes)  # persist before acknowledging
        self.state.instances.update(updated)
        self.state.backoffs.update(backoffs)
        for instance, status in published:
            status_update_event(self.events, instance, status, now)
        for instance in updated.values():
            instance_changed_event(self.events, instance, now)
            if instance.is_terminal and instance.task_id is not None:
                self._kills_sent.pop(instance.task_id, None)
        for task in unknown:
            self.stats.unknown_tasks_killed += 1
            await self._kill(task, now)
        await self._acknowledge(acks)
        apps = {i.app_id for i in updated.values()}
        if apps:
            if self.state.deployments:
                await self._advance_deployments()
            await self._reconcile_apps(apps)
            await self._decide_offer_interest()

    async def _acknowledge(self, statuses: list[dict[str, Any]]) -> None:
        assert self._driver is not None
        try:
            await self._driver.acknowledge_all(statuses)
        except MesosCallError as exc:
            log.warning("acknowledgements failed (Mesos will re-send): %s", exc)

    # -- reconciliation -------------------------------------------------------------------------------
    def _snapshot(self, now: float) -> Snapshot:
        specs = {a: spec for a, (spec, _) in self._reconcile_inputs().items() if spec is not None}
        versions: dict[tuple[AppId, AppVersion], AppSpec] = {}
        for running in self.state.deployments.values():
            for root in (running.plan.original, running.plan.target):
                for app in root.all_apps().values():
                    versions[(app.id, app.version)] = app
        for app in self.state.apps.values():
            versions.pop((app.id, app.version), None)
        # A scale-only change gives the app a new version but keeps its config: instances labelled with the
        # version before the scale run (and are relaunched with) the current spec.
        for instance in self.state.instances.values():
            spec = specs.get(instance.app_id)
            key = (instance.app_id, instance.app_version)
            if spec is not None and instance.app_version != spec.version and key not in versions:
                versions[key] = replace(spec, version=instance.app_version)
        base = Snapshot.of(specs.values(), self.state.instances.values(), now)
        return Snapshot(apps=base.apps, instances=base.instances, now=now, app_versions=versions)

    async def _reconcile_apps(self, app_ids: Iterable[AppId]) -> None:
        now = self.clock()
        by_app: dict[AppId, list[Instance]] = {}
        wanted = set(app_ids)
        for instance in self.state.instances.values():
            if instance.app_id in wanted:
                by_app.setdefault(instance.app_id, []).append(instance)
        changes: list[Change] = []
        kills: list[Instance] = []
        results = []
        inputs = self._reconcile_inputs()
        for app_id in wanted:
            app, step = inputs.get(app_id, (None, None))
            instances = by_app.get(app_id, [])
            result = reconcile_app(app, instances, now, new_ids=self.new_ids,
                                   backoff=self.state.backoffs.get(app_id), deployment=step)
            if not result.changes_nothing:
                after = {i.id: i for i in apply_result(instances, result)}
                before = {i.id: i for i in instances}
                for iid, inst in after.items():
                    if before.get(iid) != inst:
                        changes.append(self._put_instance(inst))
                for iid in result.expunge:
                    changes.append(Delete(INSTANCES, iid))
                results.append((before, after, result))
            for iid in result.kill:
                kills.append(next(i for i in instances if i.id == iid))
        await self._commit(changes)
        for before, after, result in results:
            for iid in before:
                if iid not in after:
                    self.state.instances.pop(iid, None)
            self.state.instances.update(after)
            if result.create:
                log.info("%s: scheduled %d new instance(s)", result.create[0].app_id, len(result.create))
        for instance in kills:
            if instance.task_id is not None:
                await self._kill(instance.task_id, now)

    async def _kill(self, task: TaskId, now: float) -> None:
        assert self._driver is not None
        last = self._kills_sent.get(task)
        if last is not None and now - last < self.settings.kill_retry_interval:
            return
        self._kills_sent[task] = now
        try:
            await self._driver.kill(str(task))
        except MesosCallError as exc:
            log.warning("KILL of %s failed (will retry): %s", task, exc)

    async def _revive_for(self, app_ids: Iterable[AppId]) -> None:
        """After a change to ``app_ids``: REVIVE if they now have instances to launch.

        Looks at those apps only (a full launch queue over every instance costs milliseconds per thousand
        apps); suppressing, which needs the whole queue, is left to the next tick."""
        if self._driver is None or not self.subscribed.is_set():
            return
        now = self.clock()
        wanted = set(app_ids)
        inputs = self._reconcile_inputs()
        specs = [spec for a in wanted if (spec := inputs.get(a, (None, None))[0]) is not None]
        instances = [i for i in self.state.instances.values() if i.app_id in wanted]
        queue = launch_queue(Snapshot.of(specs, instances, now), self.state.backoffs, now)
        if not queue.pending:
            return
        decision = decide_offer_interest(queue, self._interest, frozenset({self.framework.role}))
        self._interest = OfferInterestState(wanted_roles=self._interest.wanted_roles | decision.state.wanted_roles,
                                            queued=self._interest.queued | decision.state.queued)
        if decision.revive:
            try:
                await self._driver.revive()
            except MesosCallError as exc:
                log.warning("REVIVE failed: %s", exc)
                self._interest = OfferInterestState()

    async def _decide_offer_interest(self, queue: Any = None) -> None:
        if self._driver is None or not self.subscribed.is_set():
            return
        now = self.clock()
        if queue is None:
            queue = launch_queue(self._snapshot(now), self.state.backoffs, now)
        decision = decide_offer_interest(queue, self._interest, frozenset({self.framework.role}))
        self._interest = decision.state
        try:
            if decision.revive:
                await self._driver.revive()
            elif decision.suppress:
                await self._driver.suppress()
        except MesosCallError as exc:
            log.warning("REVIVE/SUPPRESS failed: %s", exc)
            self._interest = OfferInterestState()

    async def _tick(self) -> None:
        now = self.clock()
        await self._advance_deployments()
        app_ids = set(self.state.apps) | {i.app_id for i in self.state.instances.values()}
        await self._reconcile_apps(app_ids)
        # Tasks stuck in staging are killed; their terminal update then gets them replaced.
        for instance in list(self.state.instances.values()):
            if instance.condition in STAGING and instance.staged_at is not None and instance.task_id \
                    and now - instance.staged_at > self.settings.task_launch_timeout:
                log.warning("%s: task %s staging for %.0fs; killing it", instance.app_id, instance.task_id,
                            now - instance.staged_at)
                await self._kill(instance.task_id, now)
        # Backoff ends after a stable run or when it no longer applies.
        changes: list[Change] = []
        for app_id, backoff in list(self.state.backoffs.items()):
            app = self.state.apps.get(app_id)
            still = current(backoff, app, now) if app is not None else None
            if still is not None and app is not None:
                for instance in self.state.instances.values():
                    if instance.app_id == app_id and instance.condition is Condition.RUNNING and \
                            instance.started_at is not None:
                        still = after_stable_run(still, app, instance.started_at, now)
                        if still is None:
                            break
            if still is None:
                changes.append(Delete(BACKOFFS, app_id))
        if changes:
            await self._commit(changes)
            for change in changes:
                self.state.backoffs.pop(AppId(change.key), None)
        await self._decide_offer_interest()
        if self._driver is not None and self.subscribed.is_set() and \
                now - self._last_mesos_reconcile > self.settings.reconciliation_interval:
            await self._reconcile_with_mesos()


def _expected(exc: BaseException) -> bool:
    """Errors an app command reports to its caller without stopping the runtime."""
    return isinstance(exc, (ValueError, KeyError, LookupError, DeploymentConflict))


def _step_json(deployment: DeploymentPlan, index: int) -> dict[str, Any]:
    if not 0 <= index < len(deployment.steps):
        return {"actions": []}
    return {"actions": [{"action": a.name, "app": a.app} for a in deployment.steps[index].actions]}


def _light_plan_json(deployment: DeploymentPlan) -> dict[str, Any]:
    """The light plan format; the API layer installs the full one (with ``original`` and ``target``)."""
    return {"id": deployment.id, "version": deployment.version,
            "steps": [_step_json(deployment, i) for i in range(len(deployment.steps))]}


__all__ = ["RuntimeSettings", "SchedulerRuntime", "replace"]
