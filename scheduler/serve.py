"""``mesospaas serve``: the framework process (scheduler runtime and HTTP API).

Without ``--zk`` one instance keeps its state in ``--work-dir`` (a local directory store, locked against a
second process). With ``--zk zk://hosts/path`` instances elect a leader through ZooKeeper and keep every piece
of state there (``scheduler.ha``, ``scheduler.ha_runner``); standbys proxy the API to the leader.

Every flag also reads ``MESOSPAAS_<FLAG>``; bad values exit with status 2 (naming the variable when the value
came from one: ``localmesos.flags``, the parser of ``scheduler.cli``). SIGINT or SIGTERM stop the scheduler
and leave the framework registered with Mesos (failover), so its tasks keep running for the next start.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import ssl
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from api.app import ApiConfig, build_api_app
from api.auth import AuthConfig
from localmesos.flags import add_env_flag
from mesospaas.routing.service_ports import PortRange
from scheduler.acting import ActingGate
from scheduler.events import EventBus
from scheduler import auth_cli
from scheduler.executor_info import add_executor_arguments, executor_settings_from_args
from scheduler.ha import ZooKeeperUnavailable, connect_zookeeper, parse_zk_url
from scheduler.ha_runner import HaRunner
from scheduler.mesos_driver import ONE_WEEK, FrameworkSettings
from scheduler.metrics import DEFAULT_MAX_APPS, Metrics
from scheduler.runtime import RuntimeSettings, SchedulerRuntime
from scheduler.store import LocalDirectoryStore, Store, StoreError

log = logging.getLogger(__name__)
ENV_PREFIX = "MESOSPAAS_"


def default_work_dir() -> str:
    return str(Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "mesospaas")


def add_flag(parser: argparse.ArgumentParser, name: str, fallback: str | None, **kw: object) -> None:
    """``--name`` with the ``MESOSPAAS_NAME`` fallback; ``--help`` shows the default (``localmesos.flags``)."""
    add_env_flag(parser, ENV_PREFIX + name.upper().replace("-", "_"), name, fallback, **kw)


def add_scheduler_arguments(parser: argparse.ArgumentParser, *, with_master: bool = True) -> None:
    if with_master:
        add_flag(parser, "master", "127.0.0.1:5050", help="Mesos master, host:port or zk://host:2181/mesos")
        add_flag(parser, "http-port", "8080", type=int, help="API port (0 picks a free one)")
        add_flag(parser, "http-address", "127.0.0.1", help="address the API binds")
        add_flag(parser, "hostname", None, help="address other instances reach this one's API at "
                                                "(default: --http-address)")
        add_flag(parser, "zk", None, help="ZooKeeper for state and leader election, zk://host:2181[,host]/path "
                                          "(default: none; state in --work-dir, a single instance)")
        add_flag(parser, "zk-session-timeout", "10", type=float,
                 help="ZooKeeper session timeout in seconds: a crashed leader is replaced after about this long")
    add_flag(parser, "work-dir", default_work_dir(), help="where the scheduler keeps its state")
    add_flag(parser, "framework-name", "mesospaas", help="framework name registered with Mesos")
    add_flag(parser, "mesos-user", "root", help="user tasks run as unless an app says otherwise")
    add_flag(parser, "mesos-role", "*", help="the role the framework subscribes with")
    add_flag(parser, "failover-timeout", str(ONE_WEEK), type=float,
             help="seconds Mesos keeps the framework's tasks while no scheduler is connected")
    add_flag(parser, "task-launch-timeout", "300", type=float, help="seconds a task may stay staging")
    add_flag(parser, "decline-offer-duration", "120", type=float, help="refuse_seconds when declining offers")
    add_flag(parser, "reconciliation-interval", "600", type=float, help="seconds between task reconciliations")
    add_flag(parser, "max-launches-per-round", "5000", type=int, help="tasks launched per offer round at most")
    add_flag(parser, "max-app-versions", "25", type=int, help="definitions kept per app for versions and rollback")
    add_flag(parser, "job-history-count", "1000", type=int, help="finished runs kept in each job's history")
    add_flag(parser, "health-probes", "worker", choices=["worker", "in-process"],
             help="where the leader runs HTTP/HTTPS/TCP health checks: a worker process of their own (so "
                  "thousands of checks never slow offers or the API) or the scheduler's own event loop")
    add_flag(parser, "local-port-min", "10000", type=int, help="lowest service port assigned for port 0")
    add_flag(parser, "local-port-max", "20000", type=int, help="service ports are assigned below this one")
    add_executor_arguments(parser, add_flag)  # --executor-*: scheduler.executor_info
    auth_cli.add_server_arguments(parser)  # issue 17: --http-credentials, --auth-file, --ssl-*, --secrets-key-file...
    add_flag(parser, "log-level", "INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log level")
    add_flag(parser, "metrics-max-apps", str(DEFAULT_MAX_APPS), type=int,
             help="apps with series of their own in the metrics; the others are summed as app=\"__other__\"")


def metrics_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Metrics:
    """The process's meters (``scheduler.metrics``), on a registry of their own."""
    if args.metrics_max_apps < 1:
        parser.error("--metrics-max-apps must be at least 1")
    return Metrics(max_apps=args.metrics_max_apps)


def configure_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


async def start_api(runtime: Any, bus: EventBus, config: ApiConfig, address: str,
                    leadership: Any = None, metrics: Metrics | None = None, security: AuthConfig | None = None,
                    ssl_context: ssl.SSLContext | None = None) -> web.AppRunner:
    """Serves the API on ``address:config.http_port`` (0 = a free port, written back into ``config``) and
    prints the ready line ``mesospaas API: http://ADDRESS:PORT`` (``https://`` with ``ssl_context``)."""
    app = build_api_app(runtime, bus, config, metrics=metrics, security=security) if leadership is None else \
        build_api_app(runtime, bus, config, leadership=leadership, metrics=metrics, security=security)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, address, config.http_port, ssl_context=ssl_context).start()
    except OSError:
        await runner.cleanup()
        raise
    config.http_port = int(runner.addresses[0][1])
    auth_cli.reload_on_sighup(app)  # issue 17: SIGHUP re-reads --auth-file
    print(f"mesospaas API: {'https' if ssl_context else 'http'}://{address}:{config.http_port}", flush=True)
    return runner


def settings_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser,
                       master: str) -> tuple[RuntimeSettings, FrameworkSettings]:
    for name in ("failover_timeout", "task_launch_timeout", "decline_offer_duration", "reconciliation_interval"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.max_launches_per_round < 1:
        parser.error("--max-launches-per-round must be at least 1")
    if args.max_app_versions < 1:
        parser.error("--max-app-versions must be at least 1")
    if args.job_history_count < 0:
        parser.error("--job-history-count must not be negative")
    try:
        service_ports = PortRange(args.local_port_min, args.local_port_max)
    except ValueError as exc:
        parser.error(f"--local-port-min/--local-port-max: {exc}")
    runtime = RuntimeSettings(master=master, task_launch_timeout=args.task_launch_timeout,
                              executor=executor_settings_from_args(args, parser),
                              service_ports=service_ports,
                              decline_refuse_seconds=args.decline_offer_duration,
                              reconciliation_interval=args.reconciliation_interval,
                              max_launches_per_round=args.max_launches_per_round,
                              max_app_versions=args.max_app_versions,
                              job_history_limit=args.job_history_count,
                              health_probe_worker=args.health_probes == "worker")
    framework = FrameworkSettings(name=args.framework_name, user=args.mesos_user, role=args.mesos_role,
                                  failover_timeout=args.failover_timeout)
    return runtime, framework


async def serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    runtime_settings, framework = settings_from_args(args, parser, args.master)
    metrics_from_args(args, parser)  # bad flags are reported before anything starts
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serving: dict[str, Any] = {}  # issue 17: the platform whose store keeps the secrets, once it exists
    security = auth_cli.security_from_args(args, parser, args.http_address, lambda: serving["platform"].store,
                                           require_on_exposed=True)
    tls = auth_cli.server_ssl_context(args, parser)
    if args.zk:
        return await serve_ha(args, parser, runtime_settings, framework, stop, security=security, tls=tls,
                              serving=serving)
    try:
        store = LocalDirectoryStore(Path(args.work_dir) / "state")
    except StoreError as exc:
        print(f"mesospaas: {exc}", file=sys.stderr)
        return 1
    if not 0 <= args.http_port <= 65535:
        parser.error("--http-port must be between 0 and 65535")
    bus = EventBus()
    metrics = metrics_from_args(args, parser)
    runtime = SchedulerRuntime(store, runtime_settings, framework, events=bus, metrics=metrics)
    metrics.sources.platform = lambda: runtime
    serving["platform"] = runtime
    if security.secrets is not None:
        runtime.secrets = security.secrets  # issue 17: SECRET env at launch
    runtime.jobs.quotas = security.current_quotas  # issue 17: scheduled job runs inside the tenants' quotas
    runner: web.AppRunner | None = None
    try:
        await runtime.start()
        config = ApiConfig(http_port=args.http_port, hostname=args.http_address, master=args.master,
                           framework_name=framework.name, mesos_user=framework.user, mesos_role=framework.role)
        runner = await start_api(runtime, bus, config, args.http_address, metrics=metrics, security=security,
                                 ssl_context=tls)
        log.info("scheduler started against Mesos master %s, state in %s", args.master, args.work_dir)
        await stop.wait()
    except OSError as exc:
        print(f"mesospaas: cannot start: {exc}", file=sys.stderr)
        return 1
    finally:
        if runner is not None:
            await runner.cleanup()
        await runtime.stop()
        store.close()
    return 0


async def serve_ha(args: argparse.Namespace, parser: argparse.ArgumentParser, runtime_settings: RuntimeSettings,
                   framework: FrameworkSettings, stop: asyncio.Event, *, security: AuthConfig | None = None,
                   tls: ssl.SSLContext | None = None, serving: dict[str, Any] | None = None) -> int:
    """One of several instances: elect through ZooKeeper; lead (runtime + API) or stand by (API proxy)."""
    try:
        hosts, base = parse_zk_url(args.zk)
    except ValueError as exc:
        parser.error(f"--zk: {exc}")
    if args.zk_session_timeout < 1:
        parser.error("--zk-session-timeout must be at least 1 second")
    if not 0 <= args.http_port <= 65535:
        parser.error("--http-port must be between 0 and 65535")
    try:
        client = await asyncio.to_thread(connect_zookeeper, hosts, args.zk_session_timeout)
    except ZooKeeperUnavailable as exc:
        print(f"mesospaas: {exc}", file=sys.stderr)
        return 1
    bus = EventBus()
    metrics = metrics_from_args(args, parser)

    def make_runtime(store: Store, gate: ActingGate) -> SchedulerRuntime:
        runtime = SchedulerRuntime(store, runtime_settings, framework, events=bus, gate=gate, metrics=metrics)
        if security is not None and security.secrets is not None:
            runtime.secrets = security.secrets  # issue 17: SECRET env at launch
        if security is not None:
            runtime.jobs.quotas = security.current_quotas  # issue 17: scheduled job runs inside the quotas
        return runtime

    ha = HaRunner(client, base, "", args.zk_session_timeout, make_runtime)
    if serving is not None:
        serving["platform"] = ha.platform
    metrics.sources.platform = lambda: ha.platform.runtime  # raises NotLeader on a standby: no state series
    metrics.sources.is_leader = lambda: ha.election.is_leader
    metrics.sources.leader_changes = lambda: ha.election.leader_changes
    metrics.sources.terms = lambda: ha.terms_served
    metrics.sources.zookeeper_state = lambda: str(client.state)
    config = ApiConfig(http_port=args.http_port, hostname=args.hostname or args.http_address, master=args.master,
                       framework_name=framework.name, mesos_user=framework.user, mesos_role=framework.role,
                       zk=args.zk)
    config.leader_scheme, config.leader_ssl = auth_cli.leader_tls(args, parser)  # issue 17: TLS between instances
    runner: web.AppRunner | None = None
    try:
        runner = await start_api(ha.platform, bus, config, args.http_address, leadership=ha.election,
                                 metrics=metrics, security=security, ssl_context=tls)
        ha.election.me = f"{config.hostname}:{config.http_port}"
        await ha.start()
        log.info("in the leader election at %s as %s", args.zk, ha.election.me)
        await stop.wait()
    except OSError as exc:
        print(f"mesospaas: cannot start: {exc}", file=sys.stderr)
        return 1
    finally:
        await ha.stop()
        if runner is not None:
            await runner.cleanup()
        await asyncio.to_thread(client.stop)
        client.close()
    return 0


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    configure_logging(args.log_level)
    return asyncio.run(serve(args, parser))
