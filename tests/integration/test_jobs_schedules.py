"""Scheduled jobs on localmesos with a clock the test controls: cron firing across a DST change, FORBID,
REPLACE, and a restart of the scheduler on the same store (no duplicate task for a run, no second start of
a trigger, a disabled schedule stays disabled). Real task processes; the clock only moves when the test
says so, so nothing waits for minutes."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tests.integration.test_jobs_on_localmesos import JobsCluster, ManualClock, finished, job, poll
from tests.localmesos.conftest import ThreadedCluster

START = datetime(2026, 3, 8, 6, 58, 30, tzinfo=timezone.utc).timestamp()
"""01:58:30 EST in New York, 30 minutes before clocks there jump from 02:00 to 03:00."""


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


async def runs_of(cluster: JobsCluster, job_id: str) -> list[dict[str, Any]]:
    body = await cluster.job(job_id)
    h = body["history"]
    return [*body["activeRuns"], *h["successfulFinishedRuns"], *h["failedFinishedRuns"]]


async def test_cron_fires_at_the_first_instant_after_a_dst_gap(mesos: ThreadedCluster, tmp_path: Path) -> None:
    clock = ManualClock(START)
    cluster = JobsCluster(mesos, tmp_path / "state", clock=clock)
    await cluster.start()
    try:
        spec = {**job("nightly", "true"), "schedules": [{"id": "at-0230", "cron": "30 2 * * *",
                                                        "timezone": "America/New_York"}]}
        status, body = await cluster.call("POST", "/v1/jobs", spec)
        assert status == 201, body
        # 02:30 does not exist on 2026-03-08 in New York: the first valid instant after the gap is 03:00 EDT.
        assert body["schedules"][0]["nextRunAt"] == "2026-03-08T07:00:00.000+0000"
        clock.now = utc("2026-03-08T06:59:59")
        await cluster.call("POST", "/v1/jobs/nightly/runs")  # a manual run, to know ticks went by
        await finished(cluster, "nightly", successes=1)
        assert len(await runs_of(cluster, "nightly")) == 1  # not due yet
        clock.now = utc("2026-03-08T07:00:01")

        async def two() -> bool:
            return (await cluster.job("nightly"))["history"]["successCount"] == 2
        await poll(two)
        body = await cluster.job("nightly", "history")
        assert body["history"]["successfulFinishedRuns"][0]["createdAt"] == "2026-03-08T07:00:01.000+0000"
        assert body["schedules"][0]["nextRunAt"] == "2026-03-09T06:30:00.000+0000"  # 02:30 EDT the next day
    finally:
        await cluster.stop()


async def test_forbid_skips_an_overlapping_trigger_and_manual_runs_ignore_it(mesos: ThreadedCluster,
                                                                            tmp_path: Path) -> None:
    clock = ManualClock(START)
    cluster = JobsCluster(mesos, tmp_path / "state", clock=clock)
    await cluster.start()
    assert cluster.runtime is not None
    skipped = cluster.runtime.events.subscribe(["job_trigger_skipped"])
    everything = cluster.runtime.events.subscribe()
    try:
        spec = {**job("report", "sleep 600"), "schedules": [{"id": "minutely", "cron": "* * * * *",
                                                             "concurrencyPolicy": "FORBID"}]}
        assert (await cluster.call("POST", "/v1/jobs", spec))[0] == 201
        clock.now = utc("2026-03-08T06:59:00")

        async def active_runs(n: int) -> list[dict[str, Any]] | None:
            runs = (await cluster.job("report"))["activeRuns"]
            return runs if len(runs) == n and all(r["status"] == "ACTIVE" for r in runs) else None
        first = (await poll(lambda: active_runs(1)))[0]
        clock.now = utc("2026-03-08T07:00:00")
        event = await poll(lambda: _next(skipped))
        assert event["jobId"] == "report" and event["scheduleId"] == "minutely" and "FORBID" in event["reason"]
        assert [r["id"] for r in (await cluster.job("report"))["activeRuns"]] == [first["id"]]
        status, manual = await cluster.call("POST", "/v1/jobs/report/runs")  # manual: the policy does not apply
        assert status == 201
        await poll(lambda: active_runs(2))
        while not everything.queue.empty():  # an unfiltered subscriber never gets job events
            assert not everything.queue.get_nowait()["eventType"].startswith("job_")  # type: ignore[index]
    finally:
        skipped.close()
        everything.close()
        await cluster.stop()


async def _next(subscription: Any) -> Any:
    return subscription.queue.get_nowait() if not subscription.queue.empty() else None


async def test_replace_stops_the_active_run_then_starts_the_new_one(mesos: ThreadedCluster, tmp_path: Path) -> None:
    clock = ManualClock(START)
    cluster = JobsCluster(mesos, tmp_path / "state", clock=clock)
    await cluster.start()
    try:
        spec = {**job("refresh", "sleep 600"), "schedules": [{"id": "minutely", "cron": "* * * * *",
                                                              "concurrencyPolicy": "REPLACE"}]}
        assert (await cluster.call("POST", "/v1/jobs", spec))[0] == 201
        clock.now = utc("2026-03-08T06:59:00")

        async def active() -> dict[str, Any] | None:
            runs = (await cluster.job("refresh"))["activeRuns"]
            return runs[0] if len(runs) == 1 and runs[0]["status"] == "ACTIVE" else None
        old = await poll(active)
        clock.now = utc("2026-03-08T07:00:00")

        async def replaced() -> dict[str, Any] | None:
            new = await active()
            return new if new is not None and new["id"] != old["id"] else None
        new = await poll(replaced)
        failed = (await cluster.job("refresh"))["history"]["failedFinishedRuns"]
        assert [(r["id"], r["reason"]) for r in failed] == [(old["id"], "replaced")]
        assert [t["state"] for t in cluster.mesos_tasks(f"refresh_{old['id']}")] == ["TASK_KILLED"]
        assert [t["state"] for t in cluster.mesos_tasks(f"refresh_{new['id']}")] == ["TASK_RUNNING"]
    finally:
        await cluster.stop()


async def test_restart_mid_run_keeps_the_run_and_its_only_task(mesos: ThreadedCluster, tmp_path: Path) -> None:
    """Scheduler restart on the same store: the run started by a trigger before the restart is neither lost,
    nor relaunched, nor started again for the same trigger; a disabled schedule stays disabled."""
    clock = ManualClock(START)
    cluster = JobsCluster(mesos, tmp_path / "state", clock=clock)
    await cluster.start()
    try:
        spec = {**job("batch", "sleep 600"), "schedules": [{"id": "minutely", "cron": "* * * * *"}]}
        assert (await cluster.call("POST", "/v1/jobs", spec))[0] == 201
        off = {**job("paused", "true"), "schedules": [{"id": "minutely", "cron": "* * * * *", "enabled": False}]}
        assert (await cluster.call("POST", "/v1/jobs", off))[0] == 201
        clock.now = utc("2026-03-08T06:59:00")

        async def active(n: int) -> list[dict[str, Any]] | None:
            runs = (await cluster.job("batch"))["activeRuns"]
            return runs if len(runs) == n and all(r["status"] == "ACTIVE" for r in runs) else None
        first = (await poll(lambda: active(1)))[0]
        await cluster.stop()
        seen = cluster.events.subscribe(["job_run_initial", "job_trigger_skipped"])
        await cluster.start()  # a new runtime on the same store (a new leader)
        clock.now = utc("2026-03-08T07:00:00")  # the next minute: one more run, and only one
        runs = await poll(lambda: active(2))
        assert runs[0]["id"] == first["id"]
        events = []
        while not seen.queue.empty():
            events.append(seen.queue.get_nowait())
        seen.close()
        # The 06:59 trigger was acted on before the restart: neither started again nor skipped as "missed".
        assert [(e["eventType"], e.get("runId")) for e in events if e is not None] == \
            [("job_run_initial", runs[1]["id"])]
        assert len(cluster.mesos_tasks(f"batch_{first['id']}")) == 1  # no second task for the run
        assert all(len(cluster.mesos_tasks(f"batch_{r['id']}")) == 1 for r in runs)
        assert await runs_of(cluster, "paused") == []
        status, schedules = await cluster.call("GET", "/v1/jobs/paused/schedules")
        assert status == 200 and schedules[0]["enabled"] is False and "nextRunAt" not in schedules[0]
    finally:
        await cluster.stop()
