"""``mesospaas logs TASK_ID [--stderr] [-f] [--api URL]``: a task's stdout (or stderr) through the API.

Owns the subcommand: it reads ``GET /v2/tasks/{taskId}/logs`` of a running mesospaas API (``--api``, env
``MESOSPAAS_API``, default ``http://127.0.0.1:8080``) and writes the data to stdout as it arrives: the last
``--length`` bytes (default 64 KiB), and with ``-f`` what the task writes afterwards, across log rotations,
until the task ends or Ctrl-C. Standard library only (``urllib``), so it needs nothing but the package.

Exit status: 0 after the output was written (or Ctrl-C while following), 1 when the API refuses (the API's
message on stderr, e.g. ``Task 'x' does not exist``) or cannot be reached, 2 for bad flags.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

from scheduler import api_client_auth
from scheduler.serve import add_flag

READ_SIZE = 64 * 1024
DEFAULT_LENGTH = 64 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task_id", metavar="TASK_ID", help="the task (as /v2/tasks lists it)")
    parser.add_argument("--stderr", action="store_true", help="the task's stderr instead of its stdout")
    parser.add_argument("-f", "--follow", action="store_true", help="keep writing what the task writes")
    parser.add_argument("--length", type=int, default=DEFAULT_LENGTH,
                        help="how many of the last bytes to show first (default 64 KiB)")
    add_flag(parser, "api", "http://127.0.0.1:8080", help="the mesospaas API")
    api_client_auth.add_client_arguments(parser)  # issue 17: --http-credentials, --token, --ca-file


def logs_url(api: str, task_id: str, stream: str, follow: bool, length: int) -> str:
    query = urllib.parse.urlencode({"stream": stream, "length": str(length),
                                    **({"follow": "true"} if follow else {})})
    return f"{api.rstrip('/')}/v2/tasks/{urllib.parse.quote(task_id, safe='')}/logs?{query}"


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.length < 0:
        parser.error("--length must not be negative")
    url = logs_url(args.api, args.task_id, "stderr" if args.stderr else "stdout", args.follow, args.length)
    out = sys.stdout.buffer
    try:
        with urllib.request.urlopen(api_client_auth.request(args, url), timeout=None if args.follow else 60,
                                    context=api_client_auth.ssl_context(args)) as response:  # issue 17
            if not args.follow:
                out.write(json.loads(response.read())["data"].encode("utf-8"))
                out.flush()
                return 0
            while True:
                data = response.read1(READ_SIZE)
                if not data:
                    return 0
                out.write(data)
                out.flush()
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message", exc.reason)
        except ValueError:
            message = exc.reason
        print(f"mesospaas logs: {message}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"mesospaas logs: cannot reach {args.api}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
