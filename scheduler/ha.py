"""High availability: leader election among mesospaas instances through ZooKeeper, and the leader's term.

Owns: ``parse_zk_url``, ``connect_zookeeper`` (retried with backoff), ``Election`` (membership, who leads,
the lease that gates every action of the leader) and ``LeaderTerm``.

Election: every instance creates an ephemeral sequential member node ``<base>/leader/member_<seq>`` holding its
API address (``host:port``); the member with the lowest sequence leads, the others proxy the API to the
address in that node. Abdicating deletes one's own node and joins again at the end of the line.

The leader acts only inside a term, and only while the term's lease is fresh:

- The lease is renewed by a read of the leader's own member node every ``session_timeout / 6`` and is good
  for ``session_timeout / 2`` after the last successful read. ZooKeeper cannot expire the session (and so
  elect another leader) before ``session_timeout`` has passed since it last heard from us, so a fresh lease
  means nobody else leads. A process frozen (SIGSTOP, a long GC pause) past its session finds its lease stale
  on waking, before any timer it owed can act; the monotonic clock keeps running while it is stopped.
- SUSPENDED (connection lost, session maybe alive): acting waits. Reconnected within the session: acting goes
  on. LOST (session expired) or the member node gone: the term ends with ``NotLeader`` for every waiter.
- The store is fenced on the member node too (``ZooKeeperStore.fence``): a write after the node is gone fails
  inside ZooKeeper, whatever this process believes.

Fails: ZooKeeper unreachable at start is retried with exponential backoff up to ``connect_attempts`` times,
then raises ``ZooKeeperUnavailable``; afterwards kazoo reconnects on its own (with backoff) and the election
re-joins after a session loss.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.retry import KazooRetry
from tenacity import RetryError, Retrying, before_sleep_log, retry_if_exception_type, stop_after_attempt, \
    wait_exponential

from scheduler.acting import NotLeader
from scheduler.fenced_subscribe import Verdict

log = logging.getLogger(__name__)
MEMBER_PREFIX = "member_"


class ZooKeeperUnavailable(Exception):
    """ZooKeeper could not be reached within the configured attempts."""


def parse_zk_url(url: str) -> tuple[str, str]:
    """``zk://h1:2181,h2:2181/mesospaas`` -> (``h1:2181,h2:2181``, ``/mesospaas``); raises ValueError."""
    parts = urlsplit(url)
    if parts.scheme not in ("zk", "zoo") or not parts.netloc:
        raise ValueError(f"not a ZooKeeper URL (zk://host:port[,host:port]/path): {url!r}")
    path = "/" + parts.path.strip("/")
    if path == "/":
        raise ValueError(f"the ZooKeeper URL needs a path for mesospaas' nodes (zk://host:port/mesospaas): {url!r}")
    return parts.netloc, path


def connect_zookeeper(hosts: str, session_timeout: float, connect_attempts: int = 8) -> KazooClient:
    """A started kazoo client; connection attempts back off exponentially (0.5 s doubling, 10 s at most).

    Once connected, kazoo itself reconnects after a loss (backing off up to 5 s between tries)."""
    def attempt() -> KazooClient:
        client = KazooClient(hosts=hosts, timeout=session_timeout,
                             connection_retry=KazooRetry(max_tries=-1, delay=0.2, backoff=2, max_delay=5),
                             command_retry=KazooRetry(max_tries=3, delay=0.1, backoff=2, max_delay=2))
        try:
            client.start(timeout=max(2.0, session_timeout))
        except BaseException:
            client.close()
            raise
        return client

    try:
        started: KazooClient = Retrying(
            stop=stop_after_attempt(connect_attempts), wait=wait_exponential(multiplier=0.5, max=10),
            retry=retry_if_exception_type((KazooException, KazooTimeoutError)),
            before_sleep=before_sleep_log(log, logging.WARNING), reraise=False)(attempt)
    except RetryError as exc:
        raise ZooKeeperUnavailable(f"ZooKeeper at {hosts} unreachable after {connect_attempts} attempts") from exc
    return started


@dataclass
class LeaderTerm:
    """One stretch of leadership: the gate the runtime and store pass before acting."""

    member_path: str
    lease_seconds: float
    confirmed_at: float
    ended: bool = False
    suspended: bool = False
    resumptions: int = 0
    """Times the term came back from SUSPENDED with its session (ZooKeeper or its quorum returned)."""

    def __post_init__(self) -> None:
        self._changed = asyncio.Event()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def lease_fresh(self) -> bool:
        return time.monotonic() - self.confirmed_at < self.lease_seconds

    def verdict(self) -> Verdict:
        """May the leader act now? Synchronous, for pymesos' thread (``scheduler.fenced_subscribe``)."""
        if self.ended:
            return Verdict.NEVER
        if self.suspended or not self.lease_fresh():
            return Verdict.WAIT
        return Verdict.ACT

    def confirm(self, at: float) -> None:
        self.confirmed_at = max(self.confirmed_at, at)
        self._notify()

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self._notify()

    async def wait_changed(self) -> None:
        """Returns at the next change of the term (confirmed, suspended, resumed, ended)."""
        await self._changed.wait()

    async def wait_ended(self) -> None:
        while not self.ended:
            await self._changed.wait()

    async def check(self) -> None:
        """Returns while leading with a fresh lease; waits while suspended or stale; raises once it ended."""
        while True:
            if self.ended:
                raise NotLeader(f"leadership ended ({self.member_path})")
            if not self.suspended and self.lease_fresh():
                return
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), self.lease_seconds)
            except asyncio.TimeoutError:
                pass


class Election:
    """This instance's membership in the election under ``<base>/leader``; ``LeaderView`` for the API."""

    def __init__(self, client: KazooClient, base: str, me: str, session_timeout: float,
                 on_term: Callable[[LeaderTerm], None]) -> None:
        self.client = client
        self.base = base.rstrip("/")
        self.election_path = f"{self.base}/leader"
        self._me = me
        self.session_timeout = session_timeout
        self.on_term = on_term
        self.member: str | None = None
        self.term: LeaderTerm | None = None
        self._leader: str | None = None
        self._leading_member: str | None = None
        self.leader_changes = 0
        """Times this instance learnt of a new leader, the first one included (``mesospaas_leader_changes_total``)."""
        self.serving = False
        """Set by the shell once the term's runtime has loaded state and serves (``is_leader``)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False
        self._wake = asyncio.Event()

    # -- LeaderView ---------------------------------------------------------------------------------------
    @property
    def is_leader(self) -> bool:
        return self.serving and self.term is not None and not self.term.ended and not self.term.suspended

    @property
    def leader(self) -> str | None:
        return self._leader

    @property
    def coordination_lost(self) -> bool:
        """ZooKeeper is out of reach (connection suspended or session lost): nobody can be known as leader, and
        this instance does not act (``api.stale_reads`` answers the API meanwhile)."""
        return self._loop is not None and not self._stopped and not self.client.connected

    @property
    def me(self) -> str:
        return self._me

    @me.setter
    def me(self, value: str) -> None:
        """Set once the API is bound (its port may be picked by the OS), before ``start``."""
        self._me = value

    async def abdicate(self) -> None:
        """Gives up leadership (``DELETE /v2/leader``): the term ends, this member rejoins at the end."""
        log.info("abdicating leadership")
        await self._leave()
        self._wake.set()

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.client.ensure_path, self.election_path)
        self.client.add_listener(self._on_state)
        self._tasks = [self._loop.create_task(self._run(), name="election"),
                       self._loop.create_task(self._renew(), name="leader-lease")]

    async def stop(self) -> None:
        """Leaves the election (deleting the member node, so a standby takes over at once)."""
        self._stopped = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self.client.remove_listener(self._on_state)
        await self._leave()

    async def _leave(self) -> None:
        member, self.member = self.member, None
        self._end_term("left the election")
        if member is not None:
            try:
                await asyncio.to_thread(self.client.delete, member)
            except NoNodeError:
                pass
            except KazooException as exc:  # the session will expire and take the node with it
                log.warning("could not delete member node %s: %s", member, exc)

    def _end_term(self, why: str) -> None:
        self.serving = False
        if self.term is not None and not self.term.ended:
            log.warning("leadership lost: %s", why)
            self.term.end()

    # -- ZooKeeper session ------------------------------------------------------------------------------
    def _on_state(self, state: str) -> None:  # kazoo's thread
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._session_changed, state)

    def _session_changed(self, state: str) -> None:
        log.info("ZooKeeper session %s", state)
        term = self.term
        if state == KazooState.SUSPENDED:
            if term is not None:
                term.suspended = True
        elif state == KazooState.CONNECTED:
            if term is not None and term.suspended:
                term.suspended = False
                term.resumptions += 1
                term.confirm(term.confirmed_at)
        elif state == KazooState.LOST:
            self.member = None  # its ephemeral node went with the session
            self._end_term("ZooKeeper session expired")
        self._wake.set()

    # -- the election loop --------------------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._stopped:
            self._wake.clear()
            try:
                await self._step()
            except KazooException as exc:
                log.warning("election: %s (retrying)", exc)
                await asyncio.sleep(min(1.0, self.session_timeout / 4))
                continue
            except Exception:  # never let the election die: log it and look again after a pause
                log.exception("election step failed (retrying)")
                await asyncio.sleep(min(1.0, self.session_timeout / 4))
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), self.session_timeout / 4)
            except asyncio.TimeoutError:
                pass

    def _watch(self, event: object) -> None:  # kazoo's thread: the members changed
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _step(self) -> None:
        if not self.client.connected:
            return
        member = self.member
        if member is None:
            member = await asyncio.to_thread(
                self.client.create, f"{self.election_path}/{MEMBER_PREFIX}", self._me.encode(),
                ephemeral=True, sequence=True)
            self.member = member
            log.info("joined the election as %s", member)
        assert member is not None
        children = await asyncio.to_thread(self.client.get_children, self.election_path, self._watch)
        if self.member != member:  # the session was lost or we abdicated meanwhile: look again
            self._wake.set()
            return
        members = sorted((c for c in children if c.startswith(MEMBER_PREFIX)), key=lambda c: c[len(MEMBER_PREFIX):])
        mine = member.rsplit("/", 1)[1]
        if mine not in members:  # our node is gone (session replaced): join again on the next round
            self.member = None
            self._end_term("member node vanished")
            self._wake.set()
            return
        first = members[0]
        if first != self._leading_member or self._leader is None:
            try:
                data, _ = await asyncio.to_thread(self.client.get, f"{self.election_path}/{first}")
            except NoNodeError:
                self._wake.set()
                return
            self._leading_member, self._leader = first, data.decode()
            self.leader_changes += 1  # metrics hook
            log.info("leader is %s (%s)", self._leader, first)
        if first == mine and self.member == member and (self.term is None or self.term.ended):
            self.term = LeaderTerm(member, self.session_timeout / 2, time.monotonic())
            log.info("elected leader")
            self.on_term(self.term)

    async def _renew(self) -> None:
        """Keeps the term's lease fresh: a round trip to ZooKeeper that proves the member node still exists."""
        while True:
            await asyncio.sleep(self.session_timeout / 6)
            term = self.term
            if term is None or term.ended:
                continue
            started = time.monotonic()
            try:
                exists = await asyncio.to_thread(self.client.exists, term.member_path)
            except KazooException as exc:
                log.warning("leader lease not renewed: %s", exc)
                continue
            if exists is None:
                self._end_term("member node is gone")
                self.member = None
                self._wake.set()
            else:
                term.confirm(started)
