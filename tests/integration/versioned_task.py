"""A task for deployment tests: an HTTP server on ``--port`` whose health and readiness the test chooses.

Run by localmesos as a real process (``python versioned_task.py --port $PORT0 --health 200``). Answers
``GET /health`` with ``--health`` (200 healthy, 500 never healthy), ``GET /ready`` with 503 until the file
``--ready-file`` exists (or at once without one), then 200, and anything else with ``--version``. Binds
0.0.0.0, so both the leader's checks (agent hostname) and Mesos' own (127.0.0.1) reach it. Standard library.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

REASONS = {200: b"OK", 500: b"Internal Server Error", 503: b"Service Unavailable"}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--health", type=int, default=200)
    parser.add_argument("--ready-file", type=Path)
    parser.add_argument("--version", default="v1")
    args = parser.parse_args()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            path = request.split(b" ", 2)[1] if b" " in request else b"/"
            if path == b"/health":
                status, body = args.health, b"health\n"
            elif path == b"/ready":
                ready = args.ready_file is None or args.ready_file.exists()
                status, body = (200 if ready else 503), b"ready\n"
            else:
                status, body = 200, args.version.encode() + b"\n"
            writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % (status, REASONS.get(status, b"Status"), len(body)) + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "0.0.0.0", args.port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
