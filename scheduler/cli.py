"""The ``mesospaas`` command: one console script with subcommands.

Every flag also reads a ``MESOSPAAS_*`` environment variable (``--port`` <- ``MESOSPAAS_PORT``); bad flags exit
with status 2 and a usage message.
"""

from __future__ import annotations

import argparse
import sys

import localmesos.cli
from scheduler import local, serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mesospaas", description="A platform-as-a-service on Apache Mesos")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    local_mesos = sub.add_parser("local-mesos", help="run an embedded Mesos-compatible cluster (master + agents)",
                                 description="An embedded Mesos 1.x cluster speaking the v1 HTTP APIs")
    localmesos.cli.add_arguments(local_mesos, env_prefix="MESOSPAAS_")
    local_mesos.set_defaults(handler=lambda a: localmesos.cli.run(a, local_mesos))
    serve_cmd = sub.add_parser("serve", help="run the scheduler against a Mesos master",
                               description="Run the mesospaas scheduler as a Mesos framework")
    serve.add_scheduler_arguments(serve_cmd)
    serve_cmd.set_defaults(handler=lambda a: serve.run(a, serve_cmd))
    local_cmd = sub.add_parser("local", help="run the whole platform on an embedded Mesos cluster",
                               description="localmesos + scheduler + API in one process")
    local.add_arguments(local_cmd)
    local_cmd.set_defaults(handler=lambda a: local.run(a, local_cmd))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
