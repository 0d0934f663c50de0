"""The localmesos master: frameworks, offers, tasks, allocation, status routing, failover and agent loss.

Owns all master-side state and the rules a real Mesos 1.11 master applies to it (the HTTP surface that feeds
it lives in ``master_http``): framework subscription and failover (``failover_timeout``, "Framework failed
over", "Framework has been removed"), a batch allocator that offers each agent's free resources every
``allocation_interval`` with DECLINE/ACCEPT refuse filters and SUPPRESS/REVIVE, validation of ACCEPT the way
the master does it (TASK_ERROR, TASK_LOST or TASK_DROPPED with the real reasons and texts), forwarding of the
agents' reliable updates (task state, ``statuses``, resource accounting), reconciliation answers, and agent
disconnection and removal with the events checkpointing and partition-aware frameworks get.

Invariants: an offer's resources are held by exactly one framework until accepted, declined or rescinded;
an agent's free resources = total - used - offered; master-generated updates carry no uuid; a task leaves the
master once its terminal update is acknowledged. All methods run on the event loop thread.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import roles  # -- multi-role: per-role offers, filters, suppression
from .containers.validation import PREFIX as CONTAINER_INVALID, container_error
from .clock import LOOP_CLOCK, Clock, Timer
from .resources import Resources, ResourceError
from .wire import RecordIOStream

if TYPE_CHECKING:
    from .agent import Agent

log = logging.getLogger(__name__)

VERSION = "1.11.1"
TERMINAL_STATES = frozenset({"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST",
                             "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR"})
MAX_COMPLETED_TASKS = 1000
MAX_COMPLETED_FRAMEWORKS = 50
MIN_ALLOCATABLE = (("cpus", 0.01), ("mem", 32.0))
STATUS_KEY_ORDER = ("task_id", "state", "message", "source", "reason", "data", "agent_id", "executor_id",
                    "timestamp", "uuid", "healthy", "check_status", "labels", "container_status",
                    "unreachable_time", "limitation")


def ordered_status(status: dict[str, Any]) -> dict[str, Any]:
    """TaskStatus keys in the order the real master writes them."""
    out = {k: status[k] for k in STATUS_KEY_ORDER if k in status}
    out.update({k: v for k, v in status.items() if k not in out})
    return out


@dataclass
class MasterFlags:
    """The real master's timing knobs, defaulting to Mesos' values."""

    heartbeat_interval: float = 15.0
    allocation_interval: float = 1.0
    agent_ping_timeout: float = 15.0
    max_agent_ping_timeouts: int = 5
    offer_refuse_default: float = 5.0
    hostname: str = "127.0.0.1"
    ip: str = "127.0.0.1"
    port: int = 5050
    work_dir: str = ""

    def removal_timeout(self) -> float:
        return self.agent_ping_timeout * self.max_agent_ping_timeouts


@dataclass
class Offer:
    id: str
    framework_id: str
    agent_id: str
    resources: Resources
    role: str = "*"  # -- multi-role: the allocation role (localmesos.roles)


@dataclass
class Task:
    task_id: str
    name: str
    framework_id: str
    agent_id: str
    executor_id: str
    resources: Resources
    info: dict[str, Any]
    role: str = "*"
    state: str = "TASK_STAGING"
    status_update_state: str | None = None
    status_update_uuid: str | None = None
    latest_status: dict[str, Any] | None = None
    statuses: list[dict[str, Any]] = field(default_factory=list)  # full TaskStatus, one per run of equal states
    seen_uuids: set[str] = field(default_factory=set)
    unreachable_time: float | None = None


@dataclass
class Framework:
    id: str
    info: dict[str, Any]
    registered_time: float
    stream: RecordIOStream | None = None
    active: bool = True
    connected: bool = True
    suppressed: bool = False
    unregistered_time: float = 0.0
    reregistered_time: float | None = None
    offers: dict[str, Offer] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    unreachable_tasks: dict[str, Task] = field(default_factory=dict)
    completed_tasks: deque[Task] = field(default_factory=lambda: deque(maxlen=MAX_COMPLETED_TASKS))
    filters: dict[str, tuple[float, Resources]] = field(default_factory=dict)
    executors: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    failover_timer: Timer | None = None
    suppressed_roles: set[str] = field(default_factory=set)  # -- multi-role (localmesos.roles)
    role_turns: dict[str, int] = field(default_factory=dict)  # -- multi-role: whose turn an agent is, per agent
    recovered: bool = False  # known only from an agent's re-registration after a master restart

    @property
    def capabilities(self) -> set[str]:
        return {c.get("type", "") for c in self.info.get("capabilities") or [] if isinstance(c, dict)}

    @property
    def partition_aware(self) -> bool:
        return "PARTITION_AWARE" in self.capabilities

    @property
    def checkpoint(self) -> bool:
        return bool(self.info.get("checkpoint", False))

    def used(self) -> Resources:
        total = Resources()
        for task in self.tasks.values():
            if task.state not in TERMINAL_STATES:
                total = total + task.resources
        return total

    def offered(self) -> Resources:
        total = Resources()
        for offer in self.offers.values():
            total = total + offer.resources
        return total


class AgentRecord:
    """The master's view of one agent. Its free resources are cached until used or offered change."""

    def __init__(self, agent: "Agent", registered_time: float) -> None:
        self.agent = agent
        self.registered_time = registered_time
        self.reregistered_time: float | None = None
        self.connected = True
        self.unreachable = False
        self.removal_timer: Timer | None = None
        self.unreachable_time: float | None = None
        self._used = Resources()
        self._offered = Resources()
        self._unused: Resources | None = None  # total - used
        self._available: Resources | None = None  # total - used - offered
        self.offer_template: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return self.agent.id

    @property
    def used(self) -> Resources:
        return self._used

    @used.setter
    def used(self, value: Resources) -> None:
        self._used = value
        self._unused = None
        self._available = None

    @property
    def offered(self) -> Resources:
        return self._offered

    @offered.setter
    def offered(self, value: Resources) -> None:
        self._offered = value
        self._available = None

    def available(self) -> Resources:
        # Kept as the same object while nothing changes, so its rendered JSON is reused every round.
        if self._available is None:
            if self._unused is None:
                self._unused = self.agent.total - self._used
            self._available = self._unused - self._offered if self._offered.scalars or \
                self._offered.ranges or self._offered.sets else self._unused
        return self._available

    def give_back(self, resources: Resources) -> None:
        """Offered resources return (declined, accepted, rescinded)."""
        self.offered = NO_RESOURCES if resources is self._offered else self._offered - resources


NO_RESOURCES = Resources()


def new_uuid_b64() -> str:
    return base64.b64encode(uuid.uuid4().bytes).decode()


_INVALID_ID = re.compile(r"[\x00-\x1f\x7f/\\]")


def invalid_id_reason(value: str) -> str | None:
    """Mesos' common ID validation; returns the error text or None."""
    if not value:
        return "ID must not be empty"
    if len(value) > 255:
        return f"ID must not be greater than 255 characters"
    if value in (".", ".."):
        return f"'{value}' is disallowed"
    if _INVALID_ID.search(value):
        return f"'{value}' contains invalid characters"
    return None


class Master:
    """All state of one localmesos master."""

    def __init__(self, flags: MasterFlags, clock: Clock = LOOP_CLOCK) -> None:
        self.flags = flags
        self.clock = clock
        """Runs the protocol deadlines: agent removal, framework failover, subscribers' heartbeats."""
        self.id = str(uuid.uuid4())
        self.start_time = time.time()
        self.elected_time = self.start_time
        self.frameworks: dict[str, Framework] = {}
        self.completed_frameworks: deque[Framework] = deque(maxlen=MAX_COMPLETED_FRAMEWORKS)
        self.removed_framework_ids: set[str] = set()
        self.agents: dict[str, AgentRecord] = {}
        self.unreachable_agents: dict[str, AgentRecord] = {}
        self._framework_counter = 0
        self._offer_counter = 0
        self._agent_counter = 0
        self._allocation_task: asyncio.Task[None] | None = None
        self._allocate_soon: asyncio.Handle | None = None
        self.metrics: dict[str, float] = {"valid_status_updates": 0, "offers_sent": 0}
        self.recovery: Any = None  # -- master restart: agents not yet re-registered (master_restart.Recovery)

    # -- identity -------------------------------------------------------------------------------------
    @property
    def pid(self) -> str:
        return f"master@{self.flags.ip}:{self.flags.port}"

    def master_info(self) -> dict[str, Any]:
        a, b, c, d = (int(x) for x in self.flags.ip.split("."))
        packed = a | (b << 8) | (c << 16) | (d << 24)
        return {"id": self.id, "ip": packed, "port": self.flags.port, "pid": self.pid,
                "hostname": self.flags.hostname, "version": VERSION,
                "address": {"hostname": self.flags.hostname, "ip": self.flags.ip, "port": self.flags.port},
                "capabilities": [{"type": "AGENT_UPDATE"}, {"type": "AGENT_DRAINING"}, {}]}

    def next_agent_id(self) -> str:
        agent_id = f"{self.id}-S{self._agent_counter}"
        self._agent_counter += 1
        return agent_id

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        self._allocation_task = asyncio.get_running_loop().create_task(self._allocation_loop())

    async def stop(self) -> None:
        if self._allocation_task is not None:
            self._allocation_task.cancel()
            try:
                await self._allocation_task
            except asyncio.CancelledError:
                pass
        for fw in self.frameworks.values():
            if fw.failover_timer:
                fw.failover_timer.cancel()
            if fw.stream is not None:
                fw.stream.close()
        for rec in list(self.agents.values()) + list(self.unreachable_agents.values()):
            if rec.removal_timer:
                rec.removal_timer.cancel()

    async def _allocation_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flags.allocation_interval)
            try:
                self.allocate()
            except Exception:  # a bug in one round must not stop offers for good
                log.exception("allocation round failed")

    def request_allocation(self) -> None:
        """Allocate at the next loop iteration (framework added, REVIVE, agent added)."""
        if self._allocate_soon is None:
            self._allocate_soon = asyncio.get_running_loop().call_soon(self._allocate_now)

    def _allocate_now(self) -> None:
        self._allocate_soon = None
        self.allocate()

    # -- agents ---------------------------------------------------------------------------------------
    def register_agent(self, agent: "Agent") -> None:
        if self.recovery is not None and agent.id in self.recovery.agents:  # -- master restart
            from .master_restart import readmit_agent
            readmit_agent(self, agent)
            return
        now = time.time()
        rec = self.unreachable_agents.pop(agent.id, None) or self.agents.get(agent.id)
        if rec is None:
            rec = AgentRecord(agent=agent, registered_time=now)
            self.agents[agent.id] = rec
            log.info("agent %s (%s) registered", agent.id, agent.hostname)
            self.request_allocation()
            return
        was_unreachable = rec.unreachable
        rec.agent = agent
        rec.offer_template = None
        rec.reregistered_time = now
        rec.connected = True
        rec.unreachable = False
        if rec.removal_timer:
            rec.removal_timer.cancel()
            rec.removal_timer = None
        self.agents[agent.id] = rec
        log.info("agent %s re-registered (was unreachable: %s)", agent.id, was_unreachable)
        if was_unreachable:
            self._restore_unreachable_tasks(rec)
        rec.used = self._agent_used(agent.id)
        self.request_allocation()

    def agent_disconnected(self, agent_id: str) -> None:
        """The agent's connection broke (stopped, crashed): what a real master does at once."""
        rec = self.agents.get(agent_id)
        if rec is None or not rec.connected:
            return
        rec.connected = False
        log.info("agent %s disconnected", agent_id)
        self._rescind_offers_on(agent_id)
        for fw in list(self.frameworks.values()):
            if fw.checkpoint:
                continue
            for task in [t for t in fw.tasks.values() if t.agent_id == agent_id]:
                self._master_update(fw, task, "TASK_LOST", "REASON_AGENT_DISCONNECTED",
                                    f"Agent {rec.agent.hostname} disconnected", remove=True)
            for key in [k for k in fw.executors if k[0] == agent_id]:
                del fw.executors[key]
        rec.used = self._agent_used(agent_id)
        rec.removal_timer = self.clock.call_later(self.flags.removal_timeout(), self._mark_unreachable, agent_id)

    def _mark_unreachable(self, agent_id: str) -> None:
        rec = self.agents.pop(agent_id, None)
        if rec is None:
            return
        rec.removal_timer = None
        rec.unreachable = True
        rec.unreachable_time = time.time()
        self.unreachable_agents[agent_id] = rec
        log.info("agent %s marked unreachable after %.1fs without pings", agent_id, self.flags.removal_timeout())
        unreachable_ns = int(rec.unreachable_time * 1e9)
        for fw in self.frameworks.values():  # the allocator forgets the agent's filters (transcript 64: re-offered)
            roles.drop_agent_filters(fw, agent_id)
        for fw in list(self.frameworks.values()):
            for task in [t for t in fw.tasks.values() if t.agent_id == agent_id]:
                state = "TASK_UNREACHABLE" if fw.partition_aware else "TASK_LOST"
                task.unreachable_time = rec.unreachable_time
                status = self._status(task, state, "REASON_AGENT_REMOVED", "health check timed out")
                status["unreachable_time"] = {"nanoseconds": unreachable_ns}
                self._apply_master_status(fw, task, status)
                del fw.tasks[task.task_id]
                fw.unreachable_tasks[task.task_id] = task
                self._send(fw, {"type": "UPDATE", "update": {"status": ordered_status(status)}})
        for fw in self.frameworks.values():
            self._send(fw, {"type": "FAILURE", "failure": {"agent_id": {"value": agent_id}}})
        self._rescind_offers_on(agent_id)

    def _restore_unreachable_tasks(self, rec: AgentRecord) -> None:
        for fw in self.frameworks.values():
            for task in [t for t in fw.unreachable_tasks.values() if t.agent_id == rec.id]:
                del fw.unreachable_tasks[task.task_id]
                live = rec.agent.task_latest_status(fw.id, task.task_id)
                if live is None:
                    continue
                fw.tasks[task.task_id] = task
                task.unreachable_time = None
                # The re-registered agent's view of the task replaces the master's: its statuses no longer hold
                # the TASK_LOST / TASK_UNREACHABLE of the removal (transcript 16b, f-task / g-task).
                task.statuses = [s for s in task.statuses if s.get("reason") != "REASON_AGENT_REMOVED"]
                status = self._status(task, live.get("state", "TASK_RUNNING"), "REASON_AGENT_REREGISTERED",
                                      "Unreachable agent re-reregistered")
                if "container_status" in live:
                    status["container_status"] = live["container_status"]
                task.state = status["state"]
                task.status_update_state = status["state"]
                self._send(fw, {"type": "UPDATE", "update": {"status": ordered_status(status)}})

    def _agent_used(self, agent_id: str) -> Resources:
        total = Resources()
        for fw in self.frameworks.values():
            for task in fw.tasks.values():
                if task.agent_id == agent_id and task.state not in TERMINAL_STATES:
                    total = total + task.resources
            for (aid, _), info in fw.executors.items():
                if aid == agent_id:
                    total = total + Resources.from_json(info.get("resources") or [])
        return total

    def _rescind_offers_on(self, agent_id: str) -> None:
        for fw in self.frameworks.values():
            for offer in [o for o in fw.offers.values() if o.agent_id == agent_id]:
                self._remove_offer(fw, offer)
                self._send(fw, {"type": "RESCIND", "rescind": {"offer_id": {"value": offer.id}}})

    # -- frameworks -----------------------------------------------------------------------------------
    def subscribe(self, info: dict[str, Any], framework_id: str | None,
                  stream: RecordIOStream) -> tuple[Framework | None, list[dict[str, Any]]]:
        """Registers or fails over a framework; returns it and the first events for its new stream."""
        now = time.time()
        if framework_id and framework_id in self.removed_framework_ids:
            return None, [{"type": "ERROR", "error": {"message": "Framework has been removed"}}]
        info = dict(info)
        fw = self.frameworks.get(framework_id) if framework_id else None
        framework_id_given = bool(framework_id)
        if fw is None:
            if not framework_id:
                framework_id = f"{self.id}-{self._framework_counter:04d}"
                self._framework_counter += 1
            info["id"] = {"value": framework_id}
            fw = Framework(id=framework_id, info=_framework_info_defaults(info), registered_time=now)
            if framework_id_given:  # an id this master never saw (it restarted): a re-registration (94)
                fw.reregistered_time = now
            if "failover_timeout" in info or "checkpoint" in info:
                pass
            self.frameworks[framework_id] = fw
            log.info("framework %s (%s) registered", framework_id, info.get("name"))
        else:
            old = fw.stream
            if old is not None and not old.closed:
                old.send({"type": "ERROR", "error": {"message": "Framework failed over"}})
                old.close()
            for offer in list(fw.offers.values()):
                self._remove_offer(fw, offer)
            if fw.failover_timer:
                fw.failover_timer.cancel()
                fw.failover_timer = None
            keep = {k: fw.info[k] for k in ("user", "checkpoint") if k in fw.info}
            info["id"] = {"value": fw.id}
            fw.info = _framework_info_defaults({**info, **keep})
            fw.reregistered_time = now
            fw.recovered = False
            log.info("framework %s (%s) failed over / re-subscribed", fw.id, info.get("name"))
        fw.stream = stream
        fw.connected = True
        fw.active = True
        subscribed = {"type": "SUBSCRIBED", "subscribed": {
            "framework_id": {"value": fw.id}, "heartbeat_interval_seconds": float(self.flags.heartbeat_interval),
            "master_info": self.master_info()}}
        return fw, [subscribed, {"type": "HEARTBEAT"}]

    def after_subscribe(self, fw: Framework) -> None:
        """Agents re-send pending updates to a framework that came back; then offers follow."""
        for rec in self.agents.values():
            if rec.connected:
                rec.agent.resend_pending(fw.id)
        self.request_allocation()

    def stream_lost(self, fw: Framework, stream: RecordIOStream) -> None:
        """The subscription connection broke: deactivate, drop offers, start the failover timer."""
        if fw.stream is not stream or fw.id not in self.frameworks:
            return
        fw.stream = None
        fw.connected = False
        fw.active = False
        # unregistered_time stays 0.0 while a framework is only disconnected (transcript 51).
        for offer in list(fw.offers.values()):
            self._remove_offer(fw, offer)
        timeout = float(fw.info.get("failover_timeout") or 0.0)
        log.info("framework %s disconnected; failover timeout %.1fs", fw.id, timeout)
        if timeout <= 0:
            self.remove_framework(fw)
        else:
            fw.failover_timer = self.clock.call_later(timeout, self._failover_expired, fw.id)

    def _failover_expired(self, framework_id: str) -> None:
        fw = self.frameworks.get(framework_id)
        if fw is not None and not fw.connected:
            log.info("framework %s failover timeout expired", framework_id)
            self.remove_framework(fw)

    def remove_framework(self, fw: Framework) -> None:
        """TEARDOWN or failover timeout: kill everything, forget the framework, refuse its id from now on."""
        if fw.failover_timer:
            fw.failover_timer.cancel()
            fw.failover_timer = None
        for offer in list(fw.offers.values()):
            self._remove_offer(fw, offer)
        for task in list(fw.tasks.values()) + list(fw.unreachable_tasks.values()):
            if task.state not in TERMINAL_STATES:
                status = self._status(task, "TASK_KILLED", "REASON_FRAMEWORK_REMOVED", f"Framework {fw.id} removed")
                self._apply_master_status(fw, task, status)
            fw.completed_tasks.append(task)
        fw.tasks.clear()
        fw.unreachable_tasks.clear()
        for rec in self.agents.values():
            rec.agent.shutdown_framework(fw.id)
        fw.executors.clear()
        fw.active = False
        fw.connected = False
        if not fw.unregistered_time:
            fw.unregistered_time = time.time()
        if fw.stream is not None:
            fw.stream.close()
            fw.stream = None
        del self.frameworks[fw.id]
        self.completed_frameworks.append(fw)
        self.removed_framework_ids.add(fw.id)
        for rec in self.agents.values():
            rec.used = self._agent_used(rec.id)
        log.info("framework %s removed", fw.id)

    # -- offers ---------------------------------------------------------------------------------------
    def _remove_offer(self, fw: Framework, offer: Offer) -> None:
        fw.offers.pop(offer.id, None)
        rec = self.agents.get(offer.agent_id)
        if rec is not None:
            rec.give_back(offer.resources)

    def _filtered(self, fw: Framework, agent_id: str, candidate: Resources, now: float) -> bool:
        entry = fw.filters.get(agent_id)
        if entry is None:
            return False
        expires, refused = entry
        if now >= expires:
            del fw.filters[agent_id]
            return False
        return refused.contains(candidate)

    def add_filter(self, fw: Framework, agent_id: str, resources: Resources, filters: Any) -> None:
        refuse = self.flags.offer_refuse_default
        if isinstance(filters, dict) and "refuse_seconds" in filters:
            try:
                refuse = float(filters["refuse_seconds"])
            except (TypeError, ValueError):
                refuse = self.flags.offer_refuse_default
            if refuse < 0 or refuse != refuse:
                refuse = self.flags.offer_refuse_default
            refuse = min(refuse, 365 * 86400.0)
        if refuse <= 0:
            return
        duration = max(refuse, self.flags.allocation_interval)
        fw.filters[agent_id] = (time.time() + duration, resources)

    def allocate(self) -> None:
        """One batch allocation round: offer every agent's free resources to frameworks that want them."""
        now = time.time()
        frameworks = [fw for fw in self.frameworks.values() if fw.active and fw.connected and not fw.suppressed]
        if not frameworks:
            return
        if len(frameworks) > 1:
            # Dominant-resource fairness, coarsely: the framework using the least cpus goes first.
            frameworks.sort(key=lambda f: f.used().scalar("cpus") + f.offered().scalar("cpus"))
        batches: dict[str, list[dict[str, Any]]] = {fw.id: [] for fw in frameworks}
        for rec in self.agents.values():
            if not rec.connected:
                continue
            free = rec.available()
            if not any(free.scalar(n) >= m for n, m in MIN_ALLOCATABLE):
                continue
            has_gpus = free.scalar("gpus") > 0
            for fw in frameworks:
                if has_gpus and "GPU_RESOURCES" not in fw.capabilities:
                    continue
                role = roles.pick_role(fw, rec.id, lambda key: self._filtered(fw, key, free, now))  # -- multi-role
                if role is None:
                    continue
                offer = Offer(id=f"{self.id}-O{self._offer_counter}", framework_id=fw.id, agent_id=rec.id,
                              resources=free, role=role)
                self._offer_counter += 1
                fw.offers[offer.id] = offer
                rec.offered = free if not rec.offered.scalars and not rec.offered.ranges else rec.offered + free
                batches[fw.id].append(self._offer_json(fw, rec, offer))
                break
        for fw in frameworks:
            offers = batches[fw.id]
            if offers:
                self.metrics["offers_sent"] += len(offers)
                self._send(fw, {"type": "OFFERS", "offers": {"offers": offers}})

    def _offer_json(self, fw: Framework, rec: AgentRecord, offer: Offer) -> dict[str, Any]:
        agent = rec.agent
        multi_role = "MULTI_ROLE" in fw.capabilities
        role = offer.role  # -- multi-role: the role this offer is allocated to
        if rec.offer_template is None:
            rec.offer_template = {
                "url": {"scheme": "http", "address": {"hostname": agent.hostname, "ip": agent.ip,
                                                      "port": agent.port}, "path": "/slave(1)"},
                "attributes": [a.to_json() for a in agent.attributes]}
        body: dict[str, Any] = {
            "id": {"value": offer.id}, "framework_id": {"value": fw.id}, "agent_id": {"value": rec.id},
            "hostname": agent.hostname, "url": rec.offer_template["url"],
            "resources": offer.resources.to_json(role=None if multi_role else "*",
                                                 allocation_role=role if multi_role else None),
        }
        if agent.attributes:
            body["attributes"] = rec.offer_template["attributes"]
        executor_ids = [{"value": eid} for (aid, eid) in fw.executors if aid == rec.id]
        if executor_ids:
            body["executor_ids"] = executor_ids
        if multi_role:
            body["allocation_info"] = {"role": role}
        return body

    # -- calls ----------------------------------------------------------------------------------------
    def decline(self, fw: Framework, offer_ids: list[str], filters: Any) -> None:
        for offer_id in offer_ids:
            offer = fw.offers.get(offer_id)
            if offer is None:
                log.info("ignoring decline of unknown offer %s", offer_id)
                continue
            self._remove_offer(fw, offer)
            self.add_filter(fw, roles.filter_key(offer.agent_id, offer.role), offer.resources, filters)

    def revive(self, fw: Framework, revived: Iterable[str] = ()) -> None:
        """REVIVE for ``revived`` roles (every role if empty; localmesos.roles)."""
        if roles.revive(fw, revived):
            self.request_allocation()

    def suppress(self, fw: Framework, suppressed: Iterable[str] = ()) -> None:
        roles.suppress(fw, suppressed)

    def accept(self, fw: Framework, offer_ids: list[str], operations: list[dict[str, Any]], filters: Any) -> None:
        offers: list[Offer] = []
        invalid: str | None = None
        if not offer_ids:
            invalid = "No offers specified"
        seen: set[str] = set()
        for offer_id in offer_ids:
            offer = fw.offers.get(offer_id)
            if offer is None or offer_id in seen:
                invalid = invalid or f"Offer {offer_id} is no longer valid"
                continue
            seen.add(offer_id)
            offers.append(offer)
        if offers and len({o.agent_id for o in offers}) > 1:
            invalid = invalid or "Aggregated offers must belong to one single agent"
        if offers and len({o.role for o in offers}) > 1:  # -- multi-role
            invalid = invalid or "Aggregated offers must be allocated to the same role"
        launch_tasks = [t for op in operations for t in _operation_tasks(op)]
        if invalid is not None:
            for offer in offers:  # the still-valid offers go back without a filter
                self._remove_offer(fw, offer)
            state = "TASK_DROPPED" if fw.partition_aware else "TASK_LOST"
            for task_info in launch_tasks:
                self._reject_task(fw, task_info, state, "REASON_INVALID_OFFERS",
                                  f"Task launched with invalid offers: {invalid}")
            return
        agent_id = offers[0].agent_id
        offer_role = offers[0].role  # -- multi-role: what is left goes back under this role's filter
        rec = self.agents.get(agent_id)
        remaining = Resources()
        for offer in offers:
            self._remove_offer(fw, offer)
            remaining = remaining + offer.resources
        if rec is None or not rec.connected:
            state = "TASK_DROPPED" if fw.partition_aware else "TASK_LOST"
            for task_info in launch_tasks:
                self._reject_task(fw, task_info, state, "REASON_AGENT_REMOVED", "Agent is not registered")
            return
        for op in operations:
            kind = op.get("type")
            if kind == "LAUNCH":
                if op.get("id") is not None:
                    for task_info in _operation_tasks(op):
                        self._reject_task(fw, task_info, "TASK_ERROR", "REASON_TASK_INVALID",
                                          "The `id` field cannot be set on LAUNCH operations")
                    continue
                for task_info in (op.get("launch") or {}).get("task_infos") or []:
                    remaining = self._launch_one(fw, rec, task_info, None, remaining)
            elif kind == "LAUNCH_GROUP":
                remaining = self._launch_group(fw, rec, op.get("launch_group") or {}, remaining)
            else:
                log.info("framework %s: operation %s is not supported by localmesos; dropped", fw.id, kind)
        if not remaining.is_empty():
            self.add_filter(fw, roles.filter_key(agent_id, offer_role), remaining, filters)

    def _task_error(self, fw: Framework, rec: AgentRecord, task_info: dict[str, Any],
                    executor: dict[str, Any] | None, remaining: Resources) -> tuple[str | None, Resources]:
        """Master validation of one task, in the real master's order. Returns (error, resources needed)."""
        task_id = task_info["task_id"]["value"]
        bad = invalid_id_reason(task_id)
        if bad:
            return bad, Resources()
        if task_id in fw.tasks:
            return f"Task has duplicate ID: {task_id}", Resources()
        if task_id in fw.unreachable_tasks:
            return f"Task reuses the ID of an unreachable task: {task_id}", Resources()
        if task_info["agent_id"]["value"] != rec.id:
            return (f"Task uses invalid agent {task_info['agent_id']['value']} while agent {rec.id} "
                    f"is expected"), Resources()
        grace = ((task_info.get("kill_policy") or {}).get("grace_period") or {}).get("nanoseconds")
        if grace is not None and float(grace) < 0:
            return "Task's 'kill_policy.grace_period' must be non-negative", Resources()
        hc_error = _health_check_error(task_info.get("health_check"))
        if hc_error:
            return f"Task uses invalid health check: {hc_error}", Resources()
        container_problem = container_error(task_info.get("container"))  # -- containers (localmesos.containers)
        if container_problem:
            return CONTAINER_INVALID + container_problem, Resources()
        if not task_info.get("resources"):
            return "Task uses no resources", Resources()
        try:
            resources = Resources.from_json(task_info.get("resources"))
        except ResourceError as exc:
            return f"Task uses invalid resources: {exc}", Resources()
        has_command = task_info.get("command") is not None
        task_executor = task_info.get("executor") or executor
        if executor is None and has_command == (task_info.get("executor") is not None):
            return "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present", resources
        needed = resources
        if task_executor is not None:
            if task_executor.get("command") is None and task_executor.get("type", "CUSTOM") == "CUSTOM":
                return "'ExecutorInfo.command' must be set", resources
            exec_id = task_executor["executor_id"]["value"]
            known = fw.executors.get((rec.id, exec_id))
            if known is not None:
                if _executor_signature(known) != _executor_signature(task_executor):
                    return (f"ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID "
                            f"'{exec_id}'"), resources
            else:
                try:
                    needed = needed + Resources.from_json(task_executor.get("resources") or [])
                except ResourceError as exc:
                    return f"Executor uses invalid resources: {exc}", resources
        if not remaining.contains(needed):
            return (f"Total resources {needed.to_message()} required by task and its executor is more than "
                    f"available {remaining.to_message(ranges_first=True)}"), resources
        return None, needed

    def _launch_one(self, fw: Framework, rec: AgentRecord, task_info: dict[str, Any],
                    group_executor: dict[str, Any] | None, remaining: Resources) -> Resources:
        error, needed = self._task_error(fw, rec, task_info, group_executor, remaining)
        if error is not None:
            self._reject_task(fw, task_info, "TASK_ERROR", "REASON_TASK_INVALID", error)
            return remaining
        executor = task_info.get("executor") or group_executor
        if executor is not None:
            executor = dict(executor)
            executor["framework_id"] = {"value": fw.id}
            executor.setdefault("type", "CUSTOM")
        task_resources = Resources.from_json(task_info["resources"])
        task = Task(task_id=task_info["task_id"]["value"], name=task_info["name"], framework_id=fw.id,
                    agent_id=rec.id, executor_id=executor["executor_id"]["value"] if executor else "",
                    resources=task_resources, info=task_info,
                    role=roles.task_role(task_info, _framework_roles(fw.info)[0]))  # -- multi-role
        fw.tasks[task.task_id] = task
        rec.used = rec.used + needed  # the task, and its executor's resources the first time
        if executor is not None and (rec.id, task.executor_id) not in fw.executors:
            fw.executors[(rec.id, task.executor_id)] = executor
        if group_executor is None:
            rec.agent.run_task(fw.info, task_info, executor)
        return remaining - needed

    def _launch_group(self, fw: Framework, rec: AgentRecord, group: dict[str, Any],
                      remaining: Resources) -> Resources:
        """A task group launches atomically: every task is validated first; one bad task fails them all."""
        executor = group.get("executor") or {}
        tasks = (group.get("task_group") or {}).get("tasks") or []
        left = remaining
        group_ids: set[str] = set()
        for task_info in tasks:
            task_id = task_info["task_id"]["value"]
            error, needed = self._task_error(fw, rec, task_info, executor, left)
            if error is None and task_id in group_ids:
                error = f"Task has duplicate ID: {task_id}"
            if error is not None:
                for t in tasks:
                    self._reject_task(fw, t, "TASK_ERROR", "REASON_TASK_GROUP_INVALID", error)
                return remaining
            group_ids.add(task_id)
            left = left - needed
        for task_info in tasks:
            remaining = self._launch_one(fw, rec, task_info, executor, remaining)
        full_executor = dict(executor)
        full_executor["framework_id"] = {"value": fw.id}
        full_executor.setdefault("type", "DEFAULT")
        rec.agent.run_task_group(fw.info, full_executor, tasks)
        return remaining

    def _reject_task(self, fw: Framework, task_info: dict[str, Any], state: str, reason: str,
                     message: str) -> None:
        status = {"task_id": {"value": task_info["task_id"]["value"]}, "state": state, "message": message,
                  "source": "SOURCE_MASTER", "reason": reason,
                  "agent_id": {"value": task_info["agent_id"]["value"]}, "timestamp": time.time()}
        log.info("framework %s: task %s %s: %s", fw.id, task_info["task_id"]["value"], state, message)
        self._send(fw, {"type": "UPDATE", "update": {"status": ordered_status(status)}})

    def kill(self, fw: Framework, task_id: str, agent_id: str | None, kill_policy: Any) -> None:
        task = fw.tasks.get(task_id)
        if task is None:
            self.reconcile(fw, [{"task_id": {"value": task_id},
                                 **({"agent_id": {"value": agent_id}} if agent_id else {})}])
            return
        if agent_id is not None and agent_id != task.agent_id:
            log.info("ignoring kill of %s: agent %s is not the task's agent", task_id, agent_id)
            return
        rec = self.agents.get(task.agent_id)
        if rec is not None and rec.connected:
            rec.agent.kill_task(fw.id, task_id, kill_policy)

    def shutdown_executor(self, fw: Framework, executor_id: str, agent_id: str) -> None:
        rec = self.agents.get(agent_id)
        if rec is not None and rec.connected:
            rec.agent.shutdown_executor(fw.id, executor_id)

    def acknowledge(self, fw: Framework, agent_id: str, task_id: str, uuid_b64: str) -> None:
        rec = self.agents.get(agent_id)
        if rec is None or not rec.connected:
            log.info("dropping acknowledgement for %s: agent %s is not registered", task_id, agent_id)
            return
        task = fw.tasks.get(task_id)
        if rec.agent.acknowledge(fw.id, task_id, uuid_b64) and task is not None:
            if task.status_update_state in TERMINAL_STATES and task.latest_status is not None \
                    and task.latest_status.get("uuid") == uuid_b64:
                del fw.tasks[task_id]
                fw.completed_tasks.append(task)

    def message(self, fw: Framework, agent_id: str, executor_id: str, data: str) -> None:
        rec = self.agents.get(agent_id)
        if rec is not None and rec.connected:
            rec.agent.framework_message(fw.id, executor_id, data)

    def reconcile(self, fw: Framework, tasks: list[dict[str, Any]]) -> None:
        if not tasks:
            for task in list(fw.tasks.values()) + list(fw.unreachable_tasks.values()):
                self._send(fw, {"type": "UPDATE", "update": {"status": self._reconcile_known(task)}})
            return
        for entry in tasks:
            task_id = entry["task_id"]["value"]
            agent_id = (entry.get("agent_id") or {}).get("value")
            task = fw.tasks.get(task_id) or fw.unreachable_tasks.get(task_id)
            if task is None and self.recovery is not None:  # -- master restart: agents not back yet
                from .master_restart import drops_reconciliation
                if drops_reconciliation(self, task_id, agent_id):
                    continue
            if task is not None:
                status = self._reconcile_known(task)
            else:
                status = self._reconcile_unknown(fw, task_id, agent_id)
            self._send(fw, {"type": "UPDATE", "update": {"status": status}})

    def _reconcile_known(self, task: Task) -> dict[str, Any]:
        base = dict(task.latest_status or {})
        status: dict[str, Any] = {"task_id": {"value": task.task_id},
                                  "state": (task.state if task.unreachable_time is not None
                                            else task.status_update_state or task.state),
                                  "message": "Reconciliation: Latest task state", "source": "SOURCE_MASTER",
                                  "reason": "REASON_RECONCILIATION", "agent_id": {"value": task.agent_id},
                                  "timestamp": time.time()}
        for key in ("healthy", "check_status", "container_status"):
            if key in base:
                status[key] = base[key]
        if task.unreachable_time is not None:
            status["unreachable_time"] = {"nanoseconds": int(task.unreachable_time * 1e9)}
        return ordered_status(status)

    def _reconcile_unknown(self, fw: Framework, task_id: str, agent_id: str | None) -> dict[str, Any]:
        status: dict[str, Any] = {"task_id": {"value": task_id}, "source": "SOURCE_MASTER",
                                  "reason": "REASON_RECONCILIATION"}
        if agent_id is not None and agent_id in self.agents:
            status["state"] = "TASK_GONE" if fw.partition_aware else "TASK_LOST"
            status["message"] = "Reconciliation: Task is unknown to the agent"
        elif agent_id is not None and agent_id in self.unreachable_agents:
            status["state"] = "TASK_UNREACHABLE" if fw.partition_aware else "TASK_LOST"
            status["message"] = "Reconciliation: Task is unreachable"
            rec = self.unreachable_agents[agent_id]
            if rec.unreachable_time:
                status["unreachable_time"] = {"nanoseconds": int(rec.unreachable_time * 1e9)}
        else:
            status["state"] = "TASK_UNKNOWN" if fw.partition_aware else "TASK_LOST"
            status["message"] = "Reconciliation: Task is unknown"
        if agent_id is not None:
            status["agent_id"] = {"value": agent_id}
        status["timestamp"] = time.time()
        return ordered_status(status)

    # -- status updates -------------------------------------------------------------------------------
    def forward_update(self, agent_id: str, framework_id: str, status: dict[str, Any], latest_state: str) -> bool:
        """A reliable update from an agent. Returns True if it reached a connected framework."""
        fw = self.frameworks.get(framework_id)
        if fw is None:
            return False
        task_id = status["task_id"]["value"]
        task = fw.tasks.get(task_id) or fw.unreachable_tasks.get(task_id)
        if task is not None:
            uuid_b64 = status.get("uuid")
            if uuid_b64 not in task.seen_uuids:
                if uuid_b64:
                    task.seen_uuids.add(uuid_b64)
                if task.statuses and task.statuses[-1]["state"] == status["state"]:
                    task.statuses.pop()  # the real master keeps the latest of consecutive equal states
                task.statuses.append(ordered_status(status))
                self.metrics["valid_status_updates"] += 1
            was_live = task.state not in TERMINAL_STATES
            task.state = latest_state
            task.status_update_state = status["state"]
            task.status_update_uuid = status.get("uuid")
            task.latest_status = status
            if was_live and latest_state in TERMINAL_STATES:
                rec = self.agents.get(agent_id)
                if rec is not None:
                    rec.used = rec.used - task.resources
        if fw.connected and fw.stream is not None:
            self._send(fw, {"type": "UPDATE", "update": {"status": ordered_status(status)}})
            return True
        return False

    def executor_exited(self, agent_id: str, framework_id: str, executor_id: str, wait_status: int,
                        custom: bool) -> None:
        fw = self.frameworks.get(framework_id)
        if fw is None:
            return
        executor = fw.executors.pop((agent_id, executor_id), None)
        rec = self.agents.get(agent_id)
        if rec is not None and executor is not None:
            rec.used = rec.used - Resources.from_json(executor.get("resources") or [])
        if custom:
            self._send(fw, {"type": "FAILURE", "failure": {"agent_id": {"value": agent_id},
                                                           "executor_id": {"value": executor_id},
                                                           "status": wait_status}})

    def executor_message(self, agent_id: str, framework_id: str, executor_id: str, data: str) -> None:
        fw = self.frameworks.get(framework_id)
        if fw is not None:
            self._send(fw, {"type": "MESSAGE", "message": {"agent_id": {"value": agent_id},
                                                           "executor_id": {"value": executor_id}, "data": data}})

    # -- helpers --------------------------------------------------------------------------------------
    def _status(self, task: Task, state: str, reason: str, message: str) -> dict[str, Any]:
        return {"task_id": {"value": task.task_id}, "state": state, "message": message, "source": "SOURCE_MASTER",
                "reason": reason, "agent_id": {"value": task.agent_id}, "timestamp": time.time()}

    def _apply_master_status(self, fw: Framework, task: Task, status: dict[str, Any]) -> None:
        task.state = status["state"]
        # Master-generated updates carry no uuid and leave status_update_state alone (transcript 17).
        if task.statuses and task.statuses[-1]["state"] == status["state"]:
            task.statuses.pop()
        task.statuses.append(ordered_status(status))
        previous = task.latest_status or {}
        task.latest_status = {**{k: v for k, v in previous.items() if k in ("container_status", "healthy")},
                              **status}

    def _master_update(self, fw: Framework, task: Task, state: str, reason: str, message: str,
                       remove: bool) -> None:
        status = self._status(task, state, reason, message)
        self._apply_master_status(fw, task, status)
        if remove:
            fw.tasks.pop(task.task_id, None)
            fw.completed_tasks.append(task)
        self._send(fw, {"type": "UPDATE", "update": {"status": ordered_status(status)}})

    def _send(self, fw: Framework, event: dict[str, Any]) -> None:
        """Events to a disconnected framework are dropped, as the real master drops them."""
        if fw.connected and fw.stream is not None:
            fw.stream.send(event)

    def find_task(self, task_id: str) -> Task | None:
        for fw in self.frameworks.values():
            task = fw.tasks.get(task_id) or fw.unreachable_tasks.get(task_id)
            if task is not None:
                return task
        return None


def _framework_info_defaults(info: dict[str, Any]) -> dict[str, Any]:
    """FrameworkInfo as the master renders it: defaults for failover_timeout and checkpoint. hostname and the
    deprecated role appear only when the framework set them (transcripts 17e, 70)."""
    out = dict(info)
    out.setdefault("failover_timeout", 0.0)
    out["failover_timeout"] = float(out["failover_timeout"])
    out.setdefault("checkpoint", False)
    order = ("user", "name", "id", "failover_timeout", "checkpoint", "role", "hostname", "principal", "webui_url",
             "capabilities", "labels", "roles", "offer_filters")  # proto field order, as the JSON writer uses
    return {**{k: out[k] for k in order if k in out}, **{k: v for k, v in out.items() if k not in order}}


def _framework_roles(info: dict[str, Any]) -> list[str]:
    return roles.subscribed_roles(info)


def _operation_tasks(op: dict[str, Any]) -> list[dict[str, Any]]:
    if op.get("type") == "LAUNCH":
        return list((op.get("launch") or {}).get("task_infos") or [])
    if op.get("type") == "LAUNCH_GROUP":
        return list(((op.get("launch_group") or {}).get("task_group") or {}).get("tasks") or [])
    return []


def _executor_signature(info: dict[str, Any]) -> tuple[Any, ...]:
    return ((info.get("command") or {}).get("value"), info.get("name"), info.get("type", "CUSTOM"))


def _health_check_error(check: Any) -> str | None:
    if check is None:
        return None
    kind = check.get("type")
    if kind is None:
        kinds = [k for k in ("command", "http", "tcp") if check.get(k) is not None]
        if len(kinds) != 1:
            return "HealthCheck must specify 'type'"
        kind = kinds[0].upper()
    if kind not in ("COMMAND", "HTTP", "TCP"):
        return f"'{kind}' is not a valid health check type"
    if kind == "COMMAND" and check.get("command") is None:
        return "Expecting 'command' to be set for COMMAND health check"
    if kind == "HTTP" and check.get("http") is None:
        return "Expecting 'http' to be set for HTTP health check"
    if kind == "TCP" and check.get("tcp") is None:
        return "Expecting 'tcp' to be set for TCP health check"
    for key in ("delay_seconds", "interval_seconds", "timeout_seconds", "grace_period_seconds"):
        value = check.get(key)
        if value is not None and float(value) < 0:
            return f"Expecting '{key}' to be non-negative"
    return None
