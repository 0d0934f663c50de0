"""A task for health check tests: an HTTP server on ``--port`` that turns unhealthy when told to.

Run by localmesos as a real process (``python health_task.py --port $PORT0 --marker-dir DIR``). It answers
``GET /health`` with 200 until the file ``DIR/<MESOS_TASK_ID>`` exists, then with 500; with ``--mode tcp``
it closes its listening sockets instead (connections are refused). Listens on ``$HOST`` (the leader's checks
go to the agent's hostname) and, with ``--bind-loopback``, on 127.0.0.1 too (Mesos' own checks probe
127.0.0.1 inside the task's network): named addresses rather than 0.0.0.0, so it does not collide with other
processes of a shared test machine that use the same port on another loopback address. Standard library only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--marker-dir", type=Path, required=True)
    parser.add_argument("--mode", choices=("http", "tcp"), default="http")
    parser.add_argument("--bind-loopback", action="store_true")
    args = parser.parse_args()
    marker = args.marker_dir / os.environ.get("MESOS_TASK_ID", "task")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            failing = marker.exists()
            status = b"500 Internal Server Error" if failing else b"200 OK"
            body = b"broken\n" if failing else b"ok\n"
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: " + str(len(body)).encode() +
                         b"\r\nConnection: close\r\n\r\n" + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    hosts = sorted({os.environ.get("HOST", "127.0.0.1"), *(["127.0.0.1"] if args.bind_loopback else [])})
    server = await asyncio.start_server(handle, hosts, args.port)
    while True:
        await asyncio.sleep(0.1)
        if args.mode == "tcp" and marker.exists() and server.is_serving():
            server.close()


if __name__ == "__main__":
    asyncio.run(main())
