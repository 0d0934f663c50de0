"""The Metronome API's contract on a real cluster: status codes, bodies, validation (422 format, unknown
fields, id patterns, cron validity incl. impossible dates, startingDeadlineSeconds >= 60), schedules,
``/v1/queue`` with reject diagnostics, ``/v0/scheduled-jobs``, and job events on ``/v2/events`` only for
subscribers that name them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from tests.integration.test_jobs_on_localmesos import JobsCluster, finished, job, jobs, poll  # noqa: F401


@pytest.mark.parametrize("body, path", [
    ({**job("a", "true"), "bogus": 1}, "/bogus"),
    ({"id": "a", "run": {"cmd": "true", "cpus": 0.1, "mem": 32, "disk": 0, "extra": True}}, "/run/extra"),
    (job("Bad_Id", "true"), "/id"),
    (job("a..b", "true"), "/id"),
    ({"id": "a", "run": {"cmd": "true", "cpus": 0.1, "disk": 0}}, "/run/mem"),
    (job("a", "true", mem=16), "/run/mem"),
    ({"id": "a", "run": {"cpus": 0.1, "mem": 32, "disk": 0}}, "/run"),
    (job("a", "true", restart={"policy": "SOMETIMES"}), "/run/restart/policy"),
    ({**job("a", "true"), "schedules": [{"id": "x", "cron": "0 0 30 2 *"}]}, "/schedules(0)/cron"),
    ({**job("a", "true"), "schedules": [{"id": "x", "cron": "0 0 31 4 *"}]}, "/schedules(0)/cron"),
    ({**job("a", "true"), "schedules": [{"id": "x", "cron": "* * * * *", "startingDeadlineSeconds": 59}]},
     "/schedules(0)/startingDeadlineSeconds"),
    ({**job("a", "true"), "schedules": [{"id": "-x", "cron": "* * * * *"}]}, "/schedules(0)/id"),
    ({**job("a", "true"), "schedules": [{"id": "xy", "cron": "* * * * *", "timezone": "Mars/Olympus"}]},
     "/schedules(0)/timezone"),
    ({**job("a", "true"), "schedules": [{"id": "xy", "cron": "* * * * *", "when": "now"}]},
     "/schedules(0)/when"),
])
async def test_invalid_jobs_get_metronome_422s_and_change_nothing(jobs: JobsCluster, body: dict[str, Any],  # noqa: F811
                                                                  path: str) -> None:
    status, answer = await jobs.call("POST", "/v1/jobs", body)
    assert status == 422, answer
    assert answer["message"] == "Object is not valid" and path in [d["path"] for d in answer["details"]], answer
    assert all(d["errors"] for d in answer["details"])
    assert (await jobs.call("GET", "/v1/jobs"))[1] == []


async def test_job_crud_status_codes_and_bodies(jobs: JobsCluster) -> None:  # noqa: F811
    spec = {**job("prod.example.app", "sleep 600"), "description": "d", "labels": {"owner": "zeus"},
            "schedules": [{"id": "nightly", "cron": "0 3 * * *", "timezone": "Europe/Berlin"}]}
    status, created = await jobs.call("POST", "/v1/jobs", spec)
    assert status == 201 and created["id"] == "prod.example.app" and created["labels"] == {"owner": "zeus"}
    schedule = created["schedules"][0]
    assert schedule["startingDeadlineSeconds"] == 900 and schedule["concurrencyPolicy"] == "ALLOW"
    assert schedule["enabled"] is True and schedule["nextRunAt"].endswith(":00:00.000+0000")
    assert "activeRuns" not in created and "history" not in created
    assert (await jobs.call("POST", "/v1/jobs", spec)) == (409, {"message": "Job with this id already exists"})
    assert (await jobs.call("GET", "/v1/jobs/nope")) == (404, {"id": "nope", "message": "Job not found"})
    # PUT keeps the schedules (the body's are ignored) and round-trips what GET answers.
    status, read = await jobs.call("GET", "/v1/jobs/prod.example.app")
    changed = {**read, "description": "changed", "schedules": []}
    status, replaced = await jobs.call("PUT", "/v1/jobs/prod.example.app", changed)
    assert status == 200 and replaced["description"] == "changed"
    assert [s["id"] for s in replaced["schedules"]] == ["nightly"]
    # Schedules: one per job.
    extra = {"id": "hourly", "cron": "0 * * * *"}
    status, body = await jobs.call("POST", "/v1/jobs/prod.example.app/schedules", extra)
    assert status == 409 and body["message"] == "Only one schedule supported at the moment"
    status, body = await jobs.call("PUT", "/v1/jobs/prod.example.app/schedules/nightly",
                                   {"id": "nightly", "cron": "0 4 * * *", "enabled": False})
    assert status == 200 and body["enabled"] is False and "nextRunAt" not in body
    assert (await jobs.call("GET", "/v1/jobs/prod.example.app/schedules/zzz"))[0] == 404
    assert (await jobs.call("DELETE", "/v1/jobs/prod.example.app/schedules/nightly"))[0] == 200
    assert (await jobs.call("GET", "/v1/jobs/prod.example.app/schedules")) == (200, [])
    status, run = await jobs.call("POST", "/v1/jobs/prod.example.app/runs")
    assert status == 201
    async def active() -> bool:
        return (await jobs.call("GET", f"/v1/jobs/prod.example.app/runs/{run['id']}"))[1]["status"] == "ACTIVE"
    await poll(active)
    status, body = await jobs.call("GET", "/v1/jobs/prod.example.app/runs/20200101000000xxxxx")
    assert status == 404 and body == {"jobSpec": "prod.example.app", "id": "20200101000000xxxxx",
                                      "message": "Job Run not found"}
    status, body = await jobs.call("DELETE", "/v1/jobs/prod.example.app")
    assert status == 409 and body["message"] == "There are active job runs. Override with stopCurrentJobRuns=true"
    status, deleted = await jobs.call("DELETE", "/v1/jobs/prod.example.app?stopCurrentJobRuns=true")
    assert status == 200 and deleted["id"] == "prod.example.app"
    assert (await jobs.call("GET", "/v1/jobs/prod.example.app"))[0] == 404

    async def killed() -> bool:
        return [t["state"] for t in jobs.mesos_tasks(f"prod.example.app_{run['id']}")] == ["TASK_KILLED"]
    await poll(killed)


async def test_scheduled_jobs_v0_and_embeds(jobs: JobsCluster) -> None:  # noqa: F811
    spec = {**job("v0.job", "true"), "schedules": [{"id": "every", "cron": "*/5 * * * *"}]}
    status, created = await jobs.call("POST", "/v0/scheduled-jobs", spec)
    assert status == 201 and created["schedules"][0]["id"] == "every"
    replaced = {**spec, "schedules": [{"id": "other", "cron": "0 0 * * 1#2"}]}
    status, body = await jobs.call("PUT", "/v0/scheduled-jobs/v0.job", replaced)
    assert status == 200 and [s["id"] for s in body["schedules"]] == ["other"]
    await jobs.call("POST", "/v1/jobs/v0.job/runs")
    await finished(jobs, "v0.job", successes=1)
    status, body = await jobs.call("GET", "/v1/jobs?embed=historySummary&embed=activeRuns")
    assert status == 200 and body[0]["historySummary"]["successCount"] == 1 and body[0]["activeRuns"] == []
    assert "history" not in body[0]
    assert (await jobs.call("GET", "/v1/jobs/v0.job?embed=nonsense"))[0] == 422


async def test_queue_explains_a_run_no_offer_fits(jobs: JobsCluster) -> None:  # noqa: F811
    assert (await jobs.call("POST", "/v1/jobs", job("huge", "true", cpus=64)))[0] == 201
    status, run = await jobs.call("POST", "/v1/jobs/huge/runs")

    async def explained() -> list[Any] | None:
        status, body = await jobs.call("GET", "/v1/queue")
        return body if body and "processedOffersSummary" in body[0] else None
    body = await poll(explained)
    assert body[0]["jobId"] == "huge" and body[0]["runs"] == [{"runId": run["id"]}]
    summary = body[0]["processedOffersSummary"]
    assert summary["processedOffersCount"] >= 1
    assert any(line["reason"] == "InsufficientCpus" and line["declined"] >= 1
               for line in summary["rejectSummaryLastOffers"]), summary
    status, queue = await jobs.call("GET", "/v2/queue")
    assert status == 200 and queue == {"queue": []}  # jobs are not apps


async def sse(jobs: JobsCluster, query: str, into: list[dict[str, Any]], ready: asyncio.Event) -> None:
    assert jobs.server is not None and jobs.http is not None
    async with jobs.http.get(str(jobs.server.make_url("/v2/events" + query)),
                             headers={"Accept": "text/event-stream"}) as response:
        ready.set()
        async for line in response.content:
            if line.startswith(b"data: "):
                into.append(json.loads(line[6:]))


async def test_job_events_reach_only_subscribers_that_name_them(jobs: JobsCluster) -> None:  # noqa: F811
    named: list[dict[str, Any]] = []
    unfiltered: list[dict[str, Any]] = []
    ready_a, ready_b = asyncio.Event(), asyncio.Event()
    readers = [asyncio.create_task(sse(jobs, "?event_type=job_run_initial,job_run_starting,job_run_active,"
                                             "job_run_success,status_update_event", named, ready_a)),
               asyncio.create_task(sse(jobs, "", unfiltered, ready_b))]
    try:
        await asyncio.wait_for(asyncio.gather(ready_a.wait(), ready_b.wait()), 10)
        await poll(lambda: _true(jobs.runtime is not None and jobs.runtime.events.subscribers == 2))
        assert (await jobs.call("POST", "/v1/jobs", job("evented", "true")))[0] == 201
        status, run = await jobs.call("POST", "/v1/jobs/evented/runs")

        async def done() -> bool:
            return any(e["eventType"] == "job_run_success" for e in named)
        await poll(done)
        kinds = [e["eventType"] for e in named if e["eventType"].startswith("job_")]
        assert kinds == ["job_run_initial", "job_run_starting", "job_run_active", "job_run_success"]
        assert all(e["jobId"] == "evented" and e["runId"] == run["id"] for e in named if e["eventType"] in kinds)
        success = next(e for e in named if e["eventType"] == "job_run_success")
        assert success["previousStatus"] == "ACTIVE" and success["trigger"] == "manual"
        assert not any(e["eventType"].startswith("job_") for e in unfiltered)
        assert any(e["eventType"] == "event_stream_attached" for e in unfiltered)
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


async def _true(value: bool) -> bool:
    return value
