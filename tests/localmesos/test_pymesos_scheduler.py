"""pymesos's real MesosSchedulerDriver, unmodified, against localmesos."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable

import pytest
from pymesos import MesosSchedulerDriver, Scheduler

from tests.polling import wait_for

from .conftest import ThreadedCluster


class RecordingScheduler(Scheduler):  # type: ignore[misc]
    """Records every callback; tests wait for the one they expect."""

    def __init__(self, auto_ack: bool = True) -> None:
        self.events: list[tuple[str, Any]] = []
        self.cond = threading.Condition()
        self.auto_ack = auto_ack
        self.offers: "queue.Queue[dict[str, Any]]" = queue.Queue()

    def _add(self, kind: str, payload: Any) -> None:
        with self.cond:
            self.events.append((kind, payload))
            self.cond.notify_all()

    def registered(self, driver: Any, framework_id: Any, master_info: Any) -> None:
        self._add("registered", framework_id["value"])

    def reregistered(self, driver: Any, master_info: Any) -> None:
        self._add("reregistered", master_info)

    def resourceOffers(self, driver: Any, offers: Any) -> None:
        for offer in offers:
            self.offers.put(offer)
        self._add("offers", offers)

    def offerRescinded(self, driver: Any, offer_id: Any) -> None:
        self._add("rescinded", offer_id)

    def statusUpdate(self, driver: Any, status: Any) -> None:
        self._add("status", status)
        if self.auto_ack and "uuid" in status:
            driver.acknowledgeStatusUpdate(status)

    def error(self, driver: Any, message: str) -> None:
        self._add("error", message)

    def slaveLost(self, driver: Any, agent_id: Any) -> None:
        self._add("agent_lost", agent_id)

    def wait_for(self, pred: Callable[[str, Any], bool], timeout: float = 20.0) -> tuple[str, Any]:
        deadline = time.monotonic() + timeout
        seen = 0
        with self.cond:
            while True:
                for kind, payload in self.events[seen:]:
                    if pred(kind, payload):
                        return kind, payload
                seen = len(self.events)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out; events: {[e[0] for e in self.events]}")
                self.cond.wait(left)

    def status_of(self, task_id: str, state: str, timeout: float = 20.0) -> dict[str, Any]:
        _, status = self.wait_for(lambda k, p: k == "status" and p["task_id"]["value"] == task_id
                                  and p["state"] == state, timeout)
        return status


def task_info(offer: dict[str, Any], task_id: str, command: str, cpus: float = 0.1, mem: float = 32) -> dict[str, Any]:
    return {"name": task_id, "task_id": {"value": task_id}, "agent_id": offer["agent_id"],
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
                          {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}],
            "command": {"value": command}}


@pytest.fixture
def driver_factory(request: pytest.FixtureRequest) -> Any:
    """Starts pymesos scheduler drivers against ``on`` (default: the ``cluster`` fixture) and stops them."""
    drivers: list[Any] = []

    def make(sched: RecordingScheduler, framework: dict[str, Any] | None = None,
             on: ThreadedCluster | None = None) -> Any:
        target = on if on is not None else request.getfixturevalue("cluster")
        info = framework or {"user": "root", "name": "pymesos-test"}
        driver = MesosSchedulerDriver(sched, info, target.address, implicit_acknowledgements=False, failover=True)
        driver.start()
        drivers.append(driver)
        return driver

    yield make
    for driver in drivers:
        driver.stop(failover=True)
        driver.join()


def test_launch_runs_and_finishes(cluster: ThreadedCluster, driver_factory: Any) -> None:
    sched = RecordingScheduler()
    driver = driver_factory(sched)
    sched.wait_for(lambda k, p: k == "registered")
    offer = sched.offers.get(timeout=10)
    driver.launchTasks(offer["id"], [task_info(offer, "t1", "echo hello; sleep 0.5")])
    starting = sched.status_of("t1", "TASK_STARTING")
    running = sched.status_of("t1", "TASK_RUNNING")
    finished = sched.status_of("t1", "TASK_FINISHED")
    assert starting["source"] == "SOURCE_EXECUTOR" and "uuid" in starting
    assert running["executor_id"] == {"value": "t1"}
    assert running["agent_id"] == offer["agent_id"]
    assert finished["message"] == "Command exited with status 0"
    assert finished["container_status"]["network_infos"][0]["ip_addresses"][0]["ip_address"] == offer["hostname"]


def test_kill_and_reconcile(cluster: ThreadedCluster, driver_factory: Any) -> None:
    sched = RecordingScheduler()
    driver = driver_factory(sched)
    offer = sched.offers.get(timeout=10)
    driver.launchTasks(offer["id"], [task_info(offer, "sleeper", "sleep 60")])
    sched.status_of("sleeper", "TASK_RUNNING")
    driver.reconcileTasks([{"task_id": {"value": "sleeper"}}, {"task_id": {"value": "ghost"}}])
    answer = sched.wait_for(lambda k, p: k == "status" and p.get("reason") == "REASON_RECONCILIATION"
                            and p["task_id"]["value"] == "sleeper")[1]
    assert answer["state"] == "TASK_RUNNING" and "uuid" not in answer and "executor_id" not in answer
    ghost = sched.wait_for(lambda k, p: k == "status" and p["task_id"]["value"] == "ghost")[1]
    assert (ghost["state"], ghost["message"]) == ("TASK_LOST", "Reconciliation: Task is unknown")
    driver.killTask({"value": "sleeper"})
    killed = sched.status_of("sleeper", "TASK_KILLED")
    assert killed["message"] == "Command terminated with signal Terminated"


def test_failover_keeps_tasks(cluster: ThreadedCluster, driver_factory: Any) -> None:
    sched = RecordingScheduler()
    driver = driver_factory(sched, {"user": "root", "name": "fo", "failover_timeout": 60})
    framework_id = sched.wait_for(lambda k, p: k == "registered")[1]
    offer = sched.offers.get(timeout=10)
    driver.launchTasks(offer["id"], [task_info(offer, "survivor", "sleep 60")])
    sched.status_of("survivor", "TASK_RUNNING")
    driver.stop(failover=True)
    driver.join()
    fw = cluster.run(lambda: cluster.master.frameworks[framework_id])
    wait_for(lambda: cluster.run(lambda: not fw.connected), what="the master to see the driver gone")
    assert (fw.connected, fw.active) == (False, False)
    assert fw.tasks["survivor"].state == "TASK_RUNNING"

    sched2 = RecordingScheduler()
    driver_factory(sched2, {"user": "root", "name": "fo", "failover_timeout": 60, "id": {"value": framework_id}})
    # pymesos calls reregistered (not registered) when the FrameworkInfo already carries an id.
    sched2.wait_for(lambda k, p: k == "reregistered")
    sched2.offers.get(timeout=10)
    assert cluster.run(lambda: cluster.master.frameworks[framework_id].tasks["survivor"].state) == "TASK_RUNNING"
