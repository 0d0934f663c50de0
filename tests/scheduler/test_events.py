"""The event bus: filtering, keep-alives, and closing subscribers that fall behind."""

from __future__ import annotations

from scheduler.events import MARATHON_EVENT_TYPES, EventBus, iso_timestamp


async def test_filter_and_order() -> None:
    bus = EventBus()
    only_status = bus.subscribe(["status_update_event"])
    everything = bus.subscribe()
    bus.publish("api_post_event", now=0.0, uri="/v2/apps")
    bus.publish("status_update_event", now=1.5, taskId="t")
    got = []
    async for event in only_status.events(keepalive=0.05):
        if event is None:
            break
        got.append(event)
    assert [(e["eventType"], e["timestamp"]) for e in got] == [("status_update_event", "1970-01-01T00:00:01.500Z")]
    assert everything.queue.qsize() == 2
    only_status.close()
    everything.close()
    assert bus.subscribers == 0


async def test_slow_subscriber_is_closed_not_the_publisher() -> None:
    bus = EventBus(max_outstanding=3)
    slow = bus.subscribe()
    for n in range(10):
        bus.publish("status_update_event", taskId=str(n))  # never blocks
    assert slow.overflowed and bus.subscribers == 0
    received = [e async for e in slow.events(keepalive=1)]
    assert received == []  # the stream ends; the client reconnects and re-reads state


def test_timestamp_format() -> None:
    assert iso_timestamp(1795345166.778) == "2026-11-22T10:59:26.778Z"


async def test_types_of_our_own_reach_only_subscribers_that_name_them() -> None:
    bus = EventBus()
    everything = bus.subscribe()
    jobs = bus.subscribe(["job_run_success"])
    assert bus.wants("job_run_success")
    bus.publish("job_run_success", 1.0, jobId="a.b")
    bus.publish("deployment_info", 2.0)
    assert everything.queue.qsize() == 1 and everything.queue.get_nowait()["eventType"] == "deployment_info"
    assert jobs.queue.qsize() == 1 and jobs.queue.get_nowait()["eventType"] == "job_run_success"
    jobs.close()
    assert not bus.wants("job_run_success") and bus.wants("status_update_event")
    assert "job_run_success" not in MARATHON_EVENT_TYPES
