"""Readiness probes: the shell that polls the tasks ``mesospaas.deploy.readiness`` names, over HTTP.

Owns one background task (started and stopped by the runtime), the per-task poll schedule and the latest
result per task, for ``/v2/deployments`` (``currentActions[].readinessCheckResults``) and
``embed=apps.readiness``. It never decides anything: which tasks to poll comes from the runtime
(``targets``), what an answer means from ``readiness.judge``, and a task's first ready answer goes back to
the runtime (``on_ready``), which persists it and moves the deployment on.

Polls run concurrently (at most ``concurrency`` at once), each with the check's ``timeoutSeconds``, the
first one as soon as the task is a target, then every ``intervalSeconds``. The loop wakes every
``tick`` seconds (or at once on ``wake``); a probe never runs on the runtime's own path.

Fails: a probe that errors is a "not ready" result; an error in ``on_ready`` (the runtime stopped, the
leader term ended) is logged, and the next ready answer tries again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from mesospaas.deploy.readiness import ProbeResponse, ReadinessResult, Target, judge
from scheduler.cancelling import cancel_and_wait
from mesospaas.model.ids import InstanceId, TaskId

log = logging.getLogger(__name__)

BODY_LIMIT = 64 * 1024
"""At most this much of a response body is kept (``preserveLastResponse``)."""


class ReadinessProbes:
    def __init__(self, targets: Callable[[], list[Target]],
                 on_ready: Callable[[InstanceId, TaskId], Awaitable[Any]],
                 clock: Callable[[], float], *, tick: float = 0.5, concurrency: int = 64) -> None:
        self._targets = targets
        self._on_ready = on_ready
        self._clock = clock
        self._tick = tick
        self._slots = asyncio.Semaphore(concurrency)
        self._next_poll: dict[TaskId, float] = {}
        self._in_flight: set[TaskId] = set()
        self._probes: set[asyncio.Task[None]] = set()
        self.results: dict[TaskId, ReadinessResult] = {}
        """The latest result per polled task (kept while the task is a target or ready and still known)."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="readiness-probes")

    async def stop(self) -> None:
        await cancel_and_wait([self._task, *self._probes])
        self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def wake(self) -> None:
        """Look for new targets now (a task just started running in a deployment)."""
        self._wake.set()

    def forget(self, keep: set[TaskId]) -> None:
        """Drop schedules and results of tasks not in ``keep``."""
        for task in [t for t in self.results if t not in keep]:
            del self.results[task]
        for task in [t for t in self._next_poll if t not in keep]:
            del self._next_poll[task]

    async def _run(self) -> None:
        while True:
            try:
                self._round()
            except Exception:  # a bug here must not stop the probing of every other task
                log.exception("readiness probe round failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self._tick)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    def _round(self) -> None:
        now = self._clock()
        targets = self._targets()
        wanted = {t.instance.task_id for t in targets if t.instance.task_id is not None}
        for task in [t for t in self._next_poll if t not in wanted]:
            del self._next_poll[task]
        for target in targets:
            maybe = target.instance.task_id
            if maybe is None or maybe in self._in_flight or self._next_poll.get(maybe, now) > now:
                continue
            task = maybe
            self._next_poll[task] = now + target.check.interval_seconds
            self._in_flight.add(task)
            probe = asyncio.get_running_loop().create_task(self._probe(target, task))
            self._probes.add(probe)
            probe.add_done_callback(self._probes.discard)

    async def _probe(self, target: Target, task: TaskId) -> None:
        try:
            async with self._slots:
                response = await self._get(target)
            result = judge(target.check, task, response)
            self.results[task] = result
            if result.ready:
                log.info("%s: task %s is ready", target.instance.app_id, task)
                try:
                    await self._on_ready(target.instance.id, task)
                except Exception as exc:  # the runtime stopped or the term ended; a later poll retries
                    log.warning("could not record that %s is ready: %s", task, exc)
                    self._next_poll.pop(task, None)
        finally:
            self._in_flight.discard(task)

    def _client(self) -> aiohttp.ClientSession:
        """The probes' HTTP session, made on the first probe (most runtimes never poll readiness)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, ssl=False,
                                                                                force_close=True))
        return self._session

    async def _get(self, target: Target) -> ProbeResponse | None:
        try:
            async with self._client().get(target.url, timeout=aiohttp.ClientTimeout(
                    total=target.check.timeout_seconds), allow_redirects=False) as resp:
                body = await resp.content.read(BODY_LIMIT)
                return ProbeResponse(resp.status, resp.headers.get("Content-Type", ""),
                                     body.decode("utf-8", "replace"))
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
            log.debug("readiness probe %s: %s", target.url, exc)
            return None


__all__ = ["ReadinessProbes"]
