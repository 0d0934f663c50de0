"""The leader's health probes in a worker process of their own, so thousands of checks never share the
scheduler's interpreter (its event loop, its GIL) with offers, status updates and API requests.

Owns ``WorkerProbePool``, a drop-in for ``scheduler.health_probes.ProbePool`` (same ``start``/``probe``/
``close``), and the worker's entry point (``python -m scheduler.health_worker``), which runs an ordinary
``ProbePool`` on its own loop. They talk over the worker's stdin and stdout, one JSON object per line:

- request: ``{"id", "protocol", "host", "port", "path", "timeout", "ignore_http1xx", "start_by"}`` where
  ``start_by`` is a ``time.monotonic()`` deadline (one clock for every process of the machine);
- answer: ``{"id", "kind": "Passed" | "Failed" | "Ignored" | "Unknown", "detail"}``.

What the scheduler's side still does per probe is one small JSON line each way; the sockets, the TLS, the
parsing and the timers are the worker's. The worker's own lateness (its loop lag) turns a timeout into
``Unknown``, as in process. Fails: if the worker dies, every probe in flight and every later one is
``Unknown`` until it is started again (at once, on the next probe), and the death is logged; nothing blocks.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import sys
from typing import Any

from mesospaas.health.outcome import PASSED, Failed, Ignored, Outcome, Unknown
from scheduler.health_probes import DEFAULT_MAX_IN_FLIGHT, ProbePool, ProbeTarget

log = logging.getLogger(__name__)
LINE_LIMIT = 1 << 20


def outcome_json(request_id: int, outcome: Outcome) -> dict[str, Any]:
    detail: Any = None
    if isinstance(outcome, Failed):
        detail = outcome.cause
    elif isinstance(outcome, Unknown):
        detail = outcome.reason
    elif isinstance(outcome, Ignored):
        detail = outcome.status
    return {"id": request_id, "kind": type(outcome).__name__, "detail": detail}


def outcome_from_json(answer: dict[str, Any]) -> Outcome:
    kind, detail = answer.get("kind"), answer.get("detail")
    if kind == "Passed":
        return PASSED
    if kind == "Failed":
        return Failed(str(detail))
    if kind == "Ignored":
        return Ignored(int(detail))
    return Unknown(str(detail or "the probe worker gave no answer"))


class WorkerProbePool:
    """``ProbePool``'s interface, with the probing done by a child process."""

    def __init__(self, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> None:
        self.max_in_flight = max_in_flight
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Outcome]] = {}
        self._ids = itertools.count(1)
        self._starting: asyncio.Lock | None = None
        self._closed = False
        self.probes = 0

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def start(self) -> None:
        self._starting = asyncio.Lock()
        await self._spawn()

    async def _spawn(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "scheduler.health_worker", str(self.max_in_flight),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=LINE_LIMIT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._reader = asyncio.get_running_loop().create_task(self._read(self._proc), name="health-worker-reader")
        log.info("health probe worker started (pid %d)", self._proc.pid)

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            line = await proc.stdout.readline()
            if not line:
                break
            try:
                answer = json.loads(line)
                future = self._pending.pop(int(answer["id"]), None)
            except (ValueError, KeyError, TypeError):
                log.warning("health probe worker said something unreadable: %r", line[:200])
                continue
            if future is not None and not future.done():
                future.set_result(outcome_from_json(answer))
        code = await proc.wait()
        if not self._closed:
            log.error("health probe worker exited with %s; probes in flight are unknown", code)
        self._fail_pending("the probe worker stopped")

    def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_result(Unknown(reason))

    async def probe(self, target: ProbeTarget, start_by: float) -> Outcome:
        if self._closed or self._starting is None:
            return Unknown("the probe worker is stopped")
        if self._proc is None or self._proc.returncode is not None:
            async with self._starting:
                if self._proc is None or self._proc.returncode is not None:
                    await self._spawn()
        assert self._proc is not None and self._proc.stdin is not None
        request_id = next(self._ids)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        line = json.dumps({"id": request_id, "protocol": target.protocol, "host": target.host, "port": target.port,
                           "path": target.path, "timeout": target.timeout, "ignore_http1xx": target.ignore_http1xx,
                           "start_by": start_by}, separators=(",", ":")) + "\n"
        try:
            self._proc.stdin.write(line.encode())
        except (ConnectionError, RuntimeError) as exc:
            self._pending.pop(request_id, None)
            return Unknown(f"the probe worker cannot be reached: {exc}")
        self.probes += 1
        try:
            # The worker answers every request (a probe ends by its own timeout); this bound only covers a
            # worker that hangs.
            return await asyncio.wait_for(asyncio.shield(future), target.timeout + 30.0)
        except asyncio.TimeoutError:
            self._pending.pop(request_id, None)
            return Unknown("the probe worker did not answer in time")

    async def close(self) -> None:
        self._closed = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self._fail_pending("the probe worker is stopped")


async def serve(max_in_flight: int) -> None:
    """The worker: read requests from stdin, probe with an ordinary ``ProbePool``, answer on stdout."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    pool = ProbePool(max_in_flight)
    await pool.start()
    running: set[asyncio.Task[None]] = set()
    out = sys.stdout

    async def one(request: dict[str, Any]) -> None:
        target = ProbeTarget(str(request["protocol"]), str(request["host"]), int(request["port"]),
                             str(request.get("path") or "/"), float(request["timeout"]),
                             bool(request.get("ignore_http1xx")))
        outcome = await pool.probe(target, float(request["start_by"]))
        out.write(json.dumps(outcome_json(int(request["id"]), outcome), separators=(",", ":")) + "\n")
        out.flush()

    while True:
        line = await reader.readline()
        if not line:
            break
        try:
            request = json.loads(line)
        except ValueError:
            continue
        task = loop.create_task(one(request))
        running.add(task)
        task.add_done_callback(running.discard)
    if running:
        await asyncio.gather(*running, return_exceptions=True)
    await pool.close()


def main() -> None:
    max_in_flight = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_MAX_IN_FLIGHT
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        asyncio.run(serve(max_in_flight))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()


__all__ = ["WorkerProbePool", "outcome_from_json", "outcome_json"]
