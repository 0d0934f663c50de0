"""The Mesos protocol deadlines on a clock the test drives (``ManualClock``), so they are checked exactly.

The contract tests compare the same behaviour with the real recordings on real time, where a loaded machine
can only delay things; here the timing itself is the subject: heartbeats at exactly k x interval on the
stream-start clock, unacknowledged updates re-sent after 1, 2, 4... x the retry interval, an agent removed
exactly ``agent_ping_timeout x max_agent_ping_timeouts`` after it went away (what happens "at once" happens
with the clock standing still), a disconnected framework removed exactly at its failover timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.localmesos import transcripts as T
from tests.localmesos.conftest import ThreadedCluster
from tests.localmesos.manual_clock import ManualClock
from tests.polling import wait_for

HEARTBEAT = 1.0
RETRY = 2.0
PING, PINGS = 0.5, 2  # removal after exactly 1.0 s
EPS = 0.125  # a step short of a deadline (a binary fraction: the sums stay exact)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def live(start_cluster: Callable[..., ThreadedCluster], clock: ManualClock) -> ThreadedCluster:
    return start_cluster(2, clock=clock, heartbeat_interval=HEARTBEAT, agent_ping_timeout=PING,
                         max_agent_ping_timeouts=PINGS, status_update_retry_interval=RETRY)


def _advance(cluster: ThreadedCluster, clock: ManualClock, seconds: float) -> list[str]:
    """Moves the clock on the cluster's loop thread; the names of the callbacks that ran."""
    fired: list[str] = cluster.run(lambda: clock.advance(seconds))
    return fired


def _pending(cluster: ThreadedCluster, clock: ManualClock, name: str) -> list[float]:
    """When the pending timers running ``name`` are due, in seconds from now."""
    timers: list[tuple[float, str]] = cluster.run(clock.pending)
    return [due for due, callback in timers if callback == name]


def _count(stream: T.Stream, kind: str) -> int:
    return sum(1 for e in stream.events() if e["type"] == kind)


def test_heartbeats_at_exact_multiples_of_the_interval_on_the_stream_start_clock(
        live: ThreadedCluster, clock: ManualClock, schedulers: list[T.Scheduler]) -> None:
    sched = T.Scheduler(live.address, {"user": "root", "name": "beats"}, autoack=False)
    schedulers.append(sched)
    assert sched.stream.wait_type("HEARTBEAT") is not None
    assert [e["type"] for e in sched.stream.events()[:2]] == ["SUBSCRIBED", "HEARTBEAT"]  # the immediate one
    assert wait_for(lambda: _pending(live, clock, "beat"), what="the first heartbeat armed") == [HEARTBEAT]
    # Not a moment early: nothing until the full interval has passed, then exactly one.
    assert _advance(live, clock, HEARTBEAT - EPS) == []
    assert _advance(live, clock, EPS) == ["beat"]
    wait_for(lambda: _count(sched.stream, "HEARTBEAT") == 2, what="heartbeat 1 on the stream")
    # Events in between do not move the schedule: calls that make the master write OFFERS.
    assert _advance(live, clock, 0.5) == []
    sched.call({"type": "REVIVE", "framework_id": {"value": sched.fid}})
    assert _pending(live, clock, "beat") == [0.5]  # still due at start + 2 x interval
    # Ten intervals at once: ten heartbeats, each at its own multiple (the clock does not drift).
    fired = _advance(live, clock, 0.5 + 9 * HEARTBEAT)
    assert fired.count("beat") == 10
    assert _pending(live, clock, "beat") == [HEARTBEAT]
    wait_for(lambda: _count(sched.stream, "HEARTBEAT") == 12, what="heartbeats 2..11 on the stream")
    assert _count(sched.stream, "HEARTBEAT") == 12


def test_unacknowledged_update_retransmitted_with_doubling_backoff(
        live: ThreadedCluster, clock: ManualClock, schedulers: list[T.Scheduler]) -> None:
    sched = T.Scheduler(live.address, {"user": "root", "name": "noack"}, autoack=False)
    schedulers.append(sched)
    agent = live.cluster.agents[0].id
    assert sched.accept(sched.get_offer(agent), [T.command_task("gated", agent, "sleep 300")]).status == 202
    first = sched.wait_update("gated", "TASK_STARTING")
    assert first is not None

    def deliveries() -> list[dict[str, Any]]:
        return [e["update"]["status"] for e in sched.stream.events() if e["type"] == "UPDATE"
                and e["update"]["status"]["task_id"]["value"] == "gated"]

    for k in range(4):
        gap = RETRY * 2 ** k
        assert _pending(live, clock, "_forward_head") == [gap]
        assert "_forward_head" not in _advance(live, clock, gap - EPS)
        assert _advance(live, clock, EPS).count("_forward_head") == 1
        wait_for(lambda: len(deliveries()) == k + 2, what=f"retransmission {k + 1}")
    # The same update each time (same uuid); TASK_RUNNING waits behind it, however long the task runs.
    assert [s["state"] for s in deliveries()] == ["TASK_STARTING"] * 5
    assert {s["uuid"] for s in deliveries()} == {first.record["update"]["status"]["uuid"]}
    # Acknowledged: the backoff timer is gone and the next update goes out at once, with the clock standing.
    st = first.record["update"]["status"]
    assert sched.call({"type": "ACKNOWLEDGE", "framework_id": {"value": sched.fid}, "acknowledge": {
        "agent_id": st["agent_id"], "task_id": st["task_id"], "uuid": st["uuid"]}}).status == 202
    assert sched.wait_update("gated", "TASK_RUNNING") is not None
    assert _pending(live, clock, "_forward_head") == [RETRY]  # TASK_RUNNING's own first retry


def test_agent_removed_exactly_at_the_ping_timeout(live: ThreadedCluster, clock: ManualClock,
                                                   schedulers: list[T.Scheduler]) -> None:
    sched = T.Scheduler(live.address, {"user": "root", "name": "loss"})
    schedulers.append(sched)
    agent = live.cluster.agents[1].id
    assert sched.accept(sched.get_offer(agent), [T.command_task("doomed", agent, "sleep 300")]).status == 202
    assert sched.wait_update("doomed", "TASK_RUNNING") is not None
    live.call(live.cluster.stop_agent(1))
    # At once (the clock has not moved): TASK_LOST REASON_AGENT_DISCONNECTED, the removal armed for the timeout.
    lost = sched.wait_update("doomed", "TASK_LOST")
    assert lost is not None and lost.record["update"]["status"]["reason"] == "REASON_AGENT_DISCONNECTED"
    assert _pending(live, clock, "_mark_unreachable") == [PING * PINGS]
    assert _count(sched.stream, "FAILURE") == 0
    assert "_mark_unreachable" not in _advance(live, clock, PING * PINGS - EPS)
    assert _count(sched.stream, "FAILURE") == 0 and agent in live.run(lambda: list(live.master.agents))
    assert "_mark_unreachable" in _advance(live, clock, EPS)
    failure = sched.stream.wait(lambda e: e["type"] == "FAILURE")
    assert failure is not None and failure.record["failure"] == {"agent_id": {"value": agent}}
    assert agent in live.run(lambda: list(live.master.unreachable_agents))


def test_disconnected_framework_removed_exactly_at_its_failover_timeout(
        live: ThreadedCluster, clock: ManualClock) -> None:
    sched = T.Scheduler(live.address, {"user": "root", "name": "failover", "failover_timeout": 30.0})
    fid = sched.fid
    sched.close()  # the TCP connection drops

    def disconnected() -> bool:
        fw = live.master.frameworks.get(fid)
        return fw is not None and not fw.connected

    wait_for(lambda: live.run(disconnected), what="the master sees the framework disconnected")
    assert _pending(live, clock, "_failover_expired") == [30.0]
    assert "_failover_expired" not in _advance(live, clock, 30.0 - EPS)
    assert live.run(disconnected)
    assert "_failover_expired" in _advance(live, clock, EPS)
    assert live.run(lambda: fid not in live.master.frameworks and fid in live.master.removed_framework_ids)
