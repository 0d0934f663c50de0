"""``mesospaas lb`` and ``mesospaas lb zdd``: flags (each with a ``MESOSPAAS_LB_*`` fallback) and entry points.

Ports take ``[address:]port`` (``--http-port 127.0.0.1:8080``); without an address HAProxy binds all
(``*``). Repeatable flags (``--api``, ``--group``, ``--ssl-certs``) read comma separated lists from their
variables. Templates are read from ``templates/HAPROXY_<NAME>`` next to ``--config`` and from ``HAPROXY_<NAME>``
environment variables (marathon-lb's overrides). Bad flags exit with status 2. The log level comes from ``MESOSPAAS_LB_LOG_LEVEL`` (default INFO).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from mesospaas.routing import RenderOptions, default_templates
from mesospaas.routing.templates import Templates
from scheduler.lb import client_auth as api_client_auth
from scheduler.lb.client import ApiClient
from scheduler.lb.edge import Edge, EdgeSettings
from scheduler.lb.haproxy import HAProxy, socket_path
from scheduler.lb.status import LbMetrics, status_app

ENV_PREFIX = "MESOSPAAS_LB_"
log = logging.getLogger("mesospaas.lb")


def _env(name: str) -> str:
    return ENV_PREFIX + name.upper().replace("-", "_")


def _flag(parser: argparse.ArgumentParser, name: str, fallback: str | None, **kw: Any) -> None:
    env = _env(name)
    help_text = str(kw.pop("help", ""))
    parser.add_argument(f"--{name}", default=os.environ.get(env, fallback), help=f"{help_text} (env {env})", **kw)


def _list_flag(parser: argparse.ArgumentParser, name: str, help_text: str) -> None:
    env = _env(name)
    parser.add_argument(f"--{name}", action="append", default=None, help=f"{help_text} (env {env}, comma separated)")


def _list_value(args: argparse.Namespace, name: str, fallback: list[str]) -> list[str]:
    given = getattr(args, name.replace("-", "_"))
    if given:
        return [v.strip() for item in given for v in item.split(",") if v.strip()]
    env = os.environ.get(_env(name))
    if env:
        return [v.strip() for v in env.split(",") if v.strip()]
    return fallback


def bind_address(text: str, default_address: str) -> tuple[str, int]:
    """``[address:]port`` -> (address, port); ValueError when it is not one."""
    address, _, port = text.rpartition(":")
    number = int(port)
    if not 0 < number < 65536:
        raise ValueError(f"port {number} out of range")
    return (address or default_address), number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _list_flag(parser, "api", "Marathon API URL; repeat for failover (default http://127.0.0.1:8080)")
    _list_flag(parser, "group", "HAPROXY_GROUP to expose; * for every app (default external)")
    _flag(parser, "config", "/etc/haproxy/haproxy.cfg", help="where the HAProxy config is written")
    parser.add_argument("--dry-run", action="store_true",
                        default=os.environ.get(_env("dry-run"), "").lower() in ("1", "true", "yes"),
                        help=f"print the config once and exit (env {_env('dry-run')})")
    parser.add_argument("--run-haproxy", action="store_true",
                        default=os.environ.get(_env("run-haproxy"), "").lower() in ("1", "true", "yes"),
                        help=f"start and supervise HAProxy in master-worker mode (env {_env('run-haproxy')})")
    _flag(parser, "http-port", "80", help="[address:]port of the shared HTTP vhost frontend")
    _flag(parser, "https-port", "443", help="[address:]port of the shared HTTPS vhost frontend")
    _flag(parser, "stats-port", "9090", help="[address:]port of HAProxy's stats listener")
    _list_flag(parser, "ssl-certs", "certificate (PEM) for the HTTPS frontend; without any it is left out")
    _flag(parser, "reload-command", None, help="shell command that reloads an HAProxy the lb does not run")
    _flag(parser, "haproxy-socket", None, help="HAProxy's admin stats socket (default: next to --config)")
    _flag(parser, "status-port", "9092", help="[address:]port of the lb's /status and /metrics/prometheus")
    api_client_auth.add_client_arguments(parser, ENV_PREFIX)  # issue 17: --http-credentials, --token, --ca-file


def add_zdd_arguments(parser: argparse.ArgumentParser) -> None:
    _list_flag(parser, "api", "Marathon API URL (default http://127.0.0.1:8080)")
    parser.add_argument("--json", required=True, help="the app definition (blue/green labels set)")
    parser.add_argument("--marathon-lb", default=os.environ.get(_env("marathon-lb"), "http://127.0.0.1:9090"),
                        help="HAProxy stats URL of the lb (its --stats-port)")
    parser.add_argument("--initial-instances", type=int, default=1, help="instances of the new colour to start")
    parser.add_argument("--step-delay", type=float, default=5.0, help="seconds between checks")
    parser.add_argument("--max-wait", type=float, default=300.0, help="seconds a step may take at most")
    parser.add_argument("--new-instances", type=int, default=0, help="hybrid: stop at this many new instances")
    parser.add_argument("--linear-increase", action="store_true", help="scale up by the initial count, not x1.5")


def _read_templates(config: Path) -> Templates:
    directory = config.parent / "templates"
    files: dict[str, str] = {}
    if directory.is_dir():
        for entry in sorted(directory.iterdir()):
            if entry.name.startswith("HAPROXY_") and entry.is_file():
                files[entry.name] = entry.read_text()
    environment = {k: v for k, v in os.environ.items() if k.startswith("HAPROXY_")}
    return default_templates().with_overrides(files, environment)


def _maxconn(wanted: int = 50000) -> int:
    """marathon-lb's global maxconn, lowered to what the open-file limit allows (HAProxy needs ~2 per connection)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = hard if hard != resource.RLIM_INFINITY else wanted * 2 + 1000
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))  # HAProxy, our child, inherits it
    except (ValueError, OSError):
        limit = soft
    return max(256, min(wanted, (limit - 1000) // 2))


def settings_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[EdgeSettings, Path]:
    config = Path(args.config).resolve()
    socket = socket_path(Path(args.haproxy_socket).resolve() if args.haproxy_socket else config.with_suffix(".sock"))
    try:
        http = bind_address(args.http_port, "*")
        https = bind_address(args.https_port, "*")
        stats = bind_address(args.stats_port, "0.0.0.0")
    except ValueError as exc:
        parser.error(f"bad port: {exc}")
    options = RenderOptions(maxconn=_maxconn(), admin_socket=str(socket), http_bind=http[0], http_port=http[1], https_bind=https[0],
                            https_port=https[1], stats_bind=stats[0], stats_port=stats[1],
                            ssl_certs=tuple(_list_value(args, "ssl-certs", [])))
    groups = tuple(_list_value(args, "group", ["external"]))
    return EdgeSettings(groups=groups, render=options, templates=_read_templates(config)), socket


async def serve_lb(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    settings, socket = settings_from_args(args, parser)
    config = Path(args.config).resolve()
    try:
        status_bind = bind_address(args.status_port, "0.0.0.0")
    except ValueError as exc:
        parser.error(f"bad --status-port: {exc}")
    async with aiohttp.ClientSession(**api_client_auth.session_kwargs(args)) as session:  # issue 17: credentials, CA
        client = ApiClient(_list_value(args, "api", ["http://127.0.0.1:8080"]), session)
        if args.dry_run:
            edge = Edge(client, None, settings)
            rendered = await edge.apply(await client.apps())
            sys.stdout.write(rendered.text)
            for app_id, why in sorted(edge.excluded.items()):
                log.warning("left out %s: %s", app_id, why)
            return 0
        config.parent.mkdir(parents=True, exist_ok=True)
        haproxy = HAProxy(config, run=args.run_haproxy, admin_socket=socket, reload_command=args.reload_command)
        metrics = LbMetrics()
        edge = Edge(client, haproxy, settings, metrics)
        runner = web.AppRunner(status_app(edge.status, metrics), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, status_bind[0], status_bind[1]).start()
        log.info("lb status on %s:%d, api %s", status_bind[0], status_bind[1], client.urls)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await edge.start()
        try:
            await stop.wait()
        finally:
            await edge.stop()
            await runner.cleanup()
    return 0


def _logging() -> None:
    level = os.environ.get(_env("log-level"), "INFO").upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    _logging()
    return asyncio.run(serve_lb(args, parser))


def run_zdd(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from scheduler.lb import zdd
    _logging()
    return asyncio.run(zdd.main(args, _list_value(args, "api", ["http://127.0.0.1:8080"])))
