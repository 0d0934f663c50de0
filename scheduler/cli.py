"""The ``mesospaas`` command: one console script with subcommands.

Every flag also reads a ``MESOSPAAS_*`` environment variable (``--port`` <- ``MESOSPAAS_PORT``); bad flags exit
with status 2 and a usage message, a bad variable by its name. Every subcommand's ``--help`` shows the defaults
(the parsers are ``localmesos.flags.FlagParser``: subparsers take the root parser's class).
"""

from __future__ import annotations

import argparse
import sys

import localmesos.cli
from localmesos.flags import FlagParser
from scheduler import auth_cli, local, log_format, logs_cli, serve
from scheduler.lb import cli as lb_cli


def build_parser() -> argparse.ArgumentParser:
    parser = FlagParser(prog="mesospaas", description="A platform-as-a-service on Apache Mesos")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    local_mesos = sub.add_parser("local-mesos", help="run an embedded Mesos-compatible cluster (master + agents)",
                                 description="An embedded Mesos 1.x cluster speaking the v1 HTTP APIs")
    localmesos.cli.add_arguments(local_mesos, env_prefix="MESOSPAAS_")
    log_format.add_argument(local_mesos)
    local_mesos.set_defaults(handler=lambda a: localmesos.cli.run(a, local_mesos))
    serve_cmd = sub.add_parser("serve", help="run the scheduler against a Mesos master",
                               description="Run the mesospaas scheduler as a Mesos framework")
    serve.add_scheduler_arguments(serve_cmd)
    log_format.add_argument(serve_cmd)
    serve_cmd.set_defaults(handler=lambda a: serve.run(a, serve_cmd))
    local_cmd = sub.add_parser("local", help="run the whole platform on an embedded Mesos cluster",
                               description="localmesos + scheduler + API in one process")
    local.add_arguments(local_cmd)
    log_format.add_argument(local_cmd)
    local_cmd.set_defaults(handler=lambda a: local.run(a, local_cmd))
    lb_cmd = sub.add_parser("lb", help="run the edge load balancer (marathon-lb style, drives HAProxy)",
                            description="Route traffic to apps through HAProxy, from the public v2 API")
    lb_cli.add_arguments(lb_cmd)
    log_format.add_argument(lb_cmd)
    lb_cmd.set_defaults(handler=lambda a: lb_cli.run(a, lb_cmd))
    zdd_cmd = lb_cmd.add_subparsers(dest="lb_command", metavar="COMMAND").add_parser(
        "zdd", help="blue/green deploy an app (marathon-lb's zdd.py)", description="Zero-downtime deployment")
    lb_cli.add_zdd_arguments(zdd_cmd)
    zdd_cmd.set_defaults(handler=lambda a: lb_cli.run_zdd(a, zdd_cmd))
    logs_cmd = sub.add_parser("logs", help="show (and follow) a task's stdout or stderr through the API",
                              description="A task's logs, read from its agent through the mesospaas API")
    logs_cli.add_arguments(logs_cmd)
    logs_cmd.set_defaults(handler=lambda a: logs_cli.run(a, logs_cmd))
    auth_cmd = sub.add_parser("auth", help="manage the API's principals, tokens and quotas (the --auth-file)",
                              description="Principals, their tokens and grants, and tenant quotas")
    auth_cli.add_auth_arguments(auth_cmd)
    auth_cmd.set_defaults(handler=lambda a: auth_cli.run_auth(a, auth_cmd))
    secret_cmd = sub.add_parser("secret", help="store, list and delete secrets through the API",
                                description="Secrets for apps (values are never readable back)")
    auth_cli.add_secret_arguments(secret_cmd)
    secret_cmd.set_defaults(handler=lambda a: auth_cli.run_secret(a, secret_cmd))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    log_format.install(getattr(args, "log_format", "text"), getattr(args, "log_level", None))
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
