"""The shell of a highly available instance: each leadership term runs its own scheduler runtime.

Owns: ``CurrentPlatform`` (what the API uses: the runtime of the current term, with response-cache
generations that never repeat across terms) and ``HaRunner`` (election -> term -> ZooKeeper store fenced on
the member node -> runtime start (load state, re-subscribe with the stored framework id, reconcile) ->
serve until the term ends or the runtime fails -> stop the runtime -> stand by again).

A failed runtime (a store error, a lost fence) abdicates, so another instance takes over instead of this one
leading without acting. Standbys hold no state: the API proxies to the leader.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient

from api.stale_reads import serving_stale
from scheduler.acting import ActingGate, NotLeader
from scheduler.ha import Election, LeaderTerm
from scheduler.runtime import SchedulerRuntime
from scheduler.store import Store, ZooKeeperStore

log = logging.getLogger(__name__)
RuntimeFactory = Callable[[Store, ActingGate], SchedulerRuntime]


class CurrentPlatform:
    """Delegates to the runtime of the current term; raises ``NotLeader`` when there is none, except for a stale
    read while ZooKeeper is lost (``api.stale_reads``), which gets the runtime of the last term this instance
    served: stopped, its state as it last was."""

    def __init__(self) -> None:
        self._runtime: SchedulerRuntime | None = None
        self._last: SchedulerRuntime | None = None
        self._terms = 0

    def serve(self, runtime: SchedulerRuntime | None) -> None:
        if self._runtime is not None:
            self._last = self._runtime
        self._runtime = runtime
        self._terms += 1

    @property
    def runtime(self) -> SchedulerRuntime:
        if self._runtime is None:
            if serving_stale.get():
                if self._last is not None:
                    return self._last
                raise NotLeader("ZooKeeper is unavailable and this instance has never loaded state: there is "
                                "nothing to read here until a leader is elected")
            raise NotLeader("this instance is not serving as leader")
        return self._runtime

    @property
    def generation(self) -> int:
        """Unique across terms: a cache filled in one term is never served in the next."""
        return (self._terms << 40) + (self._runtime.generation if self._runtime is not None else 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.runtime, name)


async def reconcile_after_resumptions(term: LeaderTerm, runtime: SchedulerRuntime) -> None:
    """While the term lasts: each time it resumes after a ZooKeeper outage (quorum lost and back, the session
    kept), the runtime reconciles its tasks with Mesos, which went on without it meanwhile."""
    seen = term.resumptions
    while not term.ended:
        await term.wait_changed()
        if term.resumptions != seen:
            seen = term.resumptions
            log.info("leadership resumed after ZooKeeper came back: reconciling tasks with Mesos")
            runtime.reconcile_soon()


class HaRunner:
    def __init__(self, client: KazooClient, base: str, me: str, session_timeout: float,
                 make_runtime: RuntimeFactory) -> None:
        self.client = client
        self.state_path = base.rstrip("/") + "/state"
        self.make_runtime = make_runtime
        self.platform = CurrentPlatform()
        self.election = Election(client, base, me, session_timeout, self._on_term)
        self._term_task: asyncio.Task[None] | None = None
        self.terms_served = 0

    async def start(self) -> None:
        await self.election.start()

    async def stop(self) -> None:
        term = self.election.term
        if term is not None:
            term.end()
        if self._term_task is not None:
            await self._term_task
        await self.election.stop()

    def _on_term(self, term: LeaderTerm) -> None:
        previous = self._term_task
        self._term_task = asyncio.get_running_loop().create_task(self._lead(term, previous), name="leader-term")

    async def _lead(self, term: LeaderTerm, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await previous  # the last term's runtime is fully stopped before the next one starts
        store = ZooKeeperStore(self.client, self.state_path)
        store.fence(term.member_path)
        runtime = self.make_runtime(store, term)
        failed = False
        try:
            await runtime.start()
            if term.ended:
                return
            self.platform.serve(runtime)
            self.election.serving = True
            self.terms_served += 1
            log.info("leading: serving the API and acting on Mesos")
            ended = asyncio.get_running_loop().create_task(term.wait_ended())
            resumed = asyncio.get_running_loop().create_task(reconcile_after_resumptions(term, runtime))
            finished = runtime.finished()
            await asyncio.wait([ended, finished], return_when=asyncio.FIRST_COMPLETED)
            ended.cancel()
            resumed.cancel()
            failed = finished.done() and not term.ended
        except NotLeader:
            pass
        except Exception:
            log.exception("leader term failed")
            failed = True
        finally:
            self.election.serving = False
            self.platform.serve(None)
            await runtime.stop()
            store.close()
        if failed:
            log.error("the scheduler runtime stopped while leading: abdicating")
            await self.election.abdicate()
