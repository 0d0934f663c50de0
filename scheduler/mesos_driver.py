"""The pymesos adapter: Mesos callbacks in, Mesos calls out, nothing decided here.

Owns: the ``FrameworkInfo`` mesospaas subscribes with (stable id, ``failover_timeout``, ``checkpoint: true``,
PARTITION_AWARE, TASK_KILLING_STATE, MULTI_ROLE with the default role and every role its apps use), turning
pymesos callbacks (run on pymesos's IO thread) into ``MesosEvent`` values handed to the asyncio loop with
``call_soon_threadsafe``, and the calls to Mesos. ``update_roles`` changes the subscribed roles with the v1
``UPDATE_FRAMEWORK`` call (Mesos 1.9+; the next re-SUBSCRIBE carries them too); REVIVE and SUPPRESS name the
roles they mean.

Rules pymesos imposes (see the protocol reference, section 8): never call the driver from inside a callback
(a failing call there aborts the driver thread), acknowledge explicitly (``implicit_acknowledgements=False``),
and stop with ``failover=True`` so a restart of mesospaas never tears the framework down. pymesos holds the
subscription (master detection, SUBSCRIBE stream, reconnects); calls go on that subscription over lean
keep-alive connections (``scheduler.mesos_calls``).
Fails: a call Mesos refuses raises ``MesosCallError`` in the awaiting coroutine; nothing is retried here
(the runtime's periodic reconciliation repairs what a lost call left behind).
"""

from __future__ import annotations

import asyncio
import binascii
import concurrent.futures
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.handlers.threading import KazooTimeoutError
from pymesos import MesosSchedulerDriver, Scheduler, decode_data
from tenacity import Retrying, before_sleep_log, retry_if_exception_type, stop_after_attempt, wait_exponential

from scheduler.acting import ActingGate, NotLeader
from scheduler.fenced_subscribe import FencedSchedulerDriver
from scheduler.mesos_calls import CallFailed, CallPool

log = logging.getLogger(__name__)

ONE_WEEK = 7 * 24 * 3600.0
CALL_CONCURRENCY = 16
CALL_TIMEOUT = 30.0


class MesosCallError(RuntimeError):
    """Mesos (or the connection to it) refused a call."""


# -- events ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Subscribed:
    framework_id: str
    reregistered: bool


@dataclass(frozen=True)
class Disconnected:
    pass


@dataclass(frozen=True)
class OffersReceived:
    offers: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class OfferRescinded:
    offer_id: str


@dataclass(frozen=True)
class StatusReceived:
    status: dict[str, Any]


@dataclass(frozen=True)
class AgentLost:
    agent_id: str


@dataclass(frozen=True)
class ExecutorLost:
    executor_id: str
    agent_id: str
    status: int


@dataclass(frozen=True)
class MesosError:
    message: str


@dataclass(frozen=True)
class FrameworkMessage:
    """A framework message from an executor (``data`` decoded from base64; see mesospaas.executor_protocol)."""

    executor_id: str
    agent_id: str
    data: bytes


MesosEvent = (Subscribed | Disconnected | OffersReceived | OfferRescinded | StatusReceived | AgentLost
              | ExecutorLost | MesosError | FrameworkMessage)


@dataclass(frozen=True)
class FrameworkSettings:
    """What mesospaas tells Mesos about itself."""

    name: str = "mesospaas"
    user: str = "root"
    role: str = "*"
    failover_timeout: float = ONE_WEEK
    hostname: str | None = None
    webui_url: str | None = None
    principal: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def framework_info(self, framework_id: str | None, roles: Iterable[str] | None = None) -> dict[str, Any]:
        """The ``FrameworkInfo``; ``roles`` (sorted, without duplicates) default to the configured role alone."""
        info: dict[str, Any] = {
            "user": self.user, "name": self.name, "failover_timeout": float(self.failover_timeout),
            "checkpoint": True, "roles": sorted(set(roles)) if roles else [self.role],
            "capabilities": [{"type": "MULTI_ROLE"}, {"type": "PARTITION_AWARE"},
                             {"type": "TASK_KILLING_STATE"}, {"type": "GPU_RESOURCES"}]}
        if framework_id:
            info["id"] = {"value": framework_id}
        if self.hostname:
            info["hostname"] = self.hostname
        if self.webui_url:
            info["webui_url"] = self.webui_url
        if self.principal:
            info["principal"] = self.principal
        if self.labels:
            info["labels"] = {"labels": [{"key": k, "value": v} for k, v in sorted(self.labels.items())]}
        return info


class _Callbacks(Scheduler):  # type: ignore[misc]
    """pymesos callbacks -> events on the loop. Runs on pymesos's IO thread; must never raise."""

    def __init__(self, emit: Callable[[MesosEvent], None]) -> None:
        self._emit = emit

    def registered(self, driver: Any, framework_id: dict[str, str], master_info: Any) -> None:
        self._emit(Subscribed(framework_id["value"], reregistered=False))

    def reregistered(self, driver: Any, master_info: Any) -> None:
        self._emit(Subscribed(str(driver.framework_id), reregistered=True))

    def disconnected(self, driver: Any) -> None:
        self._emit(Disconnected())

    def resourceOffers(self, driver: Any, offers: list[dict[str, Any]]) -> None:
        self._emit(OffersReceived(tuple(offers)))

    def offerRescinded(self, driver: Any, offer_id: dict[str, str]) -> None:
        self._emit(OfferRescinded(offer_id["value"]))

    def statusUpdate(self, driver: Any, status: dict[str, Any]) -> None:
        self._emit(StatusReceived(status))

    def slaveLost(self, driver: Any, agent_id: dict[str, str]) -> None:
        self._emit(AgentLost(agent_id["value"]))

    def executorLost(self, driver: Any, executor_id: dict[str, str], agent_id: dict[str, str], status: int) -> None:
        self._emit(ExecutorLost(executor_id["value"], agent_id["value"], int(status)))

    def error(self, driver: Any, message: str) -> None:
        self._emit(MesosError(str(message)))

    def frameworkMessage(self, driver: Any, executor_id: dict[str, str], agent_id: dict[str, str],
                         data: str) -> None:
        try:
            payload = decode_data(data)
        except (binascii.Error, TypeError, ValueError):
            log.warning("undecodable framework message from executor %s", executor_id)
            return
        self._emit(FrameworkMessage(str(executor_id.get("value", "")), str(agent_id.get("value", "")), payload))


def ensure_master_path(master: str, attempts: int = 6) -> None:
    """Creates the path of a ``zk://hosts/path`` master URL if missing; retries ZooKeeper with backoff."""
    hosts, _, path = master.split("://", 1)[1].partition("/")
    hosts = hosts.rpartition("@")[2]

    def attempt() -> None:
        client = KazooClient(hosts=hosts, timeout=10)
        try:
            client.start(timeout=10)
            client.ensure_path("/" + path.strip("/"))
        finally:
            client.stop()
            client.close()

    Retrying(stop=stop_after_attempt(attempts), wait=wait_exponential(multiplier=0.5, max=10),
             retry=retry_if_exception_type((KazooException, KazooTimeoutError)),
             before_sleep=before_sleep_log(log, logging.WARNING), reraise=True)(attempt)


class MesosDriver:
    """One subscription to a Mesos master (``host:port`` or ``zk://...``) through pymesos."""

    def __init__(self, master: str, settings: FrameworkSettings, framework_id: str | None,
                 on_event: Callable[[MesosEvent], None], loop: asyncio.AbstractEventLoop,
                 gate: ActingGate | None = None, roles: Iterable[str] | None = None) -> None:
        self._loop = loop
        self._gate = gate
        self._on_event = on_event
        self._settings = settings
        self._calls = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="mesos-calls")
        self._master = master
        info = settings.framework_info(framework_id, roles)
        self._roles: tuple[str, ...] = tuple(info["roles"])
        verdict = getattr(gate, "verdict", None)  # a leader term fences every (re-)SUBSCRIBE (fenced_subscribe)
        if callable(verdict):
            self._driver = FencedSchedulerDriver(_Callbacks(self._emit), info, master, verdict=verdict,
                                                 implicit_acknowledgements=False, failover=True)
        else:
            self._driver = MesosSchedulerDriver(_Callbacks(self._emit), info, master,
                                                implicit_acknowledgements=False, failover=True)
        self._stopped = False
        self._calls_out: CallPool | None = None

    def _emit(self, event: MesosEvent) -> None:
        if self._stopped:
            return
        try:
            self._loop.call_soon_threadsafe(self._on_event, event)
        except RuntimeError:  # the loop is closed: we are shutting down
            pass

    @property
    def current_master(self) -> str | None:
        """``host:port`` of the master the driver talks to now (with a ``zk://`` master, the detected leader;
        ``None`` while none is known)."""
        found = self._driver.master
        if not isinstance(found, str) or not found or found.startswith(("zk://", "zoo://")):
            return None
        return found.removeprefix("http://").rstrip("/")

    async def start(self) -> None:
        """Starts pymesos in a thread: its start does a blocking ``GET /version`` on the master, which may be
        served by this very event loop (``mesospaas local``). For a ``zk://`` master the Mesos path is made to
        exist first: pymesos' detector watches it through a chroot and silently never finds a master when it
        is missing (a fresh ZooKeeper, masters not up yet)."""
        loop = asyncio.get_running_loop()
        if self._master.startswith(("zk://", "zoo://")):
            await loop.run_in_executor(self._calls, ensure_master_path, self._master)
        await loop.run_in_executor(self._calls, self._driver.start)

    async def stop(self) -> None:
        """Leaves the framework registered (failover), so a restarted mesospaas finds its tasks."""
        self._stopped = True
        if self._calls_out is not None:
            await self._calls_out.close()
            self._calls_out = None
        await asyncio.get_running_loop().run_in_executor(self._calls, self._stop_blocking)
        self._calls.shutdown(wait=True)

    def _stop_blocking(self) -> None:
        detector = getattr(self._driver, "detector", None)
        self._driver.stop(failover=True)
        self._driver.join()
        client = getattr(detector, "zk", None)
        if client is not None:  # pymesos stops its detector's ZooKeeper client but never closes it
            try:
                client.close()
            except Exception as exc:  # closing is best effort; the process goes on
                log.debug("closing the master detector's ZooKeeper client: %s", exc)

    # -- calls ----------------------------------------------------------------------------------------
    # pymesos sends every call on one blocking connection, one round trip at a time, which caps a large launch
    # at a few hundred calls per second. Calls go over our own keep-alive pool instead (``scheduler.mesos_calls``),
    # on the subscription pymesos holds (its master address and Mesos-Stream-Id), so independent calls
    # (acknowledgements, accepts) overlap.
    async def _post(self, body: dict[str, Any]) -> None:
        if self._stopped:
            raise MesosCallError(f"{body.get('type')}: the driver is stopped")
        if self._gate is not None:
            await self._gate.check()  # raises NotLeader: a deposed leader never calls Mesos
        master, stream_id, framework_id = self._driver.master, self._driver.stream_id, self._driver.framework_id
        if not master or not stream_id or not framework_id:
            raise MesosCallError(f"{body.get('type')}: not subscribed")
        if self._calls_out is None:
            self._calls_out = CallPool(CALL_CONCURRENCY, CALL_TIMEOUT)
        body = {"framework_id": {"value": framework_id}, **body}
        headers = {"Content-Type": "application/json", "Accept": "application/json", "Mesos-Stream-Id": stream_id}
        host, _, port = master.removeprefix("http://").rstrip("/").rpartition(":")
        try:
            status, answer = await self._calls_out.post(host.strip("[]"), int(port), "/api/v1/scheduler",
                                                        json.dumps(body).encode(), headers)
        except (CallFailed, ValueError) as exc:
            raise MesosCallError(f"{body['type']} failed: {exc!r}") from exc
        if status >= 300:
            raise MesosCallError(f"{body['type']} answered {status}: {answer.decode(errors='replace')[:300]}")

    async def _post_all(self, bodies: list[dict[str, Any]]) -> None:
        results = await asyncio.gather(*(self._post(b) for b in bodies), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            if isinstance(failure, NotLeader):
                raise failure
        if failures:
            raise MesosCallError(f"{len(failures)} of {len(bodies)} calls failed: {failures[0]}")

    @staticmethod
    def _filters(refuse_seconds: float) -> dict[str, float]:
        return {"refuse_seconds": refuse_seconds}

    async def accept(self, offer_ids: list[str], operations: list[dict[str, Any]], refuse_seconds: float) -> None:
        await self.accept_all([(offer_ids, operations)], refuse_seconds)

    async def accept_all(self, accepts: list[tuple[list[str], list[dict[str, Any]]]], refuse_seconds: float) -> None:
        """Several ACCEPTs at once (each for its own offers)."""
        await self._post_all([{"type": "ACCEPT", "accept": {
            "offer_ids": [{"value": i} for i in offer_ids], "operations": operations,
            "filters": self._filters(refuse_seconds)}} for offer_ids, operations in accepts])

    async def decline(self, offer_ids: list[str], refuse_seconds: float) -> None:
        if offer_ids:
            await self._post({"type": "DECLINE", "decline": {"offer_ids": [{"value": i} for i in offer_ids],
                                                              "filters": self._filters(refuse_seconds)}})

    async def kill(self, task_id: str, kill_policy: dict[str, Any] | None = None) -> None:
        kill: dict[str, Any] = {"task_id": {"value": task_id}}
        if kill_policy is not None:
            kill["kill_policy"] = kill_policy  # e.g. the app's taskKillGracePeriodSeconds
        await self._post({"type": "KILL", "kill": kill})

    async def acknowledge(self, status: dict[str, Any]) -> None:
        await self.acknowledge_all([status])

    async def acknowledge_all(self, statuses: list[dict[str, Any]]) -> None:
        await self._post_all([{"type": "ACKNOWLEDGE", "acknowledge": {
            "agent_id": s["agent_id"], "task_id": s["task_id"], "uuid": s["uuid"]}} for s in statuses])

    async def reconcile(self, tasks: list[str], agents: Mapping[str, str] | None = None) -> None:
        """Explicit (``tasks``) or implicit (``[]``) reconciliation. ``agents``: each task's last known agent id,
        sent along: after a master failover, Mesos answers for a task whose agent is known and back, and holds
        the answer (rather than guess TASK_UNKNOWN) while that agent has not re-registered (transcript 94)."""
        known = agents or {}
        await self._post({"type": "RECONCILE", "reconcile": {"tasks": [
            {"task_id": {"value": t}, **({"agent_id": {"value": known[t]}} if t in known else {})} for t in tasks]}})

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles the framework is subscribed with (as Mesos last accepted them)."""
        return self._roles

    async def update_roles(self, roles: Iterable[str]) -> bool:
        """Subscribes the framework with ``roles`` (UPDATE_FRAMEWORK); False when they are the current ones.

        The roles also go into the ``FrameworkInfo`` pymesos re-subscribes with after a reconnection (its
        ``_framework``: pymesos has no public setter), so a lost call is repaired by the next SUBSCRIBE.
        Raises ``MesosCallError`` when Mesos refuses the call (the current roles then stay)."""
        wanted = tuple(sorted(set(roles)))
        if wanted == self._roles:
            return False
        self._driver._framework["roles"] = list(wanted)
        info = self._driver.framework
        if "id" not in info:  # not subscribed yet: the first SUBSCRIBE carries the roles
            self._roles = wanted
            return True
        await self._post({"type": "UPDATE_FRAMEWORK", "update_framework": {"framework_info": info}})
        self._roles = wanted
        return True

    async def revive(self, roles: Iterable[str] | None = None) -> None:
        """REVIVE for ``roles`` (default: every subscribed role)."""
        await self._post({"type": "REVIVE", "revive": {"roles": sorted(set(roles or self._roles))}})

    async def suppress(self, roles: Iterable[str] | None = None) -> None:
        """SUPPRESS for ``roles`` (default: every subscribed role)."""
        await self._post({"type": "SUPPRESS", "suppress": {"roles": sorted(set(roles or self._roles))}})
