"""A leader term fences pymesos' (re-)SUBSCRIBE (``scheduler.fenced_subscribe``), on a real localmesos master.

The driver is mesospaas' ``MesosDriver`` with a real ``LeaderTerm`` as its gate: with a stale lease (a process
that woke from a freeze) the SUBSCRIBE is held and the master sees no framework; a renewed lease lets it
through; an ended term never subscribes and the driver still stops. The master's ``/master/state`` is the
witness: nothing the fence holds can reach it."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from scheduler.fenced_subscribe import FencedSchedulerDriver, Verdict
from scheduler.ha import LeaderTerm
from scheduler.mesos_driver import FrameworkSettings, MesosDriver, MesosEvent, Subscribed
from tests.localmesos.conftest import ThreadedCluster, start_cluster  # noqa: F401
from tests.polling import wait_for


def frameworks(cluster: ThreadedCluster) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{cluster.url}/master/state", timeout=10) as resp:
        state: dict[str, Any] = json.loads(resp.read())
    return list(state["frameworks"]) + list(state.get("completed_frameworks", []))


def stale_term() -> LeaderTerm:
    return LeaderTerm("/mesospaas/leader/member_0000000001", lease_seconds=1.0,
                      confirmed_at=time.monotonic() - 60.0)  # as a leader finds its lease on waking from a freeze


async def held_driver(cluster: ThreadedCluster, term: LeaderTerm) -> tuple[MesosDriver, list[MesosEvent]]:
    events: list[MesosEvent] = []
    driver = MesosDriver(cluster.address, FrameworkSettings(name="fenced"), None, events.append,
                         asyncio.get_running_loop(), term)
    assert isinstance(driver._driver, FencedSchedulerDriver)
    await driver.start()
    await asyncio.to_thread(wait_for, lambda: driver._driver.held_subscriptions == 1, 30, "the SUBSCRIBE held")
    return driver, events


def test_the_verdict_follows_the_term() -> None:
    term = stale_term()
    assert term.verdict() is Verdict.WAIT
    term.confirm(time.monotonic())
    assert term.verdict() is Verdict.ACT
    term.suspended = True
    assert term.verdict() is Verdict.WAIT
    term.suspended = False
    term.end()
    assert term.verdict() is Verdict.NEVER


async def test_a_stale_lease_holds_the_subscription_until_it_is_renewed(
        start_cluster: Callable[..., ThreadedCluster]) -> None:  # noqa: F811
    cluster = start_cluster(1)
    term = stale_term()
    driver, events = await held_driver(cluster, term)
    try:
        assert frameworks(cluster) == []  # held on pymesos' thread: nothing was sent
        term.confirm(time.monotonic())  # the lease renewed: this instance still leads
        await asyncio.to_thread(wait_for, lambda: len(frameworks(cluster)) == 1, 30, "the framework subscribed")
        await asyncio.to_thread(wait_for, lambda: any(isinstance(e, Subscribed) for e in events), 30,
                                "SUBSCRIBED delivered")
    finally:
        await driver.stop()


async def test_an_ended_term_never_subscribes_and_the_driver_still_stops(
        start_cluster: Callable[..., ThreadedCluster]) -> None:  # noqa: F811
    cluster = start_cluster(1)
    term = stale_term()
    driver, events = await held_driver(cluster, term)
    term.end()  # the session expired while frozen: another instance leads
    await driver.stop()
    assert frameworks(cluster) == [] and not any(isinstance(e, Subscribed) for e in events)


async def test_a_fresh_term_subscribes_at_once(start_cluster: Callable[..., ThreadedCluster]) -> None:  # noqa: F811
    cluster = start_cluster(1)
    term = LeaderTerm("/mesospaas/leader/member_0000000002", lease_seconds=30.0, confirmed_at=time.monotonic())
    events: list[MesosEvent] = []
    driver = MesosDriver(cluster.address, FrameworkSettings(name="fresh"), None, events.append,
                         asyncio.get_running_loop(), term)
    await driver.start()
    try:
        await asyncio.to_thread(wait_for, lambda: len(frameworks(cluster)) == 1, 30, "the framework subscribed")
        assert driver._driver.held_subscriptions == 0
    finally:
        await driver.stop()
