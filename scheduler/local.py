"""``mesospaas local``: the whole platform on the embedded cluster, in one command.

Starts localmesos (process mode; the agents ``--cluster FILE`` lists, or ``--agents N``, 3 without either), the
scheduler and the HTTP API; prints ``mesospaas API: http://ADDRESS:PORT`` once the API serves (``--http-address``,
default 127.0.0.1; authentication is off unless asked for on a loopback address and required on any other, as
for ``serve``). SIGINT or SIGTERM stop everything, tasks included, and the process exits 0. State lives in ``--work-dir`` (default ``~/.local/state/mesospaas/local``):
after a restart the apps come back and their tasks are launched again.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

import localmesos.cli
from api.app import ApiConfig
from localmesos.cluster import ClusterConfig, ClusterConfigError, LocalCluster
from scheduler import auth_cli
from scheduler.events import EventBus
from scheduler.runtime import SchedulerRuntime
from scheduler.serve import (add_flag, add_scheduler_arguments, configure_logging, default_work_dir,
                             metrics_from_args, settings_from_args, start_api)
from scheduler.store import LocalDirectoryStore, StoreError

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_flag(parser, "agents", None, type=int, help="number of local agents (default 3, or as many as --cluster "
                                                    "lists; given with --cluster, it cuts or extends the file's list)")
    add_flag(parser, "cluster", None, help="cluster JSON describing the agents (see README); it defines the cluster")
    add_flag(parser, "resources", None, help="default agent resources, e.g. cpus:4;mem:4096;disk:20000")
    add_flag(parser, "attributes", None, help="default agent attributes, e.g. rack:r1")
    add_flag(parser, "http-port", "8080", type=int, help="API port (0 picks a free one)")
    add_flag(parser, "http-address", "127.0.0.1", help="address the API binds (not a loopback one: give "
                                                       "--http-credentials or --auth-file, or --insecure-no-auth)")
    add_flag(parser, "mesos-port", "0", type=int, help="port of the embedded Mesos master (0 = free port)")
    add_flag(parser, "docker-registry", None, help="directory of `docker save` tarballs (<repository>:<tag>.tar) "
                                                   "the local agents run Docker images from")
    add_scheduler_arguments(parser, with_master=False)
    parser.set_defaults(work_dir=str(Path(default_work_dir()) / "local"))


def _cluster_config(args: argparse.Namespace, parser: argparse.ArgumentParser, work_dir: Path) -> ClusterConfig:
    ns = argparse.Namespace(
        ip="127.0.0.1", port=args.mesos_port, agents=args.agents, cluster=args.cluster, resources=args.resources,
        attributes=args.attributes, agent_port=0, work_dir=str(work_dir / "mesos"), simulate=False,
        heartbeat_interval=15.0, allocation_interval=1.0, agent_ping_timeout=15.0, max_agent_ping_timeouts=5,
        offer_refuse_default=5.0, status_update_retry_interval=10.0, executor_registration_timeout=60.0,
        docker_registry=args.docker_registry)
    return localmesos.cli.config_from_args(ns, parser)


async def run_local(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if not 0 <= args.http_port <= 65535:
        parser.error("--http-port must be between 0 and 65535")
    work_dir = Path(args.work_dir)
    try:
        cluster_config = _cluster_config(args, parser, work_dir)
    except ClusterConfigError as exc:
        parser.error(str(exc))
    metrics_from_args(args, parser)  # bad flags are reported before anything starts
    serving: dict[str, SchedulerRuntime] = {}  # issue 17: authentication is off unless asked for
    security = auth_cli.security_from_args(args, parser, args.http_address, lambda: serving["runtime"].store,
                                           require_on_exposed=True)
    tls = auth_cli.server_ssl_context(args, parser)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        store = LocalDirectoryStore(work_dir / "state")
    except StoreError as exc:
        print(f"mesospaas: {exc}", file=sys.stderr)
        return 1
    cluster = LocalCluster(cluster_config)
    runner: web.AppRunner | None = None
    runtime: SchedulerRuntime | None = None
    try:
        await cluster.start()
        runtime_settings, framework = settings_from_args(args, parser, cluster.address)
        bus = EventBus()
        metrics = metrics_from_args(args, parser)
        runtime = SchedulerRuntime(store, runtime_settings, framework, events=bus, metrics=metrics)
        metrics.sources.platform = lambda: runtime
        await runtime.start()
        config = ApiConfig(http_port=args.http_port, hostname=args.http_address, master=cluster.address,
                           framework_name=framework.name, mesos_user=framework.user, mesos_role=framework.role)
        serving["runtime"] = runtime
        if security.secrets is not None:
            runtime.secrets = security.secrets
        runtime.jobs.quotas = security.current_quotas  # issue 17: scheduled job runs inside the tenants' quotas
        runner = await start_api(runtime, bus, config, args.http_address, metrics=metrics, security=security,
                                 ssl_context=tls)
        log.info("Mesos master %s with %d agents; state in %s", cluster.url, len(cluster.agents), work_dir)
        await stop.wait()
        log.info("stopping mesospaas local")
    except OSError as exc:
        print(f"mesospaas: cannot start: {exc}", file=sys.stderr)
        return 1
    finally:
        if runner is not None:
            await runner.cleanup()
        if runtime is not None:
            await runtime.stop()
        await cluster.stop()
        store.close()
    return 0


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    configure_logging(args.log_level)
    return asyncio.run(run_local(args, parser))
