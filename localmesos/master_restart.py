"""Master restart and failover: what a real Mesos 1.11 master with a replicated log keeps, and what it rebuilds.

A real master started with ``--registry=replicated_log`` (transcript 94) keeps only its *registry* across a
restart: the agents it had admitted (id, hostname, port, attributes) and the agents it had marked unreachable.
Everything else (frameworks, tasks, offers, executors, filters, streams) dies with the process. The new
master has a new master id (its offers are ``<new id>-O0``...), lists the admitted agents under
``recovered_slaves`` with ``slaves: []`` and ``frameworks: []`` until they come back, and rebuilds its task
view from each agent's re-registration. A framework re-SUBSCRIBEs with its old id and gets a normal SUBSCRIBED
(new stream id, ``registered_time`` and ``reregistered_time`` both set, ``recovered: false``); offers follow
once an agent has re-registered. Reconciliation of a task the master does not know yet is dropped while the
task's agent (or, without an ``agent_id``, any agent) has not re-registered: no UPDATE at all, as the real
master logs "Dropping reconciliation of task ... because agent ... has not yet reregistered with the master".
An agent that does not come back within ``agent_reregister_timeout`` (10 minutes, Mesos' default) is marked
unreachable.

Owns: ``halt`` (the old master dies: every subscriber stream ends with a bare TCP EOF, no ERROR event and no
zero-length chunk; nothing is told to the agents, whose tasks keep running), ``Registry`` (what survives),
``recover`` (the new master, seeded with the registry), ``readmit_agent`` (an agent re-registers: its tasks,
executors and frameworks enter the master's state, with statuses and resources as the agent reports them),
``drops_reconciliation`` and the recovered-agent JSON of ``/master/state`` and ``/master/slaves``.

Invariants: a halted master holds no frameworks, agents, timers or streams, so whatever still calls it (an
agent not yet re-registered forwarding a retried update) changes nothing and reaches no one; a task enters the
new master only through its agent's re-registration. All functions run on the cluster's event loop thread.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .clock import Clock
from .master import TERMINAL_STATES, AgentRecord, Framework, Master, MasterFlags, Task, _framework_info_defaults, \
    _framework_roles
from .resources import Resources

if TYPE_CHECKING:
    from .agent import Agent

log = logging.getLogger(__name__)

AGENT_REREGISTER_TIMEOUT = 600.0
"""Mesos' ``--agent_reregister_timeout`` default (10mins, transcript 94's flags)."""


@dataclass(frozen=True)
class RegisteredAgent:
    """One admitted agent as the registry stores it (its SlaveInfo), plus the in-process agent it stands for."""

    agent: "Agent"
    unreachable_time: float | None = None


@dataclass
class Registry:
    """What a replicated-log master keeps across a restart: admitted and unreachable agents, nothing else."""

    agents: dict[str, RegisteredAgent] = field(default_factory=dict)


@dataclass
class Recovery:
    """A recovered master's agents that have not re-registered yet, and their re-registration deadlines."""

    agents: dict[str, "Agent"] = field(default_factory=dict)
    timers: dict[str, Any] = field(default_factory=dict)


def halt(master: Master) -> Registry:
    """The master process dies. Returns its registry; leaves the object inert (see the module invariants)."""
    registry = Registry()
    for rec in master.agents.values():
        registry.agents[rec.id] = RegisteredAgent(rec.agent)
    for rec in master.unreachable_agents.values():
        registry.agents[rec.id] = RegisteredAgent(rec.agent, rec.unreachable_time or time.time())
    for agent_id, agent in recovery_of(master).agents.items():  # died again before they came back
        registry.agents.setdefault(agent_id, RegisteredAgent(agent))
    if master._allocation_task is not None:
        master._allocation_task.cancel()
    if master._allocate_soon is not None:
        master._allocate_soon.cancel()
        master._allocate_soon = None
    for fw in list(master.frameworks.values()):
        if fw.failover_timer:
            fw.failover_timer.cancel()
        stream, fw.stream = fw.stream, None  # first: the stream's end must not look like a framework leaving
        fw.connected = False
        if stream is not None:
            stream.drop()
    for rec in list(master.agents.values()) + list(master.unreachable_agents.values()):
        if rec.removal_timer:
            rec.removal_timer.cancel()
    for timer in recovery_of(master).timers.values():
        timer.cancel()
    master.frameworks.clear()
    master.agents.clear()
    master.unreachable_agents.clear()
    master.recovery = Recovery()
    log.info("master %s halted (%d agents in the registry)", master.id, len(registry.agents))
    return registry


def recovery_of(master: Master) -> Recovery:
    """The master's recovery state (empty for a master that never restarted)."""
    return master.recovery if isinstance(master.recovery, Recovery) else Recovery()


def cancel_timers(master: Master) -> None:
    """The cluster stops: no re-registration deadline outlives it."""
    for timer in recovery_of(master).timers.values():
        timer.cancel()


def recover(flags: MasterFlags, clock: Clock, registry: Registry) -> Master:
    """A new master (new id) that read ``registry`` at start: its agents wait for re-registration."""
    master = Master(flags, clock)
    recovery = Recovery()
    for agent_id, entry in registry.agents.items():
        if entry.unreachable_time is not None:
            rec = AgentRecord(agent=entry.agent, registered_time=entry.unreachable_time)
            rec.connected = False
            rec.unreachable = True
            rec.unreachable_time = entry.unreachable_time
            master.unreachable_agents[agent_id] = rec
            continue
        recovery.agents[agent_id] = entry.agent
    master.recovery = recovery
    log.info("master %s recovered %d agents from the registry; allowing %.0fs for agents to reregister",
             master.id, len(recovery.agents), AGENT_REREGISTER_TIMEOUT)
    return master


def arm_reregister_timeouts(master: Master) -> None:
    """Starts the ``agent_reregister_timeout`` of every recovered agent (on the master's clock)."""
    recovery = recovery_of(master)
    for agent_id in recovery.agents:
        recovery.timers[agent_id] = master.clock.call_later(AGENT_REREGISTER_TIMEOUT, _reregister_timed_out,
                                                            master, agent_id)


def _reregister_timed_out(master: Master, agent_id: str) -> None:
    recovery = recovery_of(master)
    agent = recovery.agents.pop(agent_id, None)
    recovery.timers.pop(agent_id, None)
    if agent is None:
        return
    now = time.time()
    rec = AgentRecord(agent=agent, registered_time=now)
    rec.connected = False
    rec.unreachable = True
    rec.unreachable_time = now
    master.unreachable_agents[agent_id] = rec
    log.info("agent %s did not reregister within %.0fs: marked unreachable", agent_id, AGENT_REREGISTER_TIMEOUT)


def is_recovering(master: Master, agent_id: str) -> bool:
    return agent_id in recovery_of(master).agents


def readmit_agent(master: Master, agent: "Agent") -> None:
    """A recovered agent re-registers: it leaves ``recovered_slaves`` and its tasks enter the master."""
    recovery = recovery_of(master)
    recovery.agents.pop(agent.id, None)
    timer = recovery.timers.pop(agent.id, None)
    if timer is not None:
        timer.cancel()
    now = time.time()
    rec = AgentRecord(agent=agent, registered_time=now)
    rec.reregistered_time = now
    master.agents[agent.id] = rec
    for container in list(agent.containers.values()):
        info = agent.frameworks.get(container.framework_id) or container.framework_info
        fw = master.frameworks.get(container.framework_id)
        if fw is None:  # known from the agent only, until the framework re-subscribes
            fw = Framework(id=container.framework_id, info=_framework_info_defaults(dict(info)),
                           registered_time=now, active=False, connected=False)
            fw.recovered = True
            master.frameworks[fw.id] = fw
        if container.kind != "command":
            executor = dict(container.executor_info)
            executor["framework_id"] = {"value": fw.id}
            fw.executors[(agent.id, container.executor_id)] = executor
        for task_id, agent_task in container.tasks.items():
            pending = agent.streams.get((container.framework_id, task_id))
            if agent_task.state in TERMINAL_STATES and not (pending and pending.pending):
                continue
            fw.tasks[task_id] = _task_from_agent(agent, container, agent_task, fw, pending)
    rec.used = master._agent_used(agent.id)
    log.info("agent %s (%s) reregistered after the master restart with %d tasks", agent.id, agent.hostname,
             sum(1 for fw in master.frameworks.values() for t in fw.tasks.values() if t.agent_id == agent.id))
    master.request_allocation()


def _task_from_agent(agent: "Agent", container: Any, agent_task: Any, fw: Framework, pending: Any) -> Task:
    info = agent_task.info
    task = Task(task_id=info["task_id"]["value"], name=info.get("name", ""), framework_id=fw.id, agent_id=agent.id,
                executor_id="" if container.kind == "command" else container.executor_id,
                resources=Resources.from_json(info.get("resources") or []), info=info,
                role=_framework_roles(fw.info)[0])
    task.state = agent_task.state
    task.statuses = [dict(s) for s in agent_task.statuses]
    task.latest_status = dict(agent_task.latest_status) if agent_task.latest_status else None
    head = pending.pending[0].status if pending is not None and pending.pending else agent_task.latest_status
    if head:
        task.status_update_state = head.get("state")
        task.status_update_uuid = head.get("uuid")
        if head.get("uuid"):
            task.seen_uuids.add(head["uuid"])
    return task


def drops_reconciliation(master: Master, task_id: str, agent_id: str | None) -> bool:
    """True if the explicit reconciliation of an unknown task gets no answer: its agent (with no agent id: any
    agent) has not re-registered since the master restarted."""
    recovering = recovery_of(master).agents
    if not recovering:
        return False
    if agent_id is not None and agent_id not in recovering:
        return False
    log.info("Dropping reconciliation of task %s because %s has not yet reregistered with the master", task_id,
             f"agent {agent_id}" if agent_id else "some agent")
    return True


def recovered_slaves_json(master: Master) -> list[dict[str, Any]]:
    """``recovered_slaves`` of ``/master/state`` and ``/master/slaves``: what the registry holds (94)."""
    out = []
    for agent_id, agent in recovery_of(master).agents.items():
        out.append({"id": agent_id, "hostname": agent.hostname, "port": agent.port,
                    "attributes": {a.name: a.state_value() for a in agent.attributes}})
    return out


def recovered_agents_json(master: Master) -> list[dict[str, Any]]:
    """``recovered_agents`` of the operator API's GET_AGENTS: the registry's AgentInfo of each agent not back."""
    return [agent.agent_info() for agent in recovery_of(master).agents.values()]


__all__ = ["AGENT_REREGISTER_TIMEOUT", "Registry", "arm_reregister_timeouts", "drops_reconciliation", "halt",
           "is_recovering", "readmit_agent", "recover", "recovered_agents_json",
           "recovered_slaves_json"]
