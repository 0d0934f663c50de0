"""Batch jobs figures. Prints figures; asserts nothing.

1. Latency: time from ``POST /v1/jobs/{id}/runs`` (real HTTP to the API) to the run's task reporting
   TASK_RUNNING, on an idle localmesos cluster in process mode (real task processes), ``--samples`` times.
2. Throughput: ``--jobs`` jobs of ``exit 0`` on ``--agents`` simulated agents, one run each started through the
   API at once; runs per second from the first POST until every run is in its job's history (SUCCESS).

Usage: .venv/bin/python benchmarks/jobs_bench.py --samples 20 --jobs 1000 --agents 50
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import ApiConfig, build_api_app  # noqa: E402
from benchmarks.localmesos_bench import start_cluster, stop_cluster  # noqa: E402
from mesospaas.jobs.spec import JobId  # noqa: E402
from scheduler.runtime import RuntimeSettings, SchedulerRuntime  # noqa: E402
from scheduler.store import LocalDirectoryStore  # noqa: E402


async def serve(address: str, state: str) -> tuple[SchedulerRuntime, LocalDirectoryStore, web.AppRunner, str]:
    store = LocalDirectoryStore(Path(state))
    runtime = SchedulerRuntime(store, RuntimeSettings(master=address, seed=1, tick_interval=0.5,
                                                      decline_refuse_seconds=1.0))
    await runtime.start()
    await asyncio.wait_for(runtime.subscribed.wait(), 60)
    runner = web.AppRunner(build_api_app(runtime, runtime.events, ApiConfig(master=address)), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runtime, store, runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def close(runtime: SchedulerRuntime, store: LocalDirectoryStore, runner: web.AppRunner) -> None:
    await runner.cleanup()
    await runtime.stop()
    store.close()


def job_body(job_id: str, cmd: str) -> dict[str, object]:
    return {"id": job_id, "run": {"cmd": cmd, "cpus": 0.01, "mem": 32, "disk": 0}}


async def latency(samples: int) -> None:
    proc, address = start_cluster("--agents", "2")
    try:
        with tempfile.TemporaryDirectory() as state:
            runtime, store, runner, url = await serve(address, state)
            try:
                async with aiohttp.ClientSession() as http:
                    await (await http.post(f"{url}/v1/jobs", json=job_body("latency", "sleep 30"))).release()
                    times = []
                    for _ in range(samples):
                        t0 = time.perf_counter()
                        async with http.post(f"{url}/v1/jobs/latency/runs") as response:
                            run = await response.json()
                        while True:
                            state_ = runtime.jobs.get(JobId("latency"))
                            current = state_.run(run["id"]) if state_ is not None else None
                            task = current.current_task if current is not None else None
                            if task is not None and task.status == "TASK_RUNNING":
                                break
                            await asyncio.sleep(0.002)
                        times.append(time.perf_counter() - t0)
                        await (await http.post(f"{url}/v1/jobs/latency/runs/{run['id']}/actions/stop")).release()
                times.sort()
                print(f"latency: POST .../runs -> TASK_RUNNING, idle cluster (process mode), {samples} runs: "
                      f"median {statistics.median(times) * 1000:.0f} ms, p90 {times[int(len(times) * 0.9) - 1] * 1000:.0f} ms, "
                      f"min {times[0] * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms")
            finally:
                await close(runtime, store, runner)
    finally:
        stop_cluster(proc)


async def throughput(jobs: int, agents: int) -> None:
    proc, address = start_cluster("--simulate", "true", "--agents", str(agents))
    try:
        with tempfile.TemporaryDirectory() as state:
            runtime, store, runner, url = await serve(address, state)
            try:
                connector = aiohttp.TCPConnector(limit=50)
                async with aiohttp.ClientSession(connector=connector) as http:
                    ids = [f"bench.job-{n}" for n in range(jobs)]

                    async def create(job_id: str) -> None:
                        async with http.post(f"{url}/v1/jobs", json=job_body(job_id, "exit 0")) as response:
                            assert response.status == 201, await response.text()
                    t_create = time.perf_counter()
                    await asyncio.gather(*(create(j) for j in ids))
                    t0 = time.perf_counter()

                    async def start(job_id: str) -> None:
                        async with http.post(f"{url}/v1/jobs/{job_id}/runs") as response:
                            assert response.status == 201, await response.text()
                    await asyncio.gather(*(start(j) for j in ids))
                    t_posted = time.perf_counter()
                    while True:
                        done = sum(1 for s in runtime.jobs.jobs.values() if s.history.success_count >= 1)
                        if done >= jobs:
                            break
                        await asyncio.sleep(0.01)
                    t1 = time.perf_counter()
                    async with http.get(f"{url}/v1/jobs/{ids[0]}?embed=history") as response:
                        kept = (await response.json())["history"]["successfulFinishedRuns"]
                print(f"throughput: {jobs} jobs (exit 0) on {agents} simulated agents: all SUCCESS in {t1 - t0:.2f} s "
                      f"= {jobs / (t1 - t0):,.0f} runs/s (POSTs took {t_posted - t0:.2f} s; creating the jobs "
                      f"{t0 - t_create:.2f} s); history kept ({len(kept)} entry per job); "
                      f"offer rounds {runtime.stats.rounds}, status updates {runtime.stats.status_updates}")
            finally:
                await close(runtime, store, runner)
    finally:
        stop_cluster(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(latency(args.samples))
    asyncio.run(throughput(args.jobs, args.agents))


if __name__ == "__main__":
    main()
