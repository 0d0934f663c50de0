"""API figures (issues 4 and 11): latency of the Marathon v2 read routes with many apps and tasks, and whether
reads hold up the scheduler.

Runs `mesospaas local-mesos --simulate true --agents N` and `mesospaas serve` in their own processes, creates
A apps of T tasks each (through `POST /v2/groups`, G apps per group, several groups at once: creation speed is
not a figure here), waits until the master counts every task RUNNING, then measures from this process:

- the FIRST render of each list route after a change (one app changes, then one GET: no cached response can
  answer it): `GET /v2/apps`, `GET /v2/apps?embed=apps.tasks`, `GET /v2/tasks`;
- warm renders (the same GETs again, nothing changed);
- `GET /v2/apps/{id}` p50/p99 over random apps, right after changes (each app's first render in a generation);
- a read storm: R concurrent clients loop over the list routes and single apps while a probe app scales from
  0 to P instances (so the state moves and the renders are real). Meanwhile: `GET /ping` latency (what any
  event the scheduler's loop handles waits: offers, status updates), the scheduler's own ACCEPT-to-RUNNING
  histogram (`mesospaas_task_launch_duration_seconds`; simulated tasks report RUNNING at once, so it is the
  offer/status handling latency), and the time from the scale-up's answer to all P RUNNING; the same without
  the storm for comparison;
- the scheduler process's RSS; POST latency and single-app GETs/s (issue 4's figures).

Prints figures (with the load average); asserts nothing.

Usage: .venv/bin/python benchmarks/api_bench.py --apps 10000 --tasks-per-app 10 --agents 1000
       .venv/bin/python benchmarks/api_bench.py --quick          (1,000 apps x 10, for iteration)
       add --profile FILE to run the scheduler under cProfile (written when it stops)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.localmesos_bench import start_cluster, stop_cluster  # noqa: E402

PROBE = "/bench-probe/scale"
CHANGED = "/bench-probe/changed"


def start_serve(master: str, work_dir: str, profile: str | None = None,
                cwd: str | None = None) -> tuple[subprocess.Popen[str], str]:
    """``mesospaas serve`` from the checkout in ``cwd`` (default: this one's working directory)."""
    runner = [sys.executable, "-m", "cProfile", "-o", profile] if profile else [sys.executable]
    proc = subprocess.Popen([*runner, "-m", "scheduler.cli", "serve", "--master", master, "--work-dir", work_dir,
                             "--http-port", "0", "--log-level", "WARNING",
                             # 10,000 apps of one service port each fill Marathon's default [10000, 20000)
                             "--local-port-max", "40000"], stdout=subprocess.PIPE, text=True,
                            cwd=cwd)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("mesospaas API: "):
        proc.kill()
        raise SystemExit(f"serve did not start: {line!r}")
    return proc, line.split(": ", 1)[1]


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def row(name: str, samples: list[float]) -> str:
    return (f"  {name:44s} p50 {pct(samples, 50):8.1f} ms   p99 {pct(samples, 99):8.1f} ms   max "
            f"{max(samples) * 1000:8.1f} ms  (n={len(samples)}, mean {statistics.mean(samples) * 1000:.1f} ms)")


async def get(session: aiohttp.ClientSession, url: str) -> float:
    t = time.perf_counter()
    async with session.get(url) as resp:
        await resp.read()
        assert resp.status < 300, (url, resp.status)
    return time.perf_counter() - t


async def master_running(session: aiohttp.ClientSession, master: str) -> int:
    async with session.get(f"http://{master}/metrics/snapshot") as resp:
        return int((await resp.json())["master/tasks_running"])


async def wait_running(session: aiohttp.ClientSession, master: str, count: int, timeout: float = 3600) -> None:
    deadline = time.perf_counter() + timeout
    while await master_running(session, master) < count:
        if time.perf_counter() > deadline:
            raise SystemExit(f"only {await master_running(session, master)} of {count} tasks RUNNING")
        await asyncio.sleep(0.5)


async def launch_histogram(session: aiohttp.ClientSession, api: str) -> tuple[float, float]:
    """(sum, count) of the scheduler's ACCEPT-to-RUNNING histogram."""
    async with session.get(f"{api}/metrics/prometheus") as resp:
        text = await resp.text()
    found = {m.group(1): float(m.group(2))
             for m in re.finditer(r"^mesospaas_task_launch_duration_seconds_(sum|count)\S* (\S+)$", text, re.M)}
    return found.get("sum", 0.0), found.get("count", 0.0)


async def change_one(session: aiohttp.ClientSession, api: str, n: int) -> None:
    async with session.put(f"{api}/v2/apps{CHANGED}?force=true", json={"cmd": f"sleep {100000 + n}", "instances": 0,
                                                             "cpus": 0.01, "mem": 8}) as resp:
        await resp.read()
        assert resp.status < 300, resp.status


async def populate(session: aiohttp.ClientSession, api: str, master: str, apps: int, per_app: int,
                   group_size: int) -> None:
    """One group after the other, each once the previous one's tasks all run (many large deployments at once
    only slow each other down)."""
    t0 = time.perf_counter()
    groups = (apps + group_size - 1) // group_size
    for g in range(groups):
        body = {"id": f"/bench/g{g:03d}", "apps": [
            {"id": f"/bench/g{g:03d}/app-{n:05d}", "cmd": "sleep 100000", "cpus": 0.01, "mem": 8,
             "instances": per_app} for n in range(g * group_size, min(apps, (g + 1) * group_size))]}
        async with session.post(f"{api}/v2/groups", json=body) as resp:
            assert resp.status == 201, await resp.text()
        await wait_running(session, master, min(apps, (g + 1) * group_size) * per_app)
        if g % 4 == 3 or g == groups - 1:
            print(f"  {min(apps, (g + 1) * group_size)} apps running after {time.perf_counter() - t0:.0f} s "
                  f"({load()})", flush=True)
    print(f"populated {apps} apps / {apps * per_app} tasks in {time.perf_counter() - t0:.1f} s  ({load()})")


def app_url(api: str, n: int, group_size: int) -> str:
    return f"{api}/v2/apps/bench/g{n // group_size:03d}/app-{n:05d}"


async def first_renders(session: aiohttp.ClientSession, api: str, rounds: int) -> None:
    print(f"first render after a change, and warm ({load()}):")
    counter = 0
    for route in ("/v2/apps", "/v2/apps?embed=apps.tasks", "/v2/tasks"):
        cold = await get(session, api + route)  # a served list was rendered before: what a change re-renders
        print(f"  GET {route} first ever (nothing rendered before): {cold * 1000:.0f} ms")
        fresh, warm = [], []
        for _ in range(rounds):
            counter += 1
            await change_one(session, api, counter)
            fresh.append(await get(session, api + route))
            warm.append(await get(session, api + route))
        print(row(f"GET {route} after a change", fresh))
        print(row(f"GET {route} warm", warm))


async def single_apps(session: aiohttp.ClientSession, api: str, apps: int, group_size: int, n: int) -> None:
    rng = random.Random(11)
    samples = []
    for i in range(n):
        if i % 50 == 0:
            await change_one(session, api, 10_000 + i)  # a new generation: the next GETs are renders
        samples.append(await get(session, app_url(api, rng.randrange(apps), group_size)))
    print(row("GET /v2/apps/{id} (random apps)", samples) + f"  ({load()})")


async def read_storm(session: aiohttp.ClientSession, api: str, apps: int, group_size: int, clients: int,
                     stop: asyncio.Event) -> str:
    """``clients`` readers in a loop until ``stop``: the first three on the list routes, the others on random
    single apps."""
    routes = ["/v2/apps?embed=apps.tasks", "/v2/apps", "/v2/tasks"]
    done = 0

    async def client(c: int) -> None:
        nonlocal done
        rng = random.Random(c)
        while not stop.is_set():
            url = api + routes[c] if c < len(routes) else app_url(api, rng.randrange(apps), group_size)
            await get(session, url)
            done += 1
    await asyncio.gather(*(client(c) for c in range(clients)))
    return f"{done} GETs by {clients} clients"


async def probe_launch(session: aiohttp.ClientSession, api: str, master: str, size: int, base: int,
                       storm: Callable[[asyncio.Event], Awaitable[str]] | None, label: str) -> None:
    """Scale the probe app 0 -> size while ``storm`` runs; report ping and launch latency, then scale back."""
    pings: list[float] = []
    stop = asyncio.Event()

    async def pinger() -> None:
        async with aiohttp.ClientSession() as own:  # its own connection: never queued behind the storm's
            while not stop.is_set():
                pings.append(await get(own, f"{api}/ping"))
                await asyncio.sleep(0.02)
    reads = asyncio.ensure_future(storm(stop)) if storm is not None else None
    ping = asyncio.ensure_future(pinger())
    await asyncio.sleep(3.0)  # the storm is under way
    sum0, count0 = await launch_histogram(session, api)
    t0 = time.perf_counter()
    async with session.put(f"{api}/v2/apps{PROBE}?force=true", json={"instances": size}) as resp:
        await resp.read()
        assert resp.status < 300, resp.status
    await wait_running(session, master, base + size)
    launched = time.perf_counter() - t0
    deadline = time.perf_counter() + 120
    while (counted := await launch_histogram(session, api))[1] < count0 + size and time.perf_counter() < deadline:
        await asyncio.sleep(0.2)  # the master counts them RUNNING before the scheduler has handled every update
    sum1, count1 = counted
    stop.set()
    await ping
    summary = await reads if reads is not None else None
    mean = (sum1 - sum0) / (count1 - count0) * 1000 if count1 > count0 else float("nan")
    print(f"  {label}: {size} probe tasks RUNNING {launched:.2f} s after the scale-up's answer; "
          f"scheduler's ACCEPT->RUNNING mean {mean:.0f} ms over {count1 - count0:.0f} tasks ({load()})")
    print(row(f"GET /ping, {label}", pings) + (f"  [{summary}]" if summary is not None else ""))
    async with session.put(f"{api}/v2/apps{PROBE}?force=true", json={"instances": 0}) as resp:
        await resp.read()
    while (await master_running(session, master)) > base:
        await asyncio.sleep(0.5)


async def measure(session: aiohttp.ClientSession, api: str, master: str, serve_pid: int, apps: int, per_app: int,
                  concurrency: int, group_size: int, storm_clients: int, probe: int, label: str) -> None:
    base = apps * per_app
    print(f"== {label}")
    print(f"scheduler RSS {rss_mb(serve_pid):.0f} MB with {apps} apps / {base} instances "
          f"({rss_mb(serve_pid) / (base / 10_000):.0f} MB per 10,000 instances, {load()})")
    await first_renders(session, api, 5)
    await single_apps(session, api, apps, group_size, 500)
    print(f"offer and status handling while the probe app scales 0 -> {probe}:")
    await probe_launch(session, api, master, probe, base, None, "no reads")
    await probe_launch(session, api, master, probe, base,
                       lambda stop: read_storm(session, api, apps, group_size, storm_clients, stop), "read storm")
    print(f"scheduler RSS {rss_mb(serve_pid):.0f} MB after the reads ({load()})")
    posts = []
    for i in range(100):
        body = {"id": f"/bench-new-{serve_pid}/app-{i:04d}", "cmd": "sleep 100000", "cpus": 0.01, "mem": 8,
                "instances": 0}
        t = time.perf_counter()
        async with session.post(f"{api}/v2/apps", json=body) as resp:
            await resp.read()
            assert resp.status == 201, resp.status
        posts.append(time.perf_counter() - t)
    print(row("POST /v2/apps (instances 0)", posts) + f"  ({load()})")
    count = 0
    deadline = time.perf_counter() + 10

    async def worker(w: int) -> None:
        nonlocal count
        i = w
        while time.perf_counter() < deadline:
            async with session.get(app_url(api, i % apps, group_size)) as resp:
                await resp.read()
            count += 1
            i += concurrency
    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    print(f"  single-app GETs from one process, {concurrency} connections: "
          f"{count / (time.perf_counter() - start):,.0f} requests/s ({load()})")


async def taken_over(session: aiohttp.ClientSession, api: str, apps: int, per_app: int, group_size: int) -> None:
    """The new scheduler serves the loaded state: no deployment left and the last app's tasks all running."""
    while True:
        try:
            async with session.get(f"{api}/v2/deployments") as resp:
                pending = await resp.json() if resp.status == 200 else [None]
            async with session.get(app_url(api, apps - 1, group_size)) as resp:
                running = (await resp.json())["app"]["tasksRunning"] if resp.status == 200 else -1
            if not pending and running == per_app:
                return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(1)


async def run(apps: int, per_app: int, agents: int, concurrency: int, group_size: int, storm_clients: int,
              probe: int, profile: str | None, then_code: str | None) -> None:
    cluster, master = start_cluster("--simulate", "true", "--agents", str(agents))
    work = tempfile.mkdtemp()
    serve: subprocess.Popen[str] | None = None
    try:
        serve, api = start_serve(master, work, profile)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency + storm_clients),
                                         timeout=aiohttp.ClientTimeout(total=600)) as session:
            await populate(session, api, master, apps, per_app, group_size)
            for app_id, instances in ((CHANGED, 0), (PROBE, 0)):
                async with session.post(f"{api}/v2/apps", json={"id": app_id, "cmd": "sleep 100000", "cpus": 0.01,
                                                                "mem": 8, "instances": instances}) as resp:
                    assert resp.status == 201, await resp.text()
            await measure(session, api, master, serve.pid, apps, per_app, concurrency, group_size, storm_clients,
                          probe, f"scheduler from {os.getcwd()}")
            if then_code is not None:
                stop_cluster(serve)  # terminate, then kill after 60 s: fits a scheduler too
                serve = None
                t0 = time.perf_counter()
                serve, api = start_serve(master, work, profile and profile + ".then", cwd=then_code)
                await taken_over(session, api, apps, per_app, group_size)
                print(f"scheduler from {then_code} took over the state and serves after "
                      f"{time.perf_counter() - t0:.1f} s ({load()})")
                await asyncio.sleep(5)
                await measure(session, api, master, serve.pid, apps, per_app, concurrency, group_size,
                              storm_clients, probe, f"scheduler from {then_code}")
    finally:
        if serve is not None:
            stop_cluster(serve)  # terminate, then kill after 60 s: fits a scheduler too
        stop_cluster(cluster)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=10_000)
    parser.add_argument("--tasks-per-app", type=int, default=10)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--group-size", type=int, default=500, help="apps per POST /v2/groups")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--storm-clients", type=int, default=8, help="concurrent readers during the read storm")
    parser.add_argument("--probe", type=int, default=500, help="instances the probe app scales to")
    parser.add_argument("--quick", action="store_true", help="1,000 apps x 10 on 200 agents")
    parser.add_argument("--profile", help="run the scheduler under cProfile, stats written to this file")
    parser.add_argument("--then-code", help="after the figures, a scheduler from this checkout takes over the same "
                        "state and cluster (failover) and the figures are taken again: before/after on one "
                        "population")
    args = parser.parse_args()
    if args.quick:
        args.apps, args.agents, args.probe = 1000, 200, 200
    print(f"api_bench: {args.apps} apps x {args.tasks_per_app} on {args.agents} simulated agents ({load()})")
    asyncio.run(run(args.apps, args.tasks_per_app, args.agents, args.concurrency, args.group_size,
                    args.storm_clients, args.probe, args.profile, args.then_code))


if __name__ == "__main__":
    main()
