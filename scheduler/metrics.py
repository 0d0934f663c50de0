"""Metrics: one set of Prometheus meters for the framework process, bound to an injected registry.

Owns ``Metrics`` (created by the composition root, ``scheduler.serve`` / ``scheduler.local``, handed to the
runtime and the API; tests make their own: there is no module-level registry or meter) and ``MeteredStore``
(a ``Store`` that times every operation). Two kinds of series:

- Events counted where they happen (offers, placement decisions and their latency, rejects by reason,
  status updates by state, ACCEPT -> RUNNING latency, task reconciliations, deployments that ended, store
  operation latency, API requests): the runtime calls the small ``on_*`` hooks, one line each.
- Gauges read from the runtime's state when Prometheus scrapes (apps, instances by app and condition,
  healthy / unhealthy instances, the launch queue, running deployments, jobs and their runs, leadership,
  the ZooKeeper session, event-stream subscribers), by ``StateCollector``: nothing is kept up to date on the
  hot path.

Names follow Prometheus' conventions under ``mesospaas_``: base units in the name (``_seconds``), counters
end in ``_total``. Per-app series are bounded: the first ``max_apps`` app ids (in sorted order, so the set is
stable between scrapes) get their own ``app`` label, the rest are summed under ``app="__other__"``.

Threading: the runtime's state belongs to the event loop. ``render`` reads the state on the loop
(``freeze``), then the text is produced in a worker thread from that frozen copy, so a scrape holds the loop
only while counting. Fails: a source that raises is logged and its series are left out of that scrape; a
scrape never fails because of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, GCCollector, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from mesospaas.launch.backoff import delayed_until
from mesospaas.model import Condition, Goal, Instance
from mesospaas.model.condition import LIVE_TASK
from scheduler.store import Change, Store

log = logging.getLogger(__name__)

PREFIX = "mesospaas"
OTHER_APPS = "__other__"
DEFAULT_MAX_APPS = 100
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds, for in-process work (placement, store operations, API requests)."""
LAUNCH_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
"""Seconds from ACCEPT to TASK_RUNNING (fetching, pulling an image, starting the command)."""
ZOOKEEPER_STATES = ("CONNECTED", "SUSPENDED", "LOST")
CONDITIONS_BY_ID = {id(condition): condition for condition in Condition}
RUNNING = Goal.RUNNING
VERSION = "0.1.0"


@dataclass
class Sources:
    """Where scrape-time gauges read from; each may be left unset (the series is then absent or zero)."""

    platform: Callable[[], Any | None] = lambda: None
    """The runtime serving now (``None`` on a standby, or between terms)."""
    is_leader: Callable[[], bool] = lambda: True
    leader_changes: Callable[[], int] | None = None
    """Times this instance saw the leader change (HA only)."""
    terms: Callable[[], int] | None = None
    """Leadership terms this instance has served (HA only)."""
    zookeeper_state: Callable[[], str] | None = None
    """kazoo's session state: CONNECTED, SUSPENDED or LOST (HA only)."""
    subscribers: Callable[[], int] | None = None
    """Clients on ``/v2/events``."""
    extra: list[Callable[[], Iterable[Metric]]] = field(default_factory=list)
    """More scrape-time families, for a concern that keeps its own state (each a callable yielding families)."""


class Metrics:
    """Every meter of one process (see the module docstring). ``max_apps`` caps the per-app series."""

    def __init__(self, registry: CollectorRegistry | None = None, *, max_apps: int = DEFAULT_MAX_APPS,
                 process: bool = True) -> None:
        if max_apps < 1:
            raise ValueError("max_apps must be at least 1")
        self.registry = registry if registry is not None else CollectorRegistry()
        self.max_apps = max_apps
        self.sources = Sources()
        r = self.registry
        if process:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        self.offers_received = Counter(f"{PREFIX}_offers_received", "Resource offers received from Mesos",
                                       registry=r)
        self.offers_used = Counter(f"{PREFIX}_offers_used", "Offers accepted with at least one launch", registry=r)
        self.offers_declined = Counter(f"{PREFIX}_offers_declined", "Offers declined", registry=r)
        self.offers_rescinded = Counter(f"{PREFIX}_offers_rescinded", "Offers rescinded by Mesos", registry=r)
        self.placement_rounds = Counter(f"{PREFIX}_placement_rounds", "Offer rounds that ran placement", registry=r)
        self.placement_decisions = Counter(f"{PREFIX}_placement_decisions",
                                           "Instances placement decided on, by outcome (launched, unplaced)",
                                           ["outcome"], registry=r)
        self.placement_rejects = Counter(f"{PREFIX}_placement_rejects",
                                         "Offers rejected for an app during placement, by reason", ["reason"],
                                         registry=r)
        self.placement_duration = Histogram(f"{PREFIX}_placement_duration_seconds",
                                            "Time one placement round takes", buckets=LATENCY_BUCKETS, registry=r)
        self.status_updates = Counter(f"{PREFIX}_status_updates", "Mesos task status updates, by state",
                                      ["state"], registry=r)
        self.task_launch_duration = Histogram(f"{PREFIX}_task_launch_duration_seconds",
                                              "Time from ACCEPT to TASK_RUNNING of an app's task",
                                              buckets=LAUNCH_BUCKETS, registry=r)
        self.task_reconciliations = Counter(f"{PREFIX}_task_reconciliations",
                                            "Task reconciliation rounds with Mesos (explicit then implicit)",
                                            registry=r)
        self.deployments_finished = Counter(f"{PREFIX}_deployments_finished",
                                            "Deployments that ended, by outcome (succeeded, failed, canceled)",
                                            ["outcome"], registry=r)
        self.deployment_rollbacks = Counter(f"{PREFIX}_deployment_rollbacks",
                                            "Rollback deployments started, by trigger (automatic, requested)",
                                            ["trigger"], registry=r)
        self.store_duration = Histogram(f"{PREFIX}_store_operation_duration_seconds",
                                        "Time a store operation takes, by operation (load, get, commit)",
                                        ["operation"], buckets=LATENCY_BUCKETS, registry=r)
        self.store_errors = Counter(f"{PREFIX}_store_operation_errors", "Store operations that failed",
                                    ["operation"], registry=r)
        self.api_requests = Counter(f"{PREFIX}_api_requests", "HTTP API requests, by method, route template and "
                                    "status", ["method", "route", "status"], registry=r)
        self.api_duration = Histogram(f"{PREFIX}_api_request_duration_seconds",
                                      "Time to answer an HTTP API request, by method and route template",
                                      ["method", "route"], buckets=LATENCY_BUCKETS, registry=r)
        self.health_checks = Counter(f"{PREFIX}_health_checks", "Health check probes the leader ran, by result "
                                     "(passed, failed, ignored, unknown)", ["result"], registry=r)
        self.health_kills = Counter(f"{PREFIX}_health_kills", "Tasks killed for failing their health checks",
                                    registry=r)
        for outcome in ("launched", "unplaced"):
            self.placement_decisions.labels(outcome)
        for result in ("passed", "failed"):
            self.health_checks.labels(result)
        for outcome in ("succeeded", "failed", "canceled"):
            self.deployments_finished.labels(outcome)
        for trigger in ("automatic", "requested"):
            self.deployment_rollbacks.labels(trigger)
        for operation in ("load", "get", "commit"):
            self.store_duration.labels(operation)
            self.store_errors.labels(operation)
        self.state = StateCollector(self)
        r.register(self.state)
        self._scrape = asyncio.Lock()

    # -- hooks the runtime calls (one line at each point) ---------------------------------------------------
    def on_placement(self, result: Any, seconds: float) -> None:
        """One placement round's outcome (``mesospaas.placement.PlacementResult``) and how long it took."""
        self.placement_rounds.inc()
        self.placement_duration.observe(seconds)
        self.placement_decisions.labels("launched").inc(len(result.launches))
        self.placement_decisions.labels("unplaced").inc(len(result.unplaced))
        rejects: dict[str, int] = {}
        for diagnostics in result.diagnostics.values():
            for reason, count in diagnostics.rejects.items():
                rejects[reason.value] = rejects.get(reason.value, 0) + count
        for reason, count in rejects.items():
            self.placement_rejects.labels(reason).inc(count)

    def on_task_state(self, before: Instance, after: Instance, now: float) -> None:
        """An app instance's task moved: the first TASK_RUNNING after a launch observes its launch latency."""
        if after.condition is Condition.RUNNING and before.condition is not Condition.RUNNING \
                and before.started_at is None and after.staged_at is not None:
            self.task_launch_duration.observe(max(0.0, now - after.staged_at))

    def on_health_results(self, results: Iterable[Any]) -> None:
        """A batch of probe results (``mesospaas.health.ProbeResult``), counted by outcome."""
        counts: dict[str, int] = {}
        for result in results:
            name = type(result.outcome).__name__.lower()
            counts[name] = counts.get(name, 0) + 1
        for name, count in counts.items():
            self.health_checks.labels(name).inc(count)

    def deployment_finished(self, outcome: str, rollback: str | None = None) -> None:
        self.deployments_finished.labels(outcome).inc()
        if rollback is not None:
            self.deployment_rollbacks.labels(rollback).inc()

    def metered(self, store: Store) -> MeteredStore:
        """``store`` with every operation timed into ``mesospaas_store_operation_duration_seconds``."""
        return MeteredStore(store, self)

    # -- exposition --------------------------------------------------------------------------------------------
    async def families(self) -> list[Metric]:
        """Every family of the registry, the scrape-time ones read on the loop (for ``GET /metrics``)."""
        async with self._scrape:
            self.state.freeze()
            try:
                return await asyncio.to_thread(lambda: list(self.registry.collect()))
            finally:
                self.state.thaw()

    async def render(self, accept: str | None) -> tuple[bytes, str]:
        """The exposition ``accept`` asks for (OpenMetrics or Prometheus text 0.0.4) and its content type."""
        encoder, content_type = choose_encoder(accept or "")
        async with self._scrape:
            self.state.freeze()
            try:
                body = await asyncio.to_thread(encoder, self.registry)
            finally:
                self.state.thaw()
        return body, content_type


class StateCollector(Collector):
    """The scrape-time gauges (module docstring); ``freeze`` takes them on the loop, a thread then reads them."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._frozen: list[Metric] | None = None

    def freeze(self) -> None:
        self._frozen = list(self._families())

    def thaw(self) -> None:
        self._frozen = None

    def collect(self) -> Iterable[Metric]:
        if self._frozen is not None:
            return list(self._frozen)
        return list(self._families())

    def _families(self) -> Iterator[Metric]:
        sources = self.metrics.sources
        yield from _guarded("leadership", lambda: self._leadership(sources))
        yield from _guarded("event stream", lambda: _event_stream(sources))
        platform = _guarded_value("platform", sources.platform)
        if platform is not None:
            yield from _guarded("runtime state", lambda: runtime_families(platform, self.metrics.max_apps))
        for extra in sources.extra:
            yield from _guarded("extra", extra)

    @staticmethod
    def _leadership(sources: Sources) -> Iterator[Metric]:
        info = GaugeMetricFamily(f"{PREFIX}_build_info", "Always 1; the version of mesospaas", labels=["version"])
        info.add_metric([VERSION], 1)
        yield info
        yield GaugeMetricFamily(f"{PREFIX}_leader", "1 while this instance leads (acts on Mesos), 0 on a standby",
                                value=1 if sources.is_leader() else 0)
        if sources.leader_changes is not None:
            yield CounterMetricFamily(f"{PREFIX}_leader_changes", "Times this instance saw the leader change",
                                      value=sources.leader_changes())
        if sources.terms is not None:
            yield CounterMetricFamily(f"{PREFIX}_leadership_terms", "Leadership terms this instance has served",
                                      value=sources.terms())
        if sources.zookeeper_state is not None:
            state = str(sources.zookeeper_state())
            family = GaugeMetricFamily(f"{PREFIX}_zookeeper_session_state",
                                       "1 for the state the ZooKeeper session is in now", labels=["state"])
            for name in ZOOKEEPER_STATES:
                family.add_metric([name], 1 if state == name else 0)
            yield family


def _event_stream(sources: Sources) -> Iterator[Metric]:
    if sources.subscribers is not None:
        yield GaugeMetricFamily(f"{PREFIX}_event_stream_subscribers", "Clients subscribed to /v2/events",
                                value=sources.subscribers())


def runtime_families(platform: Any, max_apps: int) -> Iterator[Metric]:
    """The gauges read from a runtime's state. One C-level pass tallies the instances by (app, condition,
    goal, health); the rest works on those few keys, so the per-instance cost is one tuple and one count."""
    state = platform.state
    now = platform.clock()
    apps = state.apps
    named = frozenset(sorted(apps)[:max_apps])
    # Enum members are singletons: tallying their ids skips Enum.__hash__, a Python call per instance.
    tally = Tally([(i.app_id, id(i.condition), i.goal is RUNNING, i.healthy) for i in state.instances.values()])
    by_condition: dict[tuple[str, str], int] = {}
    healthy: dict[str, int] = {}
    unhealthy: dict[str, int] = {}
    waiting: dict[str, int] = {}
    for (app_id, condition_id, goal_running, health), count in tally.items():
        condition = CONDITIONS_BY_ID[condition_id]
        app = app_id if app_id in named else OTHER_APPS
        key = (app, condition.value)
        by_condition[key] = by_condition.get(key, 0) + count
        if health is True:
            healthy[app] = healthy.get(app, 0) + count
        elif health is False:
            unhealthy[app] = unhealthy.get(app, 0) + count
        if goal_running and condition not in LIVE_TASK:  # Instance.is_launchable
            waiting[app_id] = waiting.get(app_id, 0) + count
    queued = delayed = 0
    for app_id, count in waiting.items():
        spec = apps.get(app_id)
        if spec is None:
            continue  # instances of a removed app, about to be expunged: not in the launch queue
        if delayed_until(state.backoffs.get(app_id), spec, now) is None:
            queued += count
        else:
            delayed += count
    yield GaugeMetricFamily(f"{PREFIX}_apps", "Apps defined", value=len(apps))
    instances = GaugeMetricFamily(f"{PREFIX}_app_instances", "Instances by app and condition",
                                  labels=["app", "condition"])
    for (app, condition_name), count in sorted(by_condition.items()):
        instances.add_metric([app, condition_name], count)
    yield instances
    yield _per_app(f"{PREFIX}_app_instances_healthy", "Instances whose health checks pass, by app", healthy)
    yield _per_app(f"{PREFIX}_app_instances_unhealthy", "Instances whose health checks fail, by app", unhealthy)
    queue = GaugeMetricFamily(f"{PREFIX}_launch_queue_instances",
                              "Instances waiting to be launched, by whether their app is in backoff",
                              labels=["delayed"])
    queue.add_metric(["false"], queued)
    queue.add_metric(["true"], delayed)
    yield queue
    paused = sum(1 for running in state.deployments.values() if running.supervision.paused)
    deployments = GaugeMetricFamily(f"{PREFIX}_deployments_running", "Deployments in progress, paused or not",
                                    labels=["paused"])
    deployments.add_metric(["false"], len(state.deployments) - paused)
    deployments.add_metric(["true"], paused)
    yield deployments
    subscribed = getattr(platform, "subscribed", None)
    if subscribed is not None:
        yield GaugeMetricFamily(f"{PREFIX}_mesos_subscribed", "1 while subscribed to a Mesos master",
                                value=1 if subscribed.is_set() else 0)
    jobs = getattr(getattr(platform, "jobs", None), "jobs", None)
    if isinstance(jobs, dict):
        yield from jobs_families(jobs)


def jobs_families(jobs: dict[Any, Any]) -> Iterator[Metric]:
    """Batch jobs (``scheduler.jobs.JobsShell.jobs``): how many, their unfinished runs by status, and the
    finished runs their histories count (a deleted job's runs leave the sum: Prometheus sees a reset)."""
    active: dict[str, int] = {status: 0 for status in ("INITIAL", "STARTING", "ACTIVE")}
    successes = failures = 0
    for state in jobs.values():
        for run in state.runs:
            active[run.status.value] = active.get(run.status.value, 0) + 1
        successes += state.history.success_count
        failures += state.history.failure_count
    yield GaugeMetricFamily(f"{PREFIX}_jobs", "Jobs defined", value=len(jobs))
    runs = GaugeMetricFamily(f"{PREFIX}_job_runs_active", "Unfinished job runs, by status", labels=["status"])
    for status, count in sorted(active.items()):
        runs.add_metric([status], count)
    yield runs
    finished = CounterMetricFamily(f"{PREFIX}_job_runs_finished", "Finished job runs, by outcome",
                                   labels=["outcome"])
    finished.add_metric(["success"], successes)
    finished.add_metric(["failed"], failures)
    yield finished


def _per_app(name: str, documentation: str, counts: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["app"])
    for app, count in sorted(counts.items()):
        family.add_metric([app], count)
    return family


def _guarded(what: str, produce: Callable[[], Iterable[Metric]]) -> list[Metric]:
    try:
        return list(produce())
    except Exception:  # a broken source leaves its series out; the scrape goes on
        log.warning("metrics: reading %s failed; left out of this scrape", what, exc_info=True)
        return []


def _guarded_value(what: str, produce: Callable[[], Any]) -> Any:
    try:
        return produce()
    except Exception:  # e.g. NotLeader between terms: no runtime to read
        log.debug("metrics: no %s to read", what, exc_info=True)
        return None


class MeteredStore:
    """A ``Store`` that times each operation of the store it wraps (and counts the failed ones)."""

    def __init__(self, store: Store, metrics: Metrics) -> None:
        self.inner = store
        self._metrics = metrics

    def _timed(self, operation: str, call: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return call()
        except Exception:
            self._metrics.store_errors.labels(operation).inc()
            raise
        finally:
            self._metrics.store_duration.labels(operation).observe(time.perf_counter() - started)

    def load(self, namespace: str) -> dict[str, bytes]:
        result: dict[str, bytes] = self._timed("load", lambda: self.inner.load(namespace))
        return result

    def get(self, namespace: str, key: str) -> bytes | None:
        result: bytes | None = self._timed("get", lambda: self.inner.get(namespace, key))
        return result

    def commit(self, changes: Sequence[Change]) -> None:
        self._timed("commit", lambda: self.inner.commit(changes))

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:  # backend extras (fence, fenced_out, ...) pass through
        return getattr(self.inner, name)


__all__ = ["DEFAULT_MAX_APPS", "MeteredStore", "Metrics", "OTHER_APPS", "Sources", "runtime_families"]
