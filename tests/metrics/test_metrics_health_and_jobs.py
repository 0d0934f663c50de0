"""The meters of health checks and jobs, on a scheduler running real tasks on localmesos: HTTP checks the
leader runs (``health_task.py`` servers that fail once told to), the unhealthy task killed, and a job run
started and finished."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from tests.integration.test_health_checks import health_app, leader_check
from tests.metrics.scrape import Samples, parse, value
from tests.metrics.test_metrics_api import scrape
from tests.polling import eventually


async def test_health_checks_and_kills_are_counted(served: TestServer, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    async with aiohttp.ClientSession() as http:
        body = health_app("/checked", markers, leader_check())
        async with http.post(served.make_url("/v2/apps"), json=body) as resp:
            assert resp.status == 201, await resp.text()

        async def healthy_task() -> str | None:
            async with http.get(served.make_url("/v2/apps/checked/tasks")) as resp:
                tasks = (await resp.json())["tasks"]
            alive = [t["id"] for t in tasks
                     if t.get("healthCheckResults") and all(r["alive"] for r in t["healthCheckResults"])]
            return alive[0] if alive else None
        task = await eventually(healthy_task, 60, "a healthy task")

    async def counted_healthy() -> Samples | None:  # the app series follow the state a moment later
        got = parse(await scrape(served))
        return got if value(got, "mesospaas_app_instances_healthy", app="/checked") is not None else None
    samples = await eventually(counted_healthy, 60, "the healthy instance counted")
    assert value(samples, "mesospaas_app_instances_healthy", app="/checked") == 1
    assert (value(samples, "mesospaas_health_checks_total", result="passed") or 0) >= 1
    (markers / task).touch()  # the task answers 500 from now on: 2 failures and it is killed

    async def killed() -> Samples | None:
        got = parse(await scrape(served))
        return got if (value(got, "mesospaas_health_kills_total") or 0) >= 1 else None
    samples = await eventually(killed, 60, "the unhealthy task killed")
    assert (value(samples, "mesospaas_health_checks_total", result="failed") or 0) >= 2


async def test_job_runs_are_counted_by_outcome(served: TestServer) -> None:
    async with aiohttp.ClientSession() as http:
        job = {"id": "counted", "run": {"cmd": "true", "cpus": 0.1, "mem": 32, "disk": 0}}
        async with http.post(served.make_url("/v1/jobs"), json=job) as resp:
            assert resp.status == 201, await resp.text()
        async with http.post(served.make_url("/v1/jobs/counted/runs")) as resp:
            assert resp.status == 201, await resp.text()

    async def finished() -> Samples | None:
        got = parse(await scrape(served))
        return got if value(got, "mesospaas_job_runs_finished_total", outcome="success") == 1 else None
    samples = await eventually(finished, 60, "the run counted as a success")
    assert value(samples, "mesospaas_jobs") == 1
    assert value(samples, "mesospaas_job_runs_active", status="ACTIVE") == 0
    assert value(samples, "mesospaas_job_runs_finished_total", outcome="failed") == 0
