"""Command line of the local cluster: ``mesospaas local-mesos`` (and ``python -m localmesos``).

Every flag also reads an environment variable (``<PREFIX>PORT``, ``<PREFIX>AGENTS``, ...); a flag on the command
line wins; ``--help`` shows each default (``flags``). Bad values exit with status 2 and a usage message (argparse),
naming the variable when the bad value came from one. The master prints one line
``localmesos master: http://127.0.0.1:PORT`` on stdout once it serves; SIGINT or SIGTERM stops everything,
tasks included, and the process exits 0. With ``--zk zk://host:2181/mesos`` the master also registers in
ZooKeeper the way a real master does (``zk_registration``); when ZooKeeper answers, before the ready line.

Master faults from outside the process (``LocalCluster.restart_master``, see ``master_restart``): ``SIGUSR1``
restarts the master (a new master id on the same address), ``SIGUSR2`` fails it over (a new master id on a new
port of the same IP, re-registered in ZooKeeper with ``--zk``). The master is down for
``--master-restart-downtime`` seconds; agents keep their tasks and re-register. Each one prints a line
``localmesos master restarted: <id> http://IP:PORT`` (or ``failed over``) on stdout once the new master serves.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from .cluster import ClusterConfig, ClusterConfigError, LocalCluster, build_agent_specs
from .flags import FlagParser, add_env_flag
from .master import MasterFlags
from .zk_registration import ZkUrlError, parse_zk_url

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser, env_prefix: str = "LOCALMESOS_") -> None:
    def flag(name: str, fallback: str | None, **kw: object) -> None:
        add_env_flag(parser, env_prefix + name.upper().replace("-", "_"), name, fallback, **kw)

    flag("ip", "127.0.0.1", help="address the master binds and advertises")
    flag("port", "5050", type=int, help="master HTTP port (0 picks a free one)")
    flag("agents", None, type=int, help="number of agents (default 3, or as many as --cluster lists)")
    flag("cluster", None, help='cluster JSON: {"agents": [{"resources": "...", "attributes": "...", "hostname": "127.0.0.5"}]}')
    flag("resources", None, help="default agent resources, Mesos flag syntax, e.g. cpus:4;mem:4096;disk:20000")
    flag("attributes", None, help="default agent attributes, e.g. rack:r1;zone:a")
    flag("agent-port", "5051", type=int, help="agents' HTTP port, each on its own loopback address (0 = free port)")
    flag("work-dir", None, help="sandboxes and state (default: a temporary directory removed on exit)")
    flag("simulate", None, type=_bool, help="scripted tasks, no processes (thousands of agents)")
    flag("heartbeat-interval", "15", type=float, help="seconds between scheduler HEARTBEAT events")
    flag("allocation-interval", "1", type=float, help="seconds between allocation rounds")
    flag("agent-ping-timeout", "15", type=float, help="seconds per missed agent ping")
    flag("max-agent-ping-timeouts", "5", type=int, help="missed pings before an agent is unreachable")
    flag("offer-refuse-default", "5", type=float, help="default refuse_seconds of DECLINE/ACCEPT filters")
    flag("status-update-retry-interval", "10", type=float, help="first re-send of an unacknowledged update")
    flag("executor-registration-timeout", "60", type=float, help="seconds an executor has to subscribe")
    flag("docker-registry", None, help="directory of `docker save` tarballs named <repository>:<tag>.tar "
                                       "(Mesos' local registry): tasks with a Docker image run in containers")
    flag("zk", None, help="register the master in ZooKeeper like a real master does, "
                          "zk://[user:password@]host1:port1,host2:port2/path or file:///path/to/file")
    flag("master-restart-downtime", "0", type=float,
         help="seconds the master stays down when SIGUSR1 restarts it or SIGUSR2 fails it over")
    flag("log-level", "INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log level")


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def config_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> ClusterConfig:
    for name in ("port", "agent_port"):
        if not 0 <= getattr(args, name) <= 65535:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 65535")
    positive = ("heartbeat_interval", "allocation_interval", "agent_ping_timeout", "max_agent_ping_timeouts",
                "status_update_retry_interval", "executor_registration_timeout")
    for name in positive:
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.offer_refuse_default < 0:
        parser.error("--offer-refuse-default must not be negative")
    zk = getattr(args, "zk", None)  # callers building their own Namespace (mesospaas local) may leave it out
    if zk:
        try:
            parse_zk_url(zk)
        except ZkUrlError as exc:
            parser.error(f"--zk: {exc}")
    simulate = bool(args.simulate)
    count = args.agents
    if count is None and not args.cluster:
        count = 3
    try:
        specs = build_agent_specs(count, args.cluster, resources=args.resources, attributes=args.attributes,
                                  agent_port=args.agent_port, simulate=simulate)
    except ClusterConfigError as exc:
        parser.error(str(exc))
    master = MasterFlags(heartbeat_interval=args.heartbeat_interval, allocation_interval=args.allocation_interval,
                         agent_ping_timeout=args.agent_ping_timeout,
                         max_agent_ping_timeouts=args.max_agent_ping_timeouts,
                         offer_refuse_default=args.offer_refuse_default, hostname=args.ip, ip=args.ip, port=args.port)
    return ClusterConfig(agents=specs, master=master, mode="simulate" if simulate else "process",
                         work_dir=Path(args.work_dir) if args.work_dir else None,
                         status_update_retry_interval=args.status_update_retry_interval,
                         executor_registration_timeout=args.executor_registration_timeout, zk=zk or None,
                         docker_registry=Path(args.docker_registry) if getattr(args, "docker_registry", None)
                         else None)


class MasterRestarts:
    """SIGUSR1 / SIGUSR2 handlers: one master restart (or failover) at a time, in the order signalled."""

    def __init__(self, cluster: LocalCluster, downtime: float) -> None:
        self.cluster = cluster
        self.downtime = downtime
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    def request(self, failover: bool) -> None:
        task = asyncio.get_running_loop().create_task(self._restart(failover))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _restart(self, failover: bool) -> None:
        async with self._lock:
            try:
                master = await self.cluster.restart_master(failover=failover, downtime=self.downtime)
            except Exception:  # the process keeps serving what it can; the log says what failed
                log.exception("master %s failed", "failover" if failover else "restart")
                return
            what = "failed over" if failover else "restarted"
            log.info("master %s: id %s at %s", what, master.id, self.cluster.url)
            print(f"localmesos master {what}: {master.id} {self.cluster.url}", flush=True)


async def serve(config: ClusterConfig, downtime: float = 0.0) -> None:
    """Runs the cluster until SIGINT or SIGTERM; SIGUSR1 / SIGUSR2 restart / fail over its master."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with LocalCluster(config) as cluster:
        print(f"localmesos master: {cluster.url}", flush=True)
        restarts = MasterRestarts(cluster, downtime)
        loop.add_signal_handler(signal.SIGUSR1, restarts.request, False)
        loop.add_signal_handler(signal.SIGUSR2, restarts.request, True)
        for agent in cluster.agents:
            log.info("agent %s at %s:%d resources %s attributes %s", agent.id, agent.hostname, agent.port,
                     agent.total.to_flag(), ";".join(f"{a.name}:{a.state_value()}" for a in agent.attributes))
        await stop.wait()
        log.info("stopping localmesos")


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    logging.basicConfig(level=getattr(logging, args.log_level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = config_from_args(args, parser)
    try:
        asyncio.run(serve(config, max(0.0, float(getattr(args, "master_restart_downtime", 0.0) or 0.0))))
    except OSError as exc:
        print(f"localmesos: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = FlagParser(prog="localmesos", description="A local Mesos 1.x cluster in one process")
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run(args, parser)
