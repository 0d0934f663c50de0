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
from typing import Any, TypeVar

from mesospaas.deploy import assign_versions, conflicts, plan, progress, pruned, revert, versions_in_flight
from mesospaas.deploy.progress import Progress
from mesospaas.deploy.supervision import (DeploymentState, Supervision, Verdict, canary_holds, continued,
                                          count_failure, resumed, started, supervise, wants_rollback)
from mesospaas.errors import CoreError, DeploymentConflict, DeploymentRejected
from mesospaas.launch.backoff import Backoff, after_failure, after_stable_run, current, is_launch_failure
from mesospaas.launch.offer_interest import OfferInterestState, decide_offer_interest
from mesospaas.launch.queue import LaunchQueue, launch_queue
from mesospaas.model import AppId, AppSpec, Condition, Goal, Instance, InstanceId, Snapshot, launched, \
    parse_task_id, random_instance_ids, with_task_status
from mesospaas.model.deployment import DeploymentId, DeploymentPlan, DeploymentStep, random_deployment_ids
from mesospaas.model.group import ROOT, DependencyCycle, Group, GroupId
from mesospaas.model.group_parts import GroupNode, PartChanges, assemble, changed_parts, split
from mesospaas.model.ids import AppVersion, TaskId
from mesospaas.model.task_failure import TaskFailure
from mesospaas.model.task_failure import from_health_kill, from_status as task_failure_from_status
from mesospaas.jobs.history import DEFAULT_HISTORY_LIMIT
from mesospaas.jobs.step import JobsConfig
from mesospaas.placement import AppDiagnostics, Profile, default_profile, place
from mesospaas.reconcile.reconcile_app import apply_result, reconcile_app
from mesospaas.reconcile.time_driven import waits_on_time
from mesospaas.routing.service_ports import PortRange, ServicePortIndex, ServicePortRejected, with_service_ports
from mesospaas.tenancy.roles import framework_roles
from mesospaas.deploy.readiness import ReadinessResult, Target, targets as readiness_targets
from scheduler.acting import ActingGate, RuntimeStopped
from scheduler.health_worker import WorkerProbePool
from scheduler.readiness_probes import ReadinessProbes
from scheduler.codecs import CodecError, decode, encode
from scheduler import service_port_index, task_failures
from scheduler.secrets import NoSecrets, SecretError, SecretSource, decoded_definition
from scheduler.events import EventBus, instance_changed_event, status_update_event
from scheduler.executor_info import ExecutorSettings
from scheduler.health_checks import HealthChecking
from scheduler.framework_roles import sync_roles
from scheduler.jobs import JobsShell
from scheduler.mesos_adapter import AdapterError, kill_policy, offer_from_mesos, status_facts, task_info
from scheduler.metrics import Metrics
from scheduler.reconcile_followups import ReconcileFollowUps
from scheduler.mesos_driver import (AgentLost, Disconnected, ExecutorLost, FrameworkMessage, FrameworkSettings,
                                    MesosCallError, MesosDriver, MesosError, MesosEvent, OfferRescinded,
                                    OffersReceived, StatusReceived, Subscribed)
from scheduler.store import Change, Delete, Put, Store, StoreError
from scheduler.instance_table import InstanceTable
from scheduler.reconcile_sweep import RollingSweep
from scheduler.source_cache import SourceCache
from scheduler.store.zookeeper import BATCH_BUDGET, change_bytes
from scheduler.task_stats import TaskStats

log = logging.getLogger(__name__)

INSTANCES, BACKOFFS, FRAMEWORK, GROUPS, DEPLOYMENTS = "instances", "backoffs", "framework", "groups", "deployments"
DEPLOYMENT_HISTORY = "deployment_history"
MAX_DEPLOYMENT_HISTORY = 100
"""Finished deployments kept for ``GET /v2/deployments/{id}`` (the oldest are dropped)."""
APPS, DEFINITIONS = "apps", "app_definitions"
LEGACY_ROOT_KEY = "root"
"""Before apps and groups were stored one by one, ``groups/root`` held the whole tree; it is migrated on load."""
MAX_STORED_VERSIONS = 25
STAGING = frozenset({Condition.PROVISIONED, Condition.STAGING, Condition.STARTING})
MAX_STATUS_BATCH = 2000
MAX_DEPLOY_BATCH = 256
"""At most this many queued deploy commands are committed together (and at most ``BATCH_BUDGET`` bytes)."""
CALL_DRAIN_SECONDS = 10.0
"""At a stop, how long calls to Mesos still in flight may take before they are cancelled."""
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
    health_probe_worker: bool = False
    """Run the leader's HTTP/HTTPS/TCP health probes in a worker process (``scheduler.health_worker``)
    instead of on this process's event loop (``mesospaas serve``/``local`` default to the worker)."""
    service_ports: PortRange = PortRange()
    """Where service port 0 is assigned from (``--local-port-min/max``)."""
    job_history_limit: int = DEFAULT_HISTORY_LIMIT
    """Finished runs kept per job (``--job-history-count``; ``scheduler.jobs``)."""
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    """How agents start the mesospaas executor (``--executor-*``; ``scheduler.executor_info``)."""


@dataclass(frozen=True)
class RunningDeployment:
    """A deployment in progress, as persisted: its plan, the index of its current step, and its supervision
    (progress deadline, crash-loop count, canaries, pause: ``mesospaas.deploy.supervision``)."""

    plan: DeploymentPlan
    step_index: int = 0
    supervision: Supervision = Supervision()


@dataclass(frozen=True)
class FinishedDeployment:
    """A deployment that ended, kept (bounded) so ``GET /v2/deployments/{id}`` can say how it ended."""

    id: DeploymentId
    version: str
    affected_apps: tuple[AppId, ...]
    state: DeploymentState
    finished_at: float
    reason: str | None = None
    rollback_id: DeploymentId | None = None
    """The automatic rollback started when it failed."""
    rollback_of: DeploymentId | None = None
    """For a rollback: the deployment that failed."""


class _Command:
    """An app command from the API, run on the runtime's task; its result goes back through a future."""

    def __init__(self, fn: Callable[[], Awaitable[Any]]) -> None:
        self.fn = fn
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()


class _DeployCommand(_Command):
    """A deployment the API asked for (not a dry run). Alone it runs ``fn``; deploy commands queued behind
    each other are planned one by one and committed together (``SchedulerRuntime._deploy_together``)."""

    def __init__(self, fn: Callable[[], Awaitable[Any]], prepare: Callable[[Group, float], _Prepared]) -> None:
        super().__init__(fn)
        self.prepare = prepare


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A deploy command planned against a root: its plan and the definitions it stores."""

    deployment: DeploymentPlan
    definitions: dict[AppId, bytes]


_STATUS_PASSES: tuple[type, ...] = (OffersReceived, OfferRescinded, _DeployCommand)
"""A status update may be taken into a batch over queued offers and deploy commands: they do not
depend on each other's order. Anything else (a subscription, an agent lost, another command) ends the batch."""
_DEPLOY_PASSES: tuple[type, ...] = (StatusReceived, OffersReceived, OfferRescinded)
"""A deploy command may be taken into a batch over queued Mesos data (statuses, offers): a deployment is planned
from the root alone, and the instances are reconciled after it with whatever state the updates leave."""
_T = TypeVar("_T")


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
    instances: InstanceTable = field(default_factory=InstanceTable)
    """Every instance by id, indexed by app (``scheduler.instance_table``)."""
    backoffs: dict[AppId, Backoff] = field(default_factory=dict)
    framework_id: str | None = None
    task_failures: dict[AppId, TaskFailure] = field(default_factory=dict)
    """Each app's ``lastTaskFailure`` (``scheduler.task_failures``)."""
    finished: dict[DeploymentId, FinishedDeployment] = field(default_factory=dict)
    """Recently finished deployments, oldest first (at most ``MAX_DEPLOYMENT_HISTORY``)."""
    service_ports: ServicePortIndex = field(default_factory=ServicePortIndex)
    root_acyclic: bool = False
    """``root`` is known to have no dependency cycle (checked at load; every later root was planned)."""
    """The service ports of the apps' current definitions (``scheduler.service_port_index``)."""


class SchedulerRuntime:
    def __init__(self, store: Store, settings: RuntimeSettings, framework: FrameworkSettings | None = None,
                 profile: Profile | None = None, clock: Callable[[], float] = time.time,
                 events: EventBus | None = None, gate: ActingGate | None = None,
                 metrics: Metrics | None = None) -> None:
        self.metrics = metrics if metrics is not None else Metrics(process=False)  # metrics hook
        if metrics is None:  # metrics hook: a runtime of its own (tests) reports itself
            self.metrics.sources.platform = lambda: self
        self.store = self.metrics.metered(store)  # metrics hook: every store operation is timed
        self.gate = gate
        """Under leader election: every store write and Mesos call waits for it, and stops on ``NotLeader``."""
        self.events = events or EventBus()
        self.settings = settings
        self.secrets: SecretSource = NoSecrets()  # secrets hook: scheduler.secrets resolves SECRET env at launch
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
        self._pruned_plans: SourceCache[DeploymentId, DeploymentPlan] = SourceCache(
            lambda d: d in self.state.deployments, lambda: len(self.state.deployments))
        self._sweep_apps = RollingSweep()
        self._calls_in_flight: set[asyncio.Future[None]] = set()
        self._answered_since_subscribed: set[str] = set()
        """Tasks Mesos sent an update for since the last subscription (follow-up reconciliation skips them)."""
        self._versions_seen: SourceCache[AppId, tuple[AppVersion, ...]] = SourceCache(
            lambda a: a in self.state.apps, lambda: len(self.state.apps))
        self._progress_cache: SourceCache[DeploymentId, Progress] = SourceCache(
            lambda d: d in self.state.deployments, lambda: len(self.state.deployments))
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
        self.reconcile_followups = ReconcileFollowUps()  # issue 18: rounds again after each subscription
        self._tasks: list[asyncio.Task[Any]] = []
        self._failed: BaseException | None = None
        self.health = HealthChecking(self, WorkerProbePool() if settings.health_probe_worker else None)
        self.readiness = ReadinessProbes(self._readiness_targets, self._mark_ready, self.clock)
        """Leader-run health checks and the per-check detail (``scheduler.health_checks``)."""
        self.jobs = JobsShell(self, JobsConfig(history_limit=settings.job_history_limit,
                                               task_launch_timeout=settings.task_launch_timeout))
        """Batch jobs: Metronome's jobs and runs (``scheduler.jobs``)."""
        self.task_stats = TaskStats(lambda instance: instance in self.state.instances)
        """Latest usage reported by the mesospaas executor, per instance (``scheduler.task_stats``)."""

    # -- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        await self._load()
        loop = asyncio.get_running_loop()
        self._driver = MesosDriver(self.settings.master, self.framework, self.state.framework_id,
                                   self._events.put_nowait, loop, self.gate,
                                   roles=framework_roles(self.state.root, self.framework.role))  # roles hook
        self._tasks = [loop.create_task(self._run(), name="scheduler-runtime"),
                       loop.create_task(self._ticker(), name="scheduler-ticker")]
        await self._driver.start()
        await self.health.start()
        self.readiness.start()

    def finished(self) -> asyncio.Future[Any]:
        """Done when the runtime's loop has ended (stopped, or failed: see ``_failed``)."""
        return asyncio.gather(*self._tasks[:1], return_exceptions=True)

    async def stop(self) -> None:
        """Stops acting, then disconnects from Mesos, leaving the framework and its tasks in place.

        Events still queued are dropped: unacknowledged updates are re-sent by Mesos to the next leader.
        """
        await self.health.stop()
        await self.readiness.stop()
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
        if self._calls_in_flight:  # calls already made safe by a commit go out before the driver stops
            _, late = await asyncio.wait(set(self._calls_in_flight), timeout=CALL_DRAIN_SECONDS)
            for call in late:
                call.cancel()
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
            state.service_ports = service_port_index.build(state.apps, state.definitions)
            state.root_acyclic = state.root.dependency_cycle() is None
            now = self.clock()
            for key, raw in self.store.load(DEPLOYMENTS).items():
                running = decode(RunningDeployment, raw)
                # A new leader: deadline windows start afresh (kept in memory until the next change).
                state.deployments[running.plan.id] = replace(running, supervision=resumed(running.supervision, now))
            finished = [decode(FinishedDeployment, raw) for raw in self.store.load(DEPLOYMENT_HISTORY).values()]
            state.finished = {f.id: f for f in sorted(finished, key=lambda f: f.finished_at)}
            for key, raw in self.store.load(INSTANCES).items():
                instance = decode(Instance, raw)
                state.instances[instance.id] = instance
            state.task_failures = task_failures.load(self.store)
            for key, raw in self.store.load(BACKOFFS).items():
                backoff = decode(Backoff, raw)
                state.backoffs[backoff.app_id] = backoff
            framework_id = self.store.get(FRAMEWORK, "id")
            state.framework_id = framework_id.decode() if framework_id else None
            self.jobs.load(self.store)  # jobs hook
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
        while True:
            item = await self._events.get()
            if item is None:
                return
            commands: list[_DeployCommand] = []
            try:
                if isinstance(item, StatusReceived):
                    # Updates that queued up while we were busy form one batch: one commit, one
                    # reconciliation, then the acknowledgements.
                    batch = self._sweep(item, MAX_STATUS_BATCH, _STATUS_PASSES)
                    await self._on_statuses([s.status for s in batch])
                elif isinstance(item, _DeployCommand):
                    # Deploy commands that queued up while a commit was in flight form one batch: planned
                    # one by one, committed in one transaction, each answered after that commit.
                    commands = self._sweep(item, MAX_DEPLOY_BATCH, _DEPLOY_PASSES)
                    while commands:
                        commands = await self._deploy_together(commands)
                elif isinstance(item, _Command):
                    await self._run_command(item)
                else:
                    await self._on_event(item)
            except Exception as exc:
                log.exception("scheduler runtime stopped: %s", exc)
                self._failed = exc
                self._refuse_waiting(commands)
                raise

    def _refuse_waiting(self, taken: list[_DeployCommand]) -> None:
        """The runtime stopped: commands taken or still queued are answered that it stopped (never left waiting)."""
        waiting: list[Any] = list(taken)
        while not self._events.empty():
            waiting.append(self._events.get_nowait())
        for command in waiting:
            if isinstance(command, _Command) and not command.future.done():
                command.future.set_exception(RuntimeStopped(f"the scheduler runtime has stopped: {self._failed}"))

    def _sweep(self, first: _T, limit: int, passes: tuple[type, ...]) -> list[_T]:
        """``first`` and the queued items of its type, up to ``limit``, taken over the items of the ``passes``
        types (which stay queued, in order); the first item of any other type ends the sweep, so nothing
        overtakes it. Queued items are never lost or reordered among themselves."""
        kind = type(first)
        taken, left = [first], []
        stopped = False
        while not self._events.empty():
            queued = self._events.get_nowait()
            if not stopped and len(taken) < limit and type(queued) is kind:
                taken.append(queued)
                continue
            left.append(queued)
            stopped = stopped or queued is None or not isinstance(queued, passes)
        for queued in left:
            self._events.put_nowait(queued)
        return taken

    async def _run_command(self, command: _Command) -> None:
        try:
            result = await command.fn()
        except Exception as exc:
            if not command.future.done():
                command.future.set_exception(_for_caller(exc))
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

    def _put_deployment(self, running: RunningDeployment) -> Put:
        """A running deployment as stored: its plan pruned to what it changes, so its size does not grow
        with the number of apps. The pruned plan is kept while the deployment runs: it is put again each time
        the deployment moves on, and only its step and supervision change."""
        plan_ = running.plan
        kept = self._pruned_plans.get(plan_.id, plan_, lambda: pruned(plan_))
        return Put(DEPLOYMENTS, plan_.id, encode(replace(running, plan=kept)))

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
        by running deployments; ``force`` cancels those instead). With ``dry_run`` nothing changes. Deployments
        asked for while a commit is in flight are committed together, each with its own answer."""
        def prepare(original: Group, now: float) -> _Prepared:
            try:
                edited = edit(original)
                # service ports (issue 12): 0 -> assigned before versions, so the stored definition keeps them
                assigned = with_service_ports(edited, definitions or {}, self.state.service_ports,
                                              self.settings.service_ports, changed_parts(original, edited).deleted_apps)
                if isinstance(assigned, ServicePortRejected):
                    raise DeploymentRejected(assigned.message)
                edited, definitions_ = assigned
                target = assign_versions(original, edited, now, restart=tuple(restart))
            except CoreError as exc:
                raise DeploymentRejected(str(exc)) from exc
            acyclic = self.state.root_acyclic or original is not self.state.root
            result = plan(original, target, now, self.new_deployment_ids, original_acyclic=acyclic)
            if isinstance(result, DependencyCycle):
                raise DeploymentRejected(result.message)
            return _Prepared(result, definitions_)

        async def run() -> DeploymentPlan:
            now = self.clock()
            prepared = prepare(self.state.root, now)
            if dry_run:
                return prepared.deployment
            return await self._start_deployment(prepared.deployment, force, now, prepared.definitions)
        if dry_run:
            deployment: DeploymentPlan = await self.submit(run)
            return deployment
        if self._failed is not None:
            raise RuntimeStopped(f"the scheduler runtime has stopped: {self._failed}")
        command = _DeployCommand(run, prepare)
        self._events.put_nowait(command)
        started: DeploymentPlan = await command.future
        return started

    async def _deploy_together(self, commands: list[_DeployCommand]) -> list[_DeployCommand]:
        """Plans ``commands`` in order, each against the root the ones before it leave, and commits those that
        can go together in one store transaction; returns the commands left for the next round.

        A command joins while it touches no app an earlier one touched, conflicts with no running deployment
        (a conflict is answered, or forced, on its own as before) and the transaction stays within
        ``BATCH_BUDGET``. A command whose planning fails gets its own error and changes nothing. The
        answers come after the commit; a failed commit fails every joined command and changes nothing."""
        now = self.clock()
        running = [d.plan for d in self.state.deployments.values()]
        root, touched, size = self.state.root, set[AppId](), 0
        joined: list[tuple[_DeployCommand, _Prepared, PartChanges]] = []
        changes: list[Change] = []
        kept = self.state.definitions
        rest: list[_DeployCommand] = []
        for index, command in enumerate(commands):
            try:
                prepared = command.prepare(root, now)
            except DeploymentRejected as exc:
                command.future.set_exception(exc)
                continue
            except Exception:
                if not joined:  # on its own, as before (its error goes to its caller)
                    await self._run_command(command)
                    return commands[index + 1:]
                rest = commands[index:]
                break
            deployment = prepared.deployment
            parts = changed_parts(root, deployment.target)
            apps = set(deployment.affected_apps) | set(parts.put_apps) | set(parts.deleted_apps)
            own: list[Change] = []
            kept_next = self._definition_changes(deployment, parts, prepared.definitions, own, kept)
            own += task_failures.deletes(parts.deleted_apps, self.state.task_failures)
            if not deployment.is_empty:
                own.append(self._put_deployment(RunningDeployment(deployment, supervision=started(now, None))))
            own_size = sum(change_bytes(c) for c in [*own, *self._root_changes(parts)])
            if conflicts(deployment, running) or (joined and (apps & touched or size + own_size > BATCH_BUDGET)):
                if not joined:  # on its own: a 409, or a forced override, as before
                    await self._run_command(command)
                    return commands[index + 1:]
                rest = commands[index:]
                break
            joined.append((command, prepared, parts))
            changes += own
            kept, root, size = kept_next, deployment.target, size + own_size
            touched |= apps
            # the next command's service ports see this one's (undone below if the commit fails)
            self._move_port_index(apps, root, kept)
        if not joined:
            return rest
        try:
            await self._commit([*self._root_changes(changed_parts(self.state.root, root)), *changes])
        except Exception as exc:
            self._move_port_index(touched, self.state.root, self.state.definitions)
            for command, _, _ in joined:
                command.future.set_exception(_for_caller(exc))
            if not _expected(exc):
                raise
            return rest
        affected: set[AppId] = set()
        for _, prepared, own_parts in joined:
            self._apply_started(RunningDeployment(prepared.deployment, supervision=started(now, None)), own_parts, now)
            affected |= prepared.deployment.affected_apps
        self.state.definitions = kept
        await self._answer_all([(c, p.deployment) for c, p, _ in joined], self._after_started(affected))
        return rest

    def _move_port_index(self, apps: Iterable[AppId], root: Group,
                         definitions: dict[AppId, dict[AppVersion, bytes]]) -> None:
        """The service-port index for ``apps`` as ``root`` and ``definitions`` have them."""
        present = {a: spec for a in apps if (spec := root.app(a)) is not None}
        service_port_index.move(self.state.service_ports, apps, present, definitions)

    async def _answer_all(self, answered: list[tuple[_Command, Any]], work: Awaitable[None]) -> None:
        """Runs ``work`` (what follows a committed batch), then gives each command its result; an error in
        ``work`` goes to every command not yet answered (and stops the runtime if unexpected)."""
        try:
            await work
        except Exception as exc:
            for command, _ in answered:
                if not command.future.done():
                    command.future.set_exception(_for_caller(exc))
            if not _expected(exc):
                raise
            return
        for command, result in answered:
            if not command.future.done():
                command.future.set_result(result)

    async def cancel_deployment(self, deployment_id: DeploymentId, *, rollback: bool) -> DeploymentPlan | None:
        """Stops a deployment; with ``rollback`` starts the deployment back to its original state.

        Raises KeyError for an unknown id."""
        async def run() -> DeploymentPlan | None:
            running = self.state.deployments[deployment_id]
            now = self.clock()
            back: DeploymentPlan | None = None
            if rollback:
                reverted = revert(running.plan, self.state.root, now, self.new_deployment_ids)
                if isinstance(reverted, DependencyCycle):
                    raise DeploymentRejected(reverted.message)
                back = reverted
            record = _finished(running, DeploymentState.CANCELED, now, "canceled",
                               back.id if back is not None and not back.is_empty else None)
            await self._commit([Delete(DEPLOYMENTS, deployment_id), *self._history_changes(record)])
            del self.state.deployments[deployment_id]
            self._remember(record)
            self.metrics.deployment_finished("canceled", "requested" if record.rollback_id else None)  # metrics hook
            if self.events.wants("deployment_failed"):
                self.events.publish("deployment_failed", now, id=deployment_id,
                                    plan=self.plan_json(running.plan), reason="canceled")
            self._group_change(running.plan, now, failed="canceled")
            if back is None:
                await self._reconcile_apps(running.plan.affected_apps)
                return None
            return await self._start_deployment(back, True, now, self._reverted_definitions(running.plan, back))
        result: DeploymentPlan | None = await self.submit(run)
        return result

    async def continue_deployment(self, deployment_id: DeploymentId) -> bool:
        """``POST /v2/deployments/{id}/continue``: promote the held canaries and end a pause.

        False when the deployment is not paused and holds no canary (nothing to continue); KeyError for an
        unknown id."""
        async def run() -> bool:
            running = self.state.deployments[deployment_id]
            holds = canary_holds(running.plan, running.supervision)
            if not running.supervision.paused and not holds:
                return False
            now = self.clock()
            moved = replace(running, supervision=continued(running.supervision, running.plan, now))
            await self._commit([self._put_deployment(moved)])
            self.state.deployments[deployment_id] = moved
            log.info("deployment %s continued; canaries of %s promoted", deployment_id, ", ".join(sorted(holds)))
            await self._advance_deployments(running.plan.affected_apps)
            await self._reconcile_apps(running.plan.affected_apps)
            await self._revive_for(running.plan.affected_apps)
            return True
        result: bool = await self.submit(run)
        return result

    def _history_changes(self, *records: FinishedDeployment) -> list[Change]:
        """Store changes that keep ``records`` (in order) and drop the oldest records beyond the bound."""
        changes: list[Change] = [Put(DEPLOYMENT_HISTORY, r.id, encode(r)) for r in records]
        ids = {r.id for r in records}
        kept = [d for d in self.state.finished if d not in ids]  # a record written again moves to the end
        for old in kept[:max(0, len(kept) + len(ids) - MAX_DEPLOYMENT_HISTORY)]:
            changes.append(Delete(DEPLOYMENT_HISTORY, old))
        return changes

    def _remember(self, record: FinishedDeployment) -> None:
        self.state.finished.pop(record.id, None)
        self.state.finished[record.id] = record
        while len(self.state.finished) > MAX_DEPLOYMENT_HISTORY:
            self.state.finished.pop(next(iter(self.state.finished)))

    async def _start_deployment(self, deployment: DeploymentPlan, force: bool, now: float,
                                definitions: dict[AppId, bytes] | None = None,
                                rollback_of: DeploymentId | None = None,
                                ending: tuple[FinishedDeployment, Callable[[], None]] | None = None) -> DeploymentPlan:
        """Commits ``deployment``'s start and acts on it. ``ending``: the record of a running deployment that
        ends in the same transaction (a failed one this deployment rolls back; not counted as a conflict) and
        what announces its end, called after the commit and before this deployment is announced."""
        ended = ending[0].id if ending is not None else None
        locked = conflicts(deployment, [d.plan for d in self.state.deployments.values() if d.plan.id != ended])
        if locked and not force:
            raise DeploymentConflict(locked)
        parts = changed_parts(self.state.root, deployment.target)
        changes = self._root_changes(parts)
        kept = self._definition_changes(deployment, parts, definitions or {}, changes)
        changes += [Delete(DEPLOYMENTS, d) for d in locked]
        changes += task_failures.deletes(parts.deleted_apps, self.state.task_failures)
        running = RunningDeployment(deployment, supervision=started(now, rollback_of))
        if not deployment.is_empty:
            changes.append(self._put_deployment(running))
        overridden = [_finished(self.state.deployments[d], DeploymentState.CANCELED, now,
                                "overridden by a forced deployment") for d in locked]
        if ending is not None:
            changes.append(Delete(DEPLOYMENTS, ending[0].id))
        changes += self._history_changes(*overridden, *([ending[0]] if ending is not None else []))
        await self._commit(changes)  # the intent is persisted before anything acts on it
        for record in overridden:
            self._remember(record)
        if ending is not None:
            del self.state.deployments[ending[0].id]
            self._remember(ending[0])
            ending[1]()
        for d in locked:
            cancelled = self.state.deployments.pop(d)
            self.metrics.deployment_finished("canceled")  # metrics hook
            if self.events.wants("deployment_failed"):
                self.events.publish("deployment_failed", now, id=d, plan=self.plan_json(cancelled.plan),
                                    reason="overridden by a forced deployment")
            self._group_change(cancelled.plan, now, failed="overridden by a forced deployment")
        self._apply_started(running, parts, now)
        self.state.definitions = kept
        service_port_index.move(self.state.service_ports, [*parts.put_apps, *parts.deleted_apps], self.state.apps, kept)
        await self._after_started(deployment.affected_apps)
        return deployment

    def _apply_started(self, running: RunningDeployment, parts: PartChanges, now: float) -> None:
        """The state after a committed deployment start (its root, apps, running deployment, events)."""
        deployment = running.plan
        self.state.root = deployment.target
        self.state.root_acyclic = True  # every deployment's target was planned, so checked for cycles
        for removed in parts.deleted_apps:
            self.state.apps.pop(removed, None)
        self.state.apps.update(parts.put_apps)
        for removed in parts.deleted_apps:
            self.state.backoffs.pop(removed, None)
            self.state.task_failures.pop(removed, None)
            self.diagnostics.pop(removed, None)
        if not deployment.is_empty:
            self.state.deployments[deployment.id] = running
            if self.events.wants("deployment_info"):
                self.events.publish("deployment_info", now, plan=self.plan_json(deployment),
                                    currentStep=_step_json(deployment, 0))

    async def _after_started(self, affected: Iterable[AppId]) -> None:
        """What follows committed deployment starts: roles, deployment steps, reconciliation, offers."""
        if await sync_roles(self._driver, self.state.root, self.framework.role):  # roles hook: before any REVIVE
            self._interest = OfferInterestState(wanted_roles=frozenset(self._subscribed_roles))  # none suppressed
        apps = frozenset(affected)
        await self._advance_deployments(apps)
        await self._reconcile_apps(apps)
        await self._revive_for(apps)

    def _definition_changes(self, deployment: DeploymentPlan, parts: PartChanges, given: dict[AppId, bytes],
                            changes: list[Change], base: dict[AppId, dict[AppVersion, bytes]] | None = None
                            ) -> dict[AppId, dict[AppVersion, bytes]]:
        """Stores the definitions of changed apps under their new versions (bounded history); drops removed
        apps'. ``base``: the definitions to move from (default: the stored ones)."""
        kept = dict(self.state.definitions if base is None else base)
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
                result = plan(self.state.root, target, now, self.new_deployment_ids,
                              original_acyclic=self.state.root_acyclic)
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
        return self._queue_for(set(self.state.instances.launchable_apps()), now)

    async def _advance_deployments(self, apps: Iterable[AppId] | None = None) -> None:
        """Moves each running deployment on as far as its instances allow and supervises it (progress
        deadline, crash loop, canaries, pause: ``mesospaas.deploy.supervision``); finishes the done ones and
        fails (and maybe rolls back) the failed ones. Only the deployments that affect ``apps`` when given
        (what changed: a deployment moves only when its own apps' instances do; the tick walks them all).

        The deployments that move on or finish are committed together, one transaction for a run of them
        (a failure first commits the run before it), and announced in their order after that commit."""
        now = self.clock()
        candidates = self._deployments_touching(None if apps is None else set(apps))
        moved: list[tuple[RunningDeployment, Progress, Verdict]] = []
        for running in candidates:
            deployment_id = running.plan.id
            if self.state.deployments.get(deployment_id) is not running:
                continue  # finished or replaced meanwhile (a rollback started below advances deployments too)
            instances = self._instances_by_app(running.plan.affected_apps)
            state = self._progress_of(running)
            verdict = supervise(running.plan, state, running.supervision, instances, now)
            if verdict.failure is not None:
                await self._commit_moved(moved, now)
                moved = []
                await self._fail_deployment(running, verdict.failure, now)
                continue
            if state.step_index == running.step_index and not state.finished and not verdict.changed:
                continue
            moved.append((running, state, verdict))
        await self._commit_moved(moved, now)

    async def _commit_moved(self, moved: list[tuple[RunningDeployment, Progress, Verdict]],
                            now: float) -> None:
        """Commits the deployments of ``moved`` that advanced (their new step and supervision) or finished
        (into the history) in one transaction, then applies and announces each in order."""
        if not moved:
            return
        records = {running.plan.id: _finished(running, DeploymentState.SUCCEEDED, now)
                   for running, state, _ in moved if state.finished}
        changes: list[Change] = [Delete(DEPLOYMENTS, d) for d in records]
        changes += self._history_changes(*records.values())
        advanced = {running.plan.id: RunningDeployment(running.plan, state.step_index, verdict.supervision)
                    for running, state, verdict in moved if not state.finished}
        changes += [self._put_deployment(a) for a in advanced.values()]
        await self._commit(changes)
        for running, state, verdict in moved:
            deployment_id = running.plan.id
            if state.finished:
                del self.state.deployments[deployment_id]
                self._remember(records[deployment_id])
                self.metrics.deployment_finished("succeeded")  # metrics hook
            else:
                self.state.deployments[deployment_id] = advanced[deployment_id]
            for app_id in verdict.promoted:
                log.info("deployment %s: the canaries of %s proved healthy; rolling on", deployment_id, app_id)
            if verdict.paused_now:
                log.info("deployment %s paused: its canaries are healthy; POST /v2/deployments/%s/continue goes on",
                         deployment_id, deployment_id)
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
                for app_id in sorted(a for a in running.plan.affected_apps if a not in self.state.apps):
                    self.events.publish("app_terminated_event", now, appId=app_id)  # an app it stopped is gone

    async def _fail_deployment(self, running: RunningDeployment, reason: str, now: float) -> None:
        """A deployment failed: it ends, and rolls back to the previous version when one of its apps asks
        for it (``autoRollback``); otherwise it stops where it is."""
        plan_ = running.plan
        rollback: DeploymentPlan | None = None
        if wants_rollback(plan_, running.supervision):
            back = revert(plan_, self.state.root, now, self.new_deployment_ids)
            if isinstance(back, DependencyCycle):
                log.error("deployment %s: cannot roll back: %s", plan_.id, back.message)
            elif not back.is_empty:
                rollback = back
        record = _finished(running, DeploymentState.FAILED, now, reason, rollback.id if rollback else None)

        def announce() -> None:  # once the failure is committed, before anything of the rollback is told
            self.metrics.deployment_finished("failed", "automatic" if rollback is not None else None)  # metrics hook
            log.warning("deployment %s failed: %s; %s", plan_.id, reason,
                        f"rolling back as deployment {rollback.id}" if rollback else "it stops where it is")
            if self.events.wants("deployment_step_failure"):
                self.events.publish("deployment_step_failure", now, plan=self.plan_json(plan_),
                                    currentStep=_step_json(plan_, running.step_index))
            if self.events.wants("deployment_failed"):
                self.events.publish("deployment_failed", now, id=plan_.id, plan=self.plan_json(plan_), reason=reason)
            self._group_change(plan_, now, failed=reason)

        if rollback is not None:
            # the failure and its rollback commit together, so the rollbackId a reader sees always exists
            await self._start_deployment(rollback, True, now, self._reverted_definitions(plan_, rollback),
                                         rollback_of=plan_.id, ending=(record, announce))
            return
        await self._commit([Delete(DEPLOYMENTS, plan_.id), *self._history_changes(record)])
        del self.state.deployments[plan_.id]
        self._remember(record)
        announce()
        await self._reconcile_apps(plan_.affected_apps)

    def _reverted_definitions(self, undone: DeploymentPlan, back: DeploymentPlan) -> dict[AppId, bytes]:
        """The definitions of the apps a rollback restores: each one's definition as it was before ``undone``
        (the stored bytes of its original version), to be stored under the version the rollback gives it."""
        out: dict[AppId, bytes] = {}
        for app_id in back.affected_apps:
            original = undone.original.app(app_id)
            if original is None or back.target.app(app_id) is None:
                continue
            raw = self.state.definitions.get(app_id, {}).get(original.version)
            if raw is not None:
                out[app_id] = raw
            else:
                log.warning("%s: the definition of version %s is gone; the rollback keeps the spec only",
                            app_id, original.version)
        return out

    def _readiness_targets(self) -> list[Target]:
        """The tasks to poll for readiness: new instances of the apps running deployments roll out."""
        deploying: dict[AppId, AppSpec] = {}
        for running in self.state.deployments.values():
            for app_id in running.plan.affected_apps:
                target = running.plan.target.app(app_id)
                if target is not None and target.readiness_checks:
                    deploying[app_id] = target
        if not deploying:
            self.readiness.forget(set())
            return []
        instances = [i for a in deploying for i in self.state.instances.of_app(a).values()]
        found = readiness_targets(deploying, instances)
        alive = {i.task_id for i in instances if i.task_id}
        self.readiness.forget({t for t in alive if t is not None})
        return found

    async def _mark_ready(self, instance_id: InstanceId, task: TaskId) -> None:
        """A task answered its readiness check: persist it, then move deployments on."""
        async def run() -> None:
            instance = self.state.instances.get(instance_id)
            if instance is None or instance.task_id != task or instance.ready_at is not None:
                return
            ready = replace(instance, ready_at=self.clock())
            await self._commit([self._put_instance(ready)])
            self.state.instances[instance_id] = ready
            await self._advance_deployments([ready.app_id])
            await self._reconcile_apps([ready.app_id])
        await self.submit(run)

    @property
    def mesos_master(self) -> str | None:
        """``host:port`` of the Mesos master in use now (the detected leader for a ``zk://`` master)."""
        if self._driver is not None:
            return self._driver.current_master
        master = self.settings.master
        return None if master.startswith(("zk://", "zoo://")) else master

    def readiness_results(self, app_id: AppId) -> list[ReadinessResult]:
        """The latest readiness answers of the app's polled tasks (``readinessCheckResults``)."""
        results = []
        for instance in self.state.instances.of_app(app_id).values():
            if instance.task_id is not None:
                result = self.readiness.results.get(instance.task_id)
                if result is not None:
                    results.append(result)
        return sorted(results, key=lambda r: r.task_id)

    def _count_failed_tasks(self, changed: Iterable[Instance]) -> dict[DeploymentId, RunningDeployment]:
        """Deployments whose crash-loop count grows with these instance changes (not yet persisted)."""
        moved: dict[DeploymentId, RunningDeployment] = {}
        if not self.state.deployments:
            return moved
        by_app: dict[AppId, list[DeploymentId]] = {}
        for deployment_id, running in self.state.deployments.items():
            for app_id in running.plan.affected_apps:
                by_app.setdefault(app_id, []).append(deployment_id)
        for after in changed:
            before = self.state.instances.get(after.id)
            if before is None or before.condition is after.condition:
                continue
            for deployment_id in by_app.get(after.app_id, ()):
                running = self.state.deployments[deployment_id]
                current = moved.get(deployment_id, running)
                supervision = count_failure(current.plan, current.supervision, before, after)
                if supervision is not current.supervision:
                    moved[deployment_id] = replace(current, supervision=supervision)
        return moved

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
        tuple_of = self.state.instances.tuple_of
        return {a: tuple_of(a) for a in set(app_ids)}

    def _progress_of(self, running: RunningDeployment) -> Progress:
        """``progress`` of a running deployment over its apps' instances now, computed again only when the
        deployment (its step, its supervision) or those instances changed since the last time."""
        stamps = tuple(self.state.instances.stamp_of(a) for a in running.plan.affected_apps)
        return self._progress_cache.get(running.plan.id, running, lambda: progress(
            running.plan, running.step_index, self._instances_by_app(running.plan.affected_apps),
            canary_holds(running.plan, running.supervision)), stamps)

    def _reconcile_inputs(self, app_ids: Iterable[AppId] | None = None
                          ) -> dict[AppId, tuple[AppSpec | None, DeploymentStep | None]]:
        """What the reconciler works towards per app: the root's app, unless a deployment says otherwise.
        For ``app_ids`` only (their deployments' progress only) when given; every app otherwise."""
        inputs: dict[AppId, tuple[AppSpec | None, DeploymentStep | None]]
        if app_ids is None:
            wanted = None
            inputs = {app_id: (app, None) for app_id, app in self.state.apps.items()}
        else:
            wanted = set(app_ids)
            inputs = {a: (app, None) for a in wanted if (app := self.state.apps.get(a)) is not None}
        for running in self._deployments_touching(wanted):
            state = self._progress_of(running)
            for app_id, given in state.inputs.items():
                if wanted is None or app_id in wanted:
                    inputs[app_id] = (given.app, given.deployment)
        return inputs

    def _deployments_touching(self, apps: set[AppId] | None) -> list[RunningDeployment]:
        """The running deployments (in order) that affect any of ``apps`` (all of them for ``None``)."""
        if apps is None:
            return list(self.state.deployments.values())
        return [d for d in self.state.deployments.values() if not apps.isdisjoint(d.plan.affected_apps)]

    def instances_of(self, app_id: AppId) -> list[Instance]:
        return list(self.state.instances.of_app(app_id).values())

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
            self.reconcile_followups.stop()
            self._interest = OfferInterestState()
        elif isinstance(event, FrameworkMessage):  # task stats hook
            self.task_stats.on_message(event, self.clock())
        elif isinstance(event, (AgentLost, ExecutorLost, OfferRescinded)):
            self.metrics.offers_rescinded.inc(1 if isinstance(event, OfferRescinded) else 0)  # metrics hook
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
        await sync_roles(self._driver, self.state.root, self.framework.role)  # roles hook: UPDATE_FRAMEWORK
        # Offers stay suppressed until something needs them; explicit then implicit task reconciliation.
        self._interest = OfferInterestState(wanted_roles=frozenset(self._subscribed_roles))
        self._answered_since_subscribed = set()
        await self._reconcile_with_mesos()
        self.reconcile_followups.start(self.clock())  # issue 18: again while agents re-register
        await self._decide_offer_interest()

    def reconcile_soon(self) -> None:
        """Task reconciliation with Mesos at the next tick (issue 18: the leader resumed after losing ZooKeeper)."""
        self._last_mesos_reconcile = float("-inf")

    async def _reconcile_with_mesos(self, follow_up: bool = False) -> None:
        """Explicit reconciliation of the live tasks we know, then implicit. A ``follow_up`` round (after a
        subscription) asks explicitly only about tasks Mesos has not told us of since then: a task it sent an
        update for is one it knows, and asking again would only have every task's state sent once more."""
        assert self._driver is not None
        known = [i.task_id for i in self.state.instances.values() if i.task_id is not None and i.has_live_task]
        known += [TaskId(t) for t in self.jobs.live_task_ids()]  # jobs hook
        if follow_up:
            known = [t for t in known if str(t) not in self._answered_since_subscribed]
        try:
            if known:
                agents = {str(i.task_id): str(i.agent.agent_id) for i in self.state.instances.values()
                          if i.task_id is not None and i.agent is not None}  # issue 18: agent ids along
                await self._driver.reconcile([str(t) for t in known], agents)
            await self._driver.reconcile([])
        except MesosCallError as exc:
            log.warning("task reconciliation failed: %s", exc)
        self._last_mesos_reconcile = self.clock()
        self.metrics.task_reconciliations.inc()  # metrics hook

    async def _on_offers(self, raw_offers: Iterable[dict[str, Any]]) -> None:
        assert self._driver is not None
        now = self.clock()
        offers = []
        for raw in raw_offers:
            self.stats.offers_received += 1
            self.metrics.offers_received.inc()  # metrics hook
            try:
                offers.append((offer_from_mesos(raw), raw))
            except AdapterError as exc:
                log.warning("declining an offer I cannot read: %s", exc)
                self._in_background(self._decline([raw["id"]["value"]], self.settings.decline_refuse_seconds))
        if not offers:
            return
        snapshot = self._snapshot(now)
        queue = launch_queue(snapshot, self.state.backoffs, now)
        pending = queue.pending[: self.settings.max_launches_per_round]
        snapshot, pending = self.jobs.add_pending(snapshot, pending, now, self.settings.max_launches_per_round)
        if not pending:
            self._in_background(self._decline([o.id for o, _ in offers], self.settings.decline_refuse_seconds))
            await self._decide_offer_interest(queue)
            return
        self.stats.rounds += 1
        placing = time.perf_counter()  # metrics hook
        result = place(snapshot, pending, [o for o, _ in offers], self.profile, self.rng)
        self.metrics.on_placement(result, time.perf_counter() - placing)  # metrics hook
        self.diagnostics.update(self.jobs.take_diagnostics(result.diagnostics))
        raw_by_id = {o.id: raw for o, raw in offers}
        allocation_roles = {o.id: o.allocation_role for o, _ in offers}
        updated: list[Instance] = []
        accepts: list[tuple[str, list[dict[str, Any]]]] = []
        for offer_id, launches in result.launches_by_offer().items():
            infos = []
            for launch in launches:
                job_task = self.jobs.task_info(launch, snapshot, allocation_roles[offer_id], now)  # jobs hook
                if job_task is not None:
                    infos += [job_task] if job_task else []
                    continue
                instance = self.state.instances[launch.instance_id]
                app = snapshot.spec_for(launch.app_id, launch.app_version)
                try:
                    secret_env = self.secrets.environment(app.id, decoded_definition(  # secrets hook
                        self.state.definitions.get(app.id, {}).get(app.version)))
                    infos.append(task_info(launch, app, allocation_roles[offer_id], self.settings.executor,
                                           secret_env=secret_env))
                except (AdapterError, SecretError) as exc:
                    log.error("cannot launch %s: %s", launch.instance_id, exc)
                    continue
                updated.append(launched(instance, launch.agent, launch.host_ports, now))
            accepts.append((str(raw_by_id[offer_id]["id"]["value"]), infos))
        job_launches = self.jobs.round_batch(now)
        await self._commit([*(self._put_instance(i) for i in updated), *job_launches.changes])  # intent first
        for instance in updated:
            self.state.instances[instance.id] = instance
        await job_launches.done()
        self._in_background(self._accept(accepts))
        if result.declines:
            refuse = 5.0 if result.unplaced else self.settings.decline_refuse_seconds
            self._in_background(self._decline([str(o) for o in result.declines], refuse))
        log.debug("offer round: %d offers, %d launched, %d unplaced", len(offers), len(updated),
                  len(result.unplaced))

    def _in_background(self, call: Awaitable[None]) -> None:
        """Sends a call to Mesos without holding the runtime's loop until Mesos answers: ACCEPTs, DECLINEs
        and acknowledgements follow the commit that made them safe, and nothing after them waits for their
        answer (a lost one is repaired as before: tasks reconcile as lost, updates are re-sent). Each call
        still passes the leader gate before it goes out; ``stop`` lets those in flight finish first."""
        task = asyncio.ensure_future(call)
        self._calls_in_flight.add(task)
        task.add_done_callback(self._call_done)

    def _call_done(self, task: asyncio.Future[None]) -> None:
        self._calls_in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a call to Mesos failed: %r", task.exception())

    async def _accept(self, accepts: list[tuple[str, list[dict[str, Any]]]]) -> None:
        assert self._driver is not None
        launching = sum(len(infos) for _, infos in accepts)
        self.stats.tasks_launched += launching  # counted as they go out: their updates may come before the answer
        try:
            await self._driver.accept_all([([offer_id], [{"type": "LAUNCH", "launch": {"task_infos": infos}}])
                                           for offer_id, infos in accepts], refuse_seconds=5.0)
            self.metrics.offers_used.inc(len(accepts))  # metrics hook
        except MesosCallError as exc:  # those tasks reconcile as lost and are launched again
            self.stats.tasks_launched -= launching
            log.warning("ACCEPT failed: %s", exc)

    async def _decline(self, offer_ids: list[str], refuse: float) -> None:
        assert self._driver is not None
        self.stats.offers_declined += len(offer_ids)
        self.metrics.offers_declined.inc(len(offer_ids))  # metrics hook
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
        failures: dict[AppId, TaskFailure] = {}
        acks: list[dict[str, Any]] = []
        published: list[tuple[Instance, dict[str, Any]]] = []
        jobs_batch = self.jobs.batch(now)
        for status in statuses:
            self.stats.status_updates += 1
            self.metrics.status_updates.labels(str(status.get("state", ""))).inc()  # metrics hook
            try:
                facts = status_facts(status)
            except AdapterError as exc:
                log.error("ignoring a status update: %s", exc)
                continue
            if facts.acknowledge:
                acks.append(status)
            if self.reconcile_followups.due:  # kept only while follow-up rounds are to come
                self._answered_since_subscribed.add(facts.task_id)
            if self.jobs.owns_task(facts.task_id):  # jobs hook: a job run's task
                self.jobs.on_status(jobs_batch, facts)
                continue
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
                                     facts.healthy, facts.ip_addresses)
            self.metrics.on_task_state(instance, after, now)  # metrics hook
            if facts.healthy is not None and facts.state == "TASK_RUNNING":
                self.health.on_mesos_status(instance, after, facts.healthy, facts.message, now)
            failure = task_failure_from_status(after, facts.task_id, facts.state, facts.message, facts.agent_id, now)
            # Mesos killed an unhealthy task itself (a Mesos-run check): nobody here asked for that kill.
            health_killed = facts.state == "TASK_KILLED" and after.goal is Goal.RUNNING \
                and instance.healthy is False and TaskId(facts.task_id) not in self._kills_sent
            if health_killed:
                failure = from_health_kill(instance, facts.message or "its Mesos health check failed", now)
            if failure is not None and after.goal is Goal.RUNNING:
                failures[failure.app_id] = failure
            app = self.state.apps.get(instance.app_id)
            if app is not None and (health_killed or is_launch_failure(after.condition)
                                    and not is_launch_failure(instance.condition) and after.goal.value == "Running"):
                backoff = after_failure(backoffs.get(app.id) or self.state.backoffs.get(app.id), app, now)
                backoffs[app.id] = backoff
                log.info("%s: task %s %s (%s); next launch in %.1fs", app.id, facts.task_id, facts.state,
                         facts.message, backoff.delay)
            if after != instance:
                updated[after.id] = after
            published.append((after, status))
        changes: list[Change] = [self._put_instance(i) for i in updated.values()]
        changes += [Put(BACKOFFS, app_id, encode(b)) for app_id, b in backoffs.items()]
        changes += task_failures.puts(failures)
        counted = self._count_failed_tasks(updated.values())
        changes += [self._put_deployment(r) for r in counted.values()]
        self.jobs.after_statuses(jobs_batch)
        changes += jobs_batch.changes
        await self._commit(changes)  # persist before acknowledging
        await jobs_batch.done()
        self.state.deployments.update(counted)
        self.state.instances.update(updated)
        self.state.task_failures.update(failures)
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
        self._in_background(self._acknowledge(acks))
        apps = {i.app_id for i in updated.values()}
        if apps:
            if self.state.deployments:
                self.readiness.wake()
                await self._advance_deployments(apps)
            await self._reconcile_apps(apps)
            # replacements of these apps' tasks may want offers; suppressing (the whole queue) waits for the tick
            await self._revive_for(apps)

    async def _acknowledge(self, statuses: list[dict[str, Any]]) -> None:
        assert self._driver is not None
        try:
            await self._driver.acknowledge_all(statuses)
        except MesosCallError as exc:
            log.warning("acknowledgements failed (Mesos will re-send): %s", exc)

    # -- reconciliation -------------------------------------------------------------------------------
    def _snapshot(self, now: float) -> Snapshot:
        specs = {a: spec for a, (spec, _) in self._reconcile_inputs().items() if spec is not None}
        versions = versions_in_flight(d.plan for d in self.state.deployments.values())
        for app in self.state.apps.values():
            versions.pop((app.id, app.version), None)
        # A scale-only change gives the app a new version but keeps its config: instances labelled with the
        # version before the scale run (and are relaunched with) the current spec.
        table = self.state.instances
        instances = {a: table.tuple_of(a) for a in table.apps()}
        for app_id, held in instances.items():
            spec = specs.get(app_id)
            if spec is None:
                continue
            for version in self._versions_held(app_id, held):
                if version != spec.version and (app_id, version) not in versions:
                    versions[(app_id, version)] = replace(spec, version=version)
        return Snapshot(apps=specs, instances=instances, now=now, app_versions=versions)

    def _versions_held(self, app_id: AppId, held: tuple[Instance, ...]) -> tuple[AppVersion, ...]:
        """The app versions ``held`` (the app's instances now) run, in order of first appearance; computed
        again only when those instances changed."""
        return self._versions_seen.get(app_id, held, lambda: tuple(dict.fromkeys(i.app_version for i in held)))

    async def _reconcile_apps(self, app_ids: Iterable[AppId]) -> None:
        now = self.clock()
        wanted = set(app_ids)
        by_app = {a: list(self.state.instances.of_app(a).values()) for a in wanted}
        changes: list[Change] = []
        kills: list[Instance] = []
        results = []
        inputs = self._reconcile_inputs(wanted)
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
            await self._driver.kill(str(task), kill_policy(self._app_of_task(task)))
        except MesosCallError as exc:
            log.warning("KILL of %s failed (will retry): %s", task, exc)

    def _app_of_task(self, task: TaskId) -> AppSpec | None:
        try:
            instance = self.state.instances.get(parse_task_id(task)[0])
        except ValueError:
            return None
        return self.state.apps.get(instance.app_id) if instance is not None else None

    # -- health hooks (the logic is in scheduler.health_checks) ---------------------------------------
    async def commit_health(self, instances: list[Instance], backoffs: dict[AppId, Backoff],
                            failures: dict[AppId, TaskFailure]) -> None:
        """Persists what a batch of health results changed (verdicts that flipped, grown backoffs, failures)."""
        changes: list[Change] = [self._put_instance(i) for i in instances]
        changes += [Put(BACKOFFS, app_id, encode(b)) for app_id, b in backoffs.items()]
        changes += task_failures.puts(failures)
        await self._commit(changes)
        self.state.instances.update({i.id: i for i in instances})
        self.state.backoffs.update(backoffs)
        self.state.task_failures.update(failures)

    async def kill_task(self, task: TaskId, now: float) -> None:
        await self._kill(task, now)

    async def after_health_change(self, flipped: set[AppId], killed: set[AppId]) -> None:
        """After verdicts flipped (deployments may move on) or unhealthy tasks were killed."""
        apps = set(killed)
        if self.state.deployments:
            await self._advance_deployments(flipped | killed)
            locked = {a for d in self.state.deployments.values() for a in d.plan.affected_apps}
            apps |= flipped & locked
        if apps:
            await self._reconcile_apps(apps)
        if killed:
            await self._decide_offer_interest()

    def health_records(self, instance: Instance) -> Any:
        return self.health.records_of(instance)

    def health_generation(self, app_id: AppId) -> int:
        return self.health.generation_of(app_id)

    @property
    def _subscribed_roles(self) -> tuple[str, ...]:
        """The roles offers come for (``scheduler.framework_roles`` keeps them in step with the apps)."""
        return self._driver.roles if self._driver is not None else (self.framework.role,)

    def task_failure(self, app_id: AppId) -> TaskFailure | None:
        return self.state.task_failures.get(app_id)

    async def _revive_for(self, app_ids: Iterable[AppId]) -> None:
        """After a change to ``app_ids``: REVIVE if they now have instances to launch.

        Looks at those apps only (a full launch queue over every instance costs milliseconds per thousand
        apps); suppressing, which needs the whole queue, is left to the next tick."""
        if self._driver is None or not self.subscribed.is_set():
            return
        now = self.clock()
        queue = self._queue_for(set(app_ids), now)
        if not queue.pending:
            return
        decision = decide_offer_interest(queue, self._interest, frozenset(self._subscribed_roles))
        self._interest = OfferInterestState(wanted_roles=self._interest.wanted_roles | decision.state.wanted_roles,
                                            queued=self._interest.queued | decision.state.queued)
        if decision.revive:
            try:
                await self._driver.revive(decision.revive)
            except MesosCallError as exc:
                log.warning("REVIVE failed: %s", exc)
                self._interest = OfferInterestState()

    def _queue_for(self, apps: set[AppId], now: float) -> LaunchQueue:
        """The launch queue of ``apps`` (the whole queue when they are every app with a launchable
        instance: only those can have entries), built from those apps alone."""
        inputs = self._reconcile_inputs(apps)
        specs = [spec for a in apps if (spec := inputs.get(a, (None, None))[0]) is not None]
        instances = [i for a in apps for i in self.state.instances.of_app(a).values()]
        return launch_queue(Snapshot.of(specs, instances, now), self.state.backoffs, now)

    async def _decide_offer_interest(self, queue: Any = None) -> None:
        if self._driver is None or not self.subscribed.is_set():
            return
        now = self.clock()
        if queue is None:
            queue = self._queue_for(set(self.state.instances.launchable_apps()), now)
        queue = self.jobs.with_demand(queue, now)  # jobs hook: pending runs want offers too
        decision = decide_offer_interest(queue, self._interest, frozenset(self._subscribed_roles))
        self._interest = decision.state
        try:
            if decision.revive:
                await self._driver.revive(decision.revive)
            if decision.suppress:
                await self._driver.suppress(decision.suppress)
        except MesosCallError as exc:
            log.warning("REVIVE/SUPPRESS failed: %s", exc)
            self._interest = OfferInterestState()

    def _tick_apps(self) -> set[AppId]:
        """The apps a tick reconciles: those whose result may move with time or with a running deployment,
        those in backoff, instances' apps that are gone, and the sweep's slice of every app
        (``scheduler.reconcile_sweep``), rather than every app on every tick."""
        apps = {a for d in self.state.deployments.values() for a in d.plan.affected_apps}
        apps.update(self.state.backoffs)
        apps.update(a for a in self.state.instances.apps() if a not in self.state.apps)
        apps.update(i.app_id for i in self.state.instances.values() if waits_on_time(i))
        apps.update(self._sweep_apps.take(self.state.apps))
        return apps

    async def _tick(self) -> None:
        now = self.clock()
        await self.jobs.tick(now)  # jobs hook: cron triggers, deadlines, kills to confirm
        await self._advance_deployments()
        await self._reconcile_apps(self._tick_apps())
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
                for instance in self.state.instances.of_app(app_id).values():
                    if instance.condition is Condition.RUNNING and instance.started_at is not None:
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
        if self._driver is not None and self.subscribed.is_set():
            follow_up = self.reconcile_followups.take(now)
            if now - self._last_mesos_reconcile > self.settings.reconciliation_interval:
                await self._reconcile_with_mesos()
            elif follow_up:
                await self._reconcile_with_mesos(follow_up=True)
            if not self.reconcile_followups.due:
                self._answered_since_subscribed.clear()


def _finished(running: RunningDeployment, state: DeploymentState, now: float, reason: str | None = None,
              rollback_id: DeploymentId | None = None) -> FinishedDeployment:
    return FinishedDeployment(running.plan.id, running.plan.version, tuple(sorted(running.plan.affected_apps)), state,
                              now, reason, rollback_id, running.supervision.rollback_of)


def _expected(exc: BaseException) -> bool:
    """Errors an app command reports to its caller without stopping the runtime."""
    return isinstance(exc, (ValueError, KeyError, LookupError, DeploymentConflict))


def _for_caller(exc: Exception) -> Exception:
    """What a failed command's caller gets. A store failure (ZooKeeper lost under the commit) stops the runtime
    with the outcome unknown: the caller is told the scheduler cannot act now (the API's 503), not of a bug."""
    if not isinstance(exc, StoreError):
        return exc
    stopped = RuntimeStopped(f"the state store failed under this request, its outcome is unknown: {exc}")
    stopped.__cause__ = exc
    return stopped


def _step_json(deployment: DeploymentPlan, index: int) -> dict[str, Any]:
    if not 0 <= index < len(deployment.steps):
        return {"actions": []}
    return {"actions": [{"action": a.name, "app": a.app} for a in deployment.steps[index].actions]}


def _light_plan_json(deployment: DeploymentPlan) -> dict[str, Any]:
    """The light plan format; the API layer installs the full one (with ``original`` and ``target``)."""
    return {"id": deployment.id, "version": deployment.version,
            "steps": [_step_json(deployment, i) for i in range(len(deployment.steps))]}


__all__ = ["RuntimeSettings", "SchedulerRuntime", "replace"]
