"""API figures (issue 4): latency and throughput of the Marathon v2 API with many apps and tasks.

Runs `mesospaas local-mesos --simulate true --agents N` and `mesospaas serve` in their own processes, creates
A apps of T tasks each through the API, waits until every task is RUNNING, then measures from this process:
p50/p99 of GET /v2/apps, GET /v2/apps?embed=apps.tasks, GET /v2/apps/{id}, POST /v2/apps, and GET requests per
second (single-app GETs with C concurrent connections). Prints figures; asserts nothing.

Usage: .venv/bin/python benchmarks/api_bench.py --apps 1000 --tasks-per-app 10 --agents 1000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.localmesos_bench import start_cluster, stop_cluster  # noqa: E402


def start_serve(master: str, work_dir: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "serve", "--master", master, "--work-dir", work_dir,
                             "--http-port", "0", "--log-level", "WARNING"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("mesospaas API: "):
        proc.kill()
        raise SystemExit(f"serve did not start: {line!r}")
    return proc, line.split(": ", 1)[1]


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


async def timed(session: aiohttp.ClientSession, method: str, url: str, n: int, modulo: int = 1) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        async with session.request(method, url.format(i=i % modulo)) as resp:
            await resp.read()
            assert resp.status < 300, (url, resp.status)
        out.append(time.perf_counter() - t)
    return out


async def run(apps: int, per_app: int, agents: int, concurrency: int) -> None:
    cluster, master = start_cluster("--simulate", "true", "--agents", str(agents))
    work = tempfile.mkdtemp()
    serve: subprocess.Popen[str] | None = None
    try:
        serve, api = start_serve(master, work)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
            t0 = time.perf_counter()
            sem = asyncio.Semaphore(32)

            async def create(n: int) -> None:
                async with sem:
                    body = {"id": f"/bench/app-{n:04d}", "cmd": "sleep 100000", "cpus": 0.01, "mem": 8,
                            "instances": per_app}
                    async with session.post(f"{api}/v2/apps", json=body) as resp:
                        assert resp.status == 201, await resp.text()
            await asyncio.gather(*(create(n) for n in range(apps)))
            created = time.perf_counter()
            while True:
                async with session.get(f"{api}/v2/tasks?status=running") as resp:
                    running = len((await resp.json())["tasks"])
                if running >= apps * per_app:
                    break
                await asyncio.sleep(1)
            ready = time.perf_counter()
            print(f"populated {apps} apps / {apps * per_app} tasks: POSTs took {created - t0:.1f} s, "
                  f"all RUNNING after {ready - t0:.1f} s")
            rows = [("GET /v2/apps", await timed(session, "GET", f"{api}/v2/apps", 20)),
                    ("GET /v2/apps?embed=apps.tasks", await timed(session, "GET", f"{api}/v2/apps?embed=apps.tasks", 20)),
                    ("GET /v2/apps/{id}", await timed(session, "GET", f"{api}/v2/apps/bench/app-{{i:04d}}", 500, apps)),
                    ]
            posts = []
            for i in range(200):
                body = {"id": f"/bench/new-{i:04d}", "cmd": "sleep 100000", "cpus": 0.01, "mem": 8, "instances": 0}
                t = time.perf_counter()
                async with session.post(f"{api}/v2/apps", json=body) as resp:
                    await resp.read()
                    assert resp.status == 201
                posts.append(time.perf_counter() - t)
            rows.append(("POST /v2/apps", posts))
            # Lists right after a change: the response cache is void, so these are renders, not cache hits.
            for url, name in ((f"{api}/v2/apps", "GET /v2/apps after a change"),
                              (f"{api}/v2/apps?embed=apps.tasks", "GET ?embed=apps.tasks after a change")):
                fresh = []
                for i in range(20):
                    async with session.put(f"{api}/v2/apps/bench/new-{i:04d}", json={"instances": 0,
                                                                                    "cmd": f"sleep {i}"}) as resp:
                        await resp.read()
                        assert resp.status < 300, resp.status
                    fresh += await timed(session, "GET", url, 1)
                rows.append((name, fresh))
            for name, samples in rows:
                print(f"  {name:32s} p50 {pct(samples, 50):7.1f} ms   p99 {pct(samples, 99):7.1f} ms   "
                      f"(n={len(samples)}, mean {statistics.mean(samples) * 1000:.1f} ms)")
            count = 0
            deadline = time.perf_counter() + 10

            async def worker(w: int) -> None:
                nonlocal count
                i = w
                while time.perf_counter() < deadline:
                    async with session.get(f"{api}/v2/apps/bench/app-{i % apps:04d}") as resp:
                        await resp.read()
                    count += 1
                    i += concurrency
            start = time.perf_counter()
            await asyncio.gather(*(worker(w) for w in range(concurrency)))
            print(f"  single-app GETs from one process, {concurrency} connections: "
                  f"{count / (time.perf_counter() - start):,.0f} requests/s")
    finally:
        if serve is not None:
            serve.terminate()
            serve.wait(60)
        stop_cluster(cluster)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--tasks-per-app", type=int, default=10)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(run(args.apps, args.tasks_per_app, args.agents, args.concurrency))


if __name__ == "__main__":
    main()
