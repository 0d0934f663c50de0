"""Status updates are reliable as in Mesos: retried until acknowledged, one in flight per task."""

from __future__ import annotations

from typing import Any, Callable

from tests.polling import wait_for

from .conftest import ThreadedCluster
from .manual_clock import ManualClock
from .test_pymesos_scheduler import RecordingScheduler, task_info, driver_factory  # noqa: F401


def test_unacknowledged_update_is_retried_and_blocks_the_next(
        start_cluster: Callable[..., ThreadedCluster], driver_factory: Any) -> None:
    clock = ManualClock()  # the retransmission deadlines move only when the test says so
    fast_retries = start_cluster(1, clock=clock, status_update_retry_interval=0.5)
    sched = RecordingScheduler(auto_ack=False)
    driver = driver_factory(sched, on=fast_retries)
    offer = sched.offers.get(timeout=10)
    driver.launchTasks(offer["id"], [task_info(offer, "gated", "sleep 0.3")])
    first = sched.status_of("gated", "TASK_STARTING")

    def delivered() -> int:
        return sum(1 for kind, e in sched.events if kind == "status" and e["task_id"]["value"] == "gated")

    # Re-sent with the same uuid 0.5 s later, then 1 s after that (exponential backoff), never earlier.
    for n, gap in ((2, 0.5), (3, 1.0)):
        assert "_forward_head" not in fast_retries.run(lambda: clock.advance(gap - 0.125))
        assert fast_retries.run(lambda: clock.advance(0.125)).count("_forward_head") == 1
        wait_for(lambda: delivered() >= n, what=f"delivery {n}")
    statuses = [e for k, e in sched.events if k == "status" and e["task_id"]["value"] == "gated"]
    assert [s["state"] for s in statuses[:3]] == ["TASK_STARTING"] * 3
    assert {s["uuid"] for s in statuses[:3]} == {first["uuid"]}
    # The task has long finished on the agent, yet nothing later was delivered while STARTING is unacked.
    driver.acknowledgeStatusUpdate(first)
    running = sched.status_of("gated", "TASK_RUNNING", timeout=30)
    driver.acknowledgeStatusUpdate(running)
    finished = sched.status_of("gated", "TASK_FINISHED", timeout=30)
    driver.acknowledgeStatusUpdate(finished)


def test_master_generated_updates_have_no_uuid(cluster: ThreadedCluster, driver_factory: Any) -> None:
    sched = RecordingScheduler(auto_ack=False)
    driver = driver_factory(sched)
    offer = sched.offers.get(timeout=10)
    driver.launchTasks(offer["id"], [task_info(offer, "too-big", "true", cpus=100)])
    error = sched.status_of("too-big", "TASK_ERROR")
    assert "uuid" not in error and error["source"] == "SOURCE_MASTER" and error["reason"] == "REASON_TASK_INVALID"
    assert error["message"].startswith("Total resources cpus(allocated: *):100; mem(allocated: *):32 required by "
                                       "task and its executor is more than available ")
    driver.launchTasks(offer["id"], [task_info(offer, "stale", "true")])
    lost = sched.status_of("stale", "TASK_LOST")
    assert lost["reason"] == "REASON_INVALID_OFFERS" and "uuid" not in lost
    assert lost["message"] == f"Task launched with invalid offers: Offer {offer['id']['value']} is no longer valid"


def test_terminal_ack_removes_task_from_master(cluster: ThreadedCluster, driver_factory: Any) -> None:
    sched = RecordingScheduler(auto_ack=True)
    driver = driver_factory(sched)
    offer = sched.offers.get(timeout=10)
    driver.launchTasks(offer["id"], [task_info(offer, "quick", "true")])
    sched.status_of("quick", "TASK_FINISHED")
    fw_id = driver.framework_id

    def where() -> tuple[bool, bool]:
        fw = cluster.master.frameworks[fw_id]
        return "quick" in fw.tasks, any(t.task_id == "quick" for t in fw.completed_tasks)

    wait_for(lambda: cluster.run(where) == (False, True), what="the acknowledged task completed in the master")
    # A finished, acknowledged task is unknown to explicit reconciliation (surprise 19).
    driver.reconcileTasks([{"task_id": {"value": "quick"}}])
    answer = sched.wait_for(lambda k, p: k == "status" and p.get("reason") == "REASON_RECONCILIATION")[1]
    assert (answer["state"], answer["message"]) == ("TASK_LOST", "Reconciliation: Task is unknown")
