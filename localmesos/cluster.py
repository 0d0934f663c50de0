"""A whole local Mesos cluster in one process: one master and N agents, plus faults on demand.

Owns: the cluster description (agents' addresses, resources and attributes from flags or a cluster JSON file,
with defaults filling what is left out: each agent its own loopback address 127.0.0.2, 127.0.0.3, ... and, in
process mode, its own slice of ports), starting and stopping everything in order (``async with``), and the
fault API used by tests and operators: stop / restart an agent, kill a task's process from outside, restart or
fail over the master (``restart_master``: see ``master_restart``; ``mesospaas local-mesos`` does it on SIGUSR1 /
SIGUSR2). The agent faults are also served over HTTP under ``/localmesos/`` on the master's port.

Stopping the cluster stops every process it started, tasks included.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from . import wire
from .agent import Agent, AgentFlags
from .clock import LOOP_CLOCK, Clock
from . import master_restart
from .master import Master, MasterFlags
from .master_http import MASTER_KEY, build_master_app
from .resources import ResourceError, Resources, parse_attributes
from .zk_registration import SESSION_TIMEOUT, ZkUrlError, ZooKeeperRegistration, parse_zk_url

log = logging.getLogger(__name__)

DEFAULT_AGENT_RESOURCES = "cpus:4;mem:4096;disk:20000"
PORTS_BEGIN = 31000
PORTS_END = 64999


class ClusterConfigError(ValueError):
    """The cluster description cannot be used; the text says what is wrong."""


@dataclass
class AgentSpec:
    hostname: str
    resources: Resources
    attributes: str = ""
    port: int = 5051


@dataclass
class ClusterConfig:
    agents: list[AgentSpec]
    master: MasterFlags = field(default_factory=MasterFlags)
    mode: str = "process"
    work_dir: Path | None = None
    status_update_retry_interval: float = 10.0
    executor_registration_timeout: float = 60.0
    executor_shutdown_grace_period: float = 5.0
    docker_registry: Path | None = None
    """Mesos' local registry (``--docker_registry DIR``): tasks with a Docker image run in containers."""
    zk: str | None = None
    """``zk://host1:2181,host2:2181/mesos``: register the master in ZooKeeper like a real one (see zk_registration)."""
    zk_session_timeout: float = SESSION_TIMEOUT
    """Mesos' ``--zk_session_timeout``; also how long ``start`` waits for the first registration."""
    agent_reregister_delay: float = 1.0
    """After a master restart, seconds (on the cluster's clock) before the agents re-register: a real agent
    retries its registration with a backoff of up to ``registration_backoff_factor`` (1 s) and more (94: ~3 s)."""


def port_slice(index: int, count: int) -> str:
    """Agent ``index`` of ``count`` gets its own slice of [31000-64999], at most 1000 ports wide."""
    width = max(1, min(1000, (PORTS_END - PORTS_BEGIN + 1) // max(count, 1)))
    begin = PORTS_BEGIN + index * width
    return f"[{begin}-{begin + width - 1}]"


def build_agent_specs(count: int | None, cluster_file: str | None, *, resources: str | None = None,
                      attributes: str | None = None, agent_port: int = 5051,
                      simulate: bool = False) -> list[AgentSpec]:
    """Agents from ``--cluster`` JSON and/or ``--agents N``; defaults fill what is left out."""
    entries: list[dict[str, Any]] = []
    if cluster_file:
        try:
            data = json.loads(Path(cluster_file).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ClusterConfigError(f"cannot read cluster file {cluster_file}: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("agents"), list):
            raise ClusterConfigError('cluster file must be {"agents": [{...}, ...]}')
        for i, entry in enumerate(data["agents"]):
            if not isinstance(entry, dict):
                raise ClusterConfigError(f"agents[{i}] must be an object")
            unknown = set(entry) - {"resources", "attributes", "hostname", "port"}
            if unknown:
                raise ClusterConfigError(f"agents[{i}]: unknown keys {sorted(unknown)}")
            entries.append(entry)
    if count is not None:
        if count < 0:
            raise ClusterConfigError("--agents must not be negative")
        if cluster_file and count < len(entries):
            entries = entries[:count]
        while len(entries) < count:
            entries.append({})
    total = len(entries)
    specs: list[AgentSpec] = []
    used_hosts: set[str] = set()
    for i, entry in enumerate(entries):
        hostname = str(entry.get("hostname") or _loopback(i + 2))
        if not hostname.startswith("127.") and hostname != "localhost":
            raise ClusterConfigError(f"agents[{i}].hostname must be a loopback address, got {hostname}")
        if hostname in used_hosts:
            raise ClusterConfigError(f"agents[{i}].hostname {hostname} is used twice")
        used_hosts.add(hostname)
        text = str(entry.get("resources") or resources or DEFAULT_AGENT_RESOURCES)
        try:
            res = Resources.parse(text)
            if "ports" not in res.ranges:
                ports = "[31000-32000]" if simulate else port_slice(i, total)
                res = res + Resources.parse(f"ports:{ports}")
            for name, value in (("cpus", 4.0), ("mem", 4096.0), ("disk", 20000.0)):
                if name not in res.scalars:
                    res = res + Resources(scalars={name: value})
            attrs = str(entry.get("attributes") if entry.get("attributes") is not None else (attributes or ""))
            parse_attributes(attrs)
        except ResourceError as exc:
            raise ClusterConfigError(f"agents[{i}]: {exc}") from exc
        specs.append(AgentSpec(hostname=hostname, resources=res, attributes=attrs,
                               port=int(entry.get("port", agent_port))))
    return specs


def _loopback(n: int) -> str:
    """127.0.0.2, 127.0.0.3, ..., 127.0.1.0, ...: the n-th address of 127.0.0.0/8 (n >= 1)."""
    if n >= 256 ** 3 - 1:
        raise ClusterConfigError("too many agents for 127.0.0.0/8")
    return f"127.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


class LocalCluster:
    """Master and agents in this process. Use ``async with LocalCluster(config) as cluster``.

    ``clock`` runs the protocol deadlines of the master and every agent (``clock.py``); real time by default."""

    def __init__(self, config: ClusterConfig, clock: Clock = LOOP_CLOCK) -> None:
        self.config = config
        try:
            self._zk_url = parse_zk_url(config.zk) if config.zk else None
        except ZkUrlError as exc:
            raise ClusterConfigError(f"--zk: {exc}") from exc
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if config.work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="localmesos-")
            self.work_dir = Path(self._tmp.name)
        else:
            self.work_dir = Path(config.work_dir)
        config.master.work_dir = str(self.work_dir / "master")
        self.clock = clock
        self.master = Master(config.master, clock)
        self.agents: list[Agent] = []
        self._runner: web.AppRunner | None = None
        self.zk_registration: ZooKeeperRegistration | None = None
        self._readmissions: list[Any] = []

    @property
    def url(self) -> str:
        return f"http://{self.master.flags.ip}:{self.master.flags.port}"

    @property
    def address(self) -> str:
        return f"{self.master.flags.ip}:{self.master.flags.port}"

    async def _serve_master(self) -> None:
        """The master's HTTP server (scheduler and operator APIs, ``/localmesos/`` faults) on its address."""
        app = build_master_app(self.master)
        app[CLUSTER_KEY] = self
        add_fault_routes(app)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, keepalive_timeout=86400.0,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.master.flags.ip, self.master.flags.port, reuse_address=True)
        await site.start()
        self.master.flags.port = int(self._runner.addresses[0][1])
        self.master.start()

    async def start(self) -> None:
        await self._serve_master()
        flags = AgentFlags(work_dir=self.work_dir, mode=self.config.mode,
                           status_update_retry_interval=self.config.status_update_retry_interval,
                           executor_registration_timeout=self.config.executor_registration_timeout,
                           executor_shutdown_grace_period=self.config.executor_shutdown_grace_period,
                           docker_registry=self.config.docker_registry)
        for spec in self.config.agents:
            agent = Agent(self.master, ip=spec.hostname if spec.hostname != "localhost" else "127.0.0.1",
                          port=spec.port, resources=spec.resources, attributes=parse_attributes(spec.attributes),
                          flags=flags, hostname=spec.hostname, clock=self.clock)
            await agent.start()
            self.agents.append(agent)
        await self._join_zookeeper()
        log.info("localmesos: master %s with %d agents (%s mode), work dir %s", self.url, len(self.agents),
                 self.config.mode, self.work_dir)

    async def _join_zookeeper(self) -> None:
        if self._zk_url is not None:  # last: a framework that finds the master in ZooKeeper finds it complete
            self.zk_registration = ZooKeeperRegistration(self._zk_url, self.master.master_info(),
                                                         session_timeout=self.config.zk_session_timeout)
            await asyncio.get_running_loop().run_in_executor(None, self.zk_registration.start,
                                                       self.config.zk_session_timeout)

    async def _leave_zookeeper(self) -> None:
        if self.zk_registration is not None:  # first: frameworks stop finding a master that is going away
            registration, self.zk_registration = self.zk_registration, None
            try:
                await asyncio.get_running_loop().run_in_executor(None, registration.stop)
            except Exception:
                log.exception("leaving ZooKeeper %s failed", registration.url)

    async def stop(self) -> None:
        await self._leave_zookeeper()
        master_restart.cancel_timers(self.master)
        for timer in self._readmissions:
            timer.cancel()
        for agent in self.agents:
            try:
                await agent.shutdown()
            except Exception:  # keep stopping the others; a leftover process is worse than a log line
                log.exception("agent %s did not shut down cleanly", agent.id)
        await self.master.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> "LocalCluster":
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- faults ---------------------------------------------------------------------------------------
    def agent(self, key: str | int) -> Agent:
        """An agent by index, id or hostname."""
        if isinstance(key, int):
            return self.agents[key]
        for agent in self.agents:
            if key in (agent.id, agent.hostname, agent.ip):
                return agent
        raise KeyError(key)

    async def stop_agent(self, key: str | int) -> Agent:
        """The agent process dies: its connection drops; checkpointed tasks keep running."""
        agent = self.agent(key)
        await agent.stop()
        return agent

    async def restart_agent(self, key: str | int) -> Agent:
        """The agent comes back with the same id and work dir and re-registers."""
        agent = self.agent(key)
        await agent.start()
        return agent

    def kill_task_process(self, task_id: str) -> bool:
        return any(agent.kill_task_process(task_id) for agent in self.agents)

    async def restart_master(self, *, failover: bool = False, downtime: float = 0.0) -> Master:
        """The master process dies and a new one starts (``master_restart``), as a real master with a replicated
        log: every HTTP connection drops (subscriber streams end with a bare EOF), nothing is served for
        ``downtime`` seconds, then a master with a new id serves on the same address, or with ``failover`` on a
        new port of the same IP (re-registered in ZooKeeper when the cluster uses ``zk``, so ``zk://``
        frameworks follow it). Agents keep their tasks running and re-register ``agent_reregister_delay``
        seconds later (on the cluster's clock). Returns the new master."""
        await self._leave_zookeeper()
        for timer in self._readmissions:
            timer.cancel()
        self._readmissions.clear()
        old = self.master
        registry = master_restart.halt(old)
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if old._allocation_task is not None:
            try:
                await old._allocation_task
            except asyncio.CancelledError:
                pass
        log.info("localmesos: master %s at %s stopped (%s)", old.id, self.address,
                 "failover" if failover else "restart")
        if downtime > 0:
            await asyncio.sleep(downtime)
        flags = dataclasses.replace(old.flags, port=0 if failover else old.flags.port)
        self.master = master_restart.recover(flags, self.clock, registry)
        self.config.master = flags
        await self._serve_master()
        master_restart.arm_reregister_timeouts(self.master)
        for agent in self.agents:
            if agent.running:
                self._readmissions.append(self.clock.call_later(self.config.agent_reregister_delay,
                                                                self._readmit, agent, self.master))
            else:  # a stopped agent registers with the new master when it is started again
                agent.master = self.master
        await self._join_zookeeper()
        log.info("localmesos: master %s serving at %s (%s)", self.master.id, self.url,
                 "failed over" if failover else "restarted")
        return self.master

    def _readmit(self, agent: Agent, master: Master) -> None:
        if self.master is master and agent.master is not master:
            agent.reregister(master)


CLUSTER_KEY = web.AppKey("cluster", LocalCluster)


def add_fault_routes(app: web.Application) -> None:
    app.router.add_get("/localmesos/agents", _list_agents)
    app.router.add_post("/localmesos/agents/{agent}/{action:stop|restart}", _agent_action)
    app.router.add_post("/localmesos/tasks/{task}/kill", _kill_task)


def _agent_json(agent: Agent) -> dict[str, Any]:
    return {"id": agent.id, "hostname": agent.hostname, "port": agent.port, "running": agent.running,
            "resources": agent.total.to_state_map(), "attributes": {a.name: a.state_value() for a in agent.attributes}}


async def _list_agents(request: web.Request) -> web.Response:
    return wire.json_response([_agent_json(a) for a in request.app[CLUSTER_KEY].agents])


def _lookup(request: web.Request) -> Agent | None:
    key = request.match_info["agent"]
    cluster = request.app[CLUSTER_KEY]
    try:
        return cluster.agent(int(key) if key.isdigit() else key)
    except (KeyError, IndexError):
        return None


async def _agent_action(request: web.Request) -> web.Response:
    """POST /localmesos/agents/{agent}/stop|restart."""
    agent = _lookup(request)
    if agent is None:
        return wire.text(404, f"No agent {request.match_info['agent']}")
    cluster = request.app[CLUSTER_KEY]
    action = cluster.stop_agent if request.match_info["action"] == "stop" else cluster.restart_agent
    await action(agent.id)
    return wire.json_response(_agent_json(agent))


async def _kill_task(request: web.Request) -> web.Response:
    task_id = request.match_info["task"]
    if not request.app[CLUSTER_KEY].kill_task_process(task_id):
        return wire.text(404, f"No running task {task_id}")
    return wire.empty(200)


__all__ = ["ClusterConfig", "ClusterConfigError", "LocalCluster", "build_agent_specs", "MASTER_KEY"]
