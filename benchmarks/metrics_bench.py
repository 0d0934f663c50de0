"""Metrics and UI figures (issue 14): the cost of a scrape at scale, its effect on offer handling, and the time
for the web UI to show every app.

Runs `mesospaas local-mesos --simulate true` and `mesospaas serve --metrics-max-apps A` in their own processes,
creates A apps of T tasks each through the API and waits until every task is RUNNING. Then, from this process:

1. one scrape of `GET /metrics/prometheus` (text), the same with OpenMetrics, and `GET /metrics` (Dropwizard
   JSON): time (p50 / p99 of N scrapes) and size in bytes; and, in this process, the part of a scrape that
   holds the scheduler's event loop (reading the state of a runtime holding as many apps and instances:
   `StateCollector.freeze`; the text is then written in a worker thread);
2. offer handling with and without a scrape every second: each phase scales L apps up by one instance (L new
   tasks placed from offers) and measures the time until they all run, and the placement-round latency the
   scheduler itself recorded during the phase (from `mesospaas_placement_duration_seconds`);
3. the web UI in headless Chromium (`tests/ui/cdp.py`): the time from navigation until the page has rendered all
   A apps (the page's own `performance.now()` at the end of its render), and the time for a scale made through
   the API to show on the page (through `/v2/events`).

Prints figures; asserts nothing. Usage:
    .venv/bin/python benchmarks/metrics_bench.py --apps 1000 --tasks-per-app 10 --agents 1000
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.localmesos_bench import start_cluster, stop_cluster  # noqa: E402
from tests.metrics.scrape import parse, value  # noqa: E402
from tests.ui.cdp import Browser  # noqa: E402


def start_serve(master: str, work_dir: str, max_apps: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "serve", "--master", master, "--work-dir", work_dir,
                             "--http-port", "0", "--log-level", "WARNING", "--metrics-max-apps", str(max_apps),
                             "--decline-offer-duration", "1"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("mesospaas API: "):
        proc.kill()
        raise SystemExit(f"serve did not start: {line!r}")
    return proc, line.split(": ", 1)[1]


def freeze_cost(apps: int, per_app: int, max_apps: int, rounds: int = 20) -> None:
    """The loop-held part of a scrape: the scrape-time gauges over a runtime's state of that size."""
    from mesospaas.model import AppId, AppSpec, Condition, Instance, InstanceId
    from mesospaas.model.ids import AppVersion
    from scheduler.metrics import Metrics
    from scheduler.runtime import RuntimeSettings, SchedulerRuntime
    from scheduler.store import LocalDirectoryStore
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalDirectoryStore(Path(tmp))
        metrics = Metrics(max_apps=max_apps)
        runtime = SchedulerRuntime(store, RuntimeSettings(seed=1), metrics=metrics)
        metrics.sources.platform = lambda: runtime
        for a in range(apps):
            app = AppSpec(id=AppId(f"/bench/app-{a:04d}"), cmd="sleep 1", instances=per_app,
                          version=AppVersion("2026-01-01T00:00:00.000Z"))
            runtime.state.apps[app.id] = app
            for i in range(per_app):
                iid = InstanceId(f"bench_app-{a:04d}.instance-{a:08d}-0000-4000-8000-{i:012d}")
                runtime.state.instances[iid] = Instance(iid, app.id, app.version, condition=Condition.RUNNING,
                                                         incarnation=1, healthy=True)
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            metrics.state.freeze()
            times.append(time.perf_counter() - started)
            metrics.state.thaw()
        store.close()
    print(f"  loop-held part of a scrape ({apps} apps, {apps * per_app} instances, in process)"
          f"  p50 {ms(times, 50):6.1f} ms  p99 {ms(times, 99):6.1f} ms")


def ms(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


async def running_count(session: aiohttp.ClientSession, api: str) -> int:
    async with session.get(f"{api}/metrics/prometheus") as resp:
        samples = parse(await resp.text())
    return int(sum(v for (name, labels), v in samples.items()
                   if name == "mesospaas_app_instances" and dict(labels).get("condition") == "Running"))


async def placement(session: aiohttp.ClientSession, api: str) -> tuple[float, float]:
    async with session.get(f"{api}/metrics/prometheus") as resp:
        samples = parse(await resp.text())
    return (value(samples, "mesospaas_placement_duration_seconds_sum") or 0.0,
            value(samples, "mesospaas_placement_duration_seconds_count") or 0.0)


async def scrape_costs(session: aiohttp.ClientSession, api: str, n: int) -> None:
    for path, accept, name in (("/metrics/prometheus", None, "GET /metrics/prometheus (text 0.0.4)"),
                               ("/metrics/prometheus", "application/openmetrics-text", "  ... OpenMetrics"),
                               ("/metrics", None, "GET /metrics (Dropwizard JSON)")):
        times, size = [], 0
        for _ in range(n):
            started = time.perf_counter()
            async with session.get(f"{api}{path}", headers={"Accept": accept} if accept else {}) as resp:
                body = await resp.read()
            times.append(time.perf_counter() - started)
            size = len(body)
        print(f"  {name:40s} p50 {ms(times, 50):7.1f} ms  p99 {ms(times, 99):7.1f} ms  {size:>10,} bytes")


async def scale_phase(session: aiohttp.ClientSession, api: str, apps: list[str], per_app: int, scraped: bool
                      ) -> tuple[float, float, int]:
    """Scales each app in ``apps`` up by one; returns (seconds until all run, mean placement round ms, scrapes).
    Completion is read from ``GET /v2/deployments`` (a scale deployment ends when its tasks run), not from a
    scrape, so the unscraped phase has no scrape in it."""
    before_sum, before_count = await placement(session, api)
    scrapes = 0
    stop = asyncio.Event()

    async def scraper() -> None:
        nonlocal scrapes
        while not stop.is_set():
            async with session.get(f"{api}/metrics/prometheus") as resp:
                await resp.read()
            scrapes += 1
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except asyncio.TimeoutError:
                pass
    background = asyncio.get_running_loop().create_task(scraper()) if scraped else None
    started = time.perf_counter()
    sem = asyncio.Semaphore(16)

    async def scale(app: str) -> None:
        async with sem:
            async with session.put(f"{api}/v2/apps{app}", json={"instances": per_app + 1}) as resp:
                assert resp.status == 200, await resp.text()
    await asyncio.gather(*(scale(a) for a in apps))
    await deployments_done(session, api)
    elapsed = time.perf_counter() - started
    stop.set()
    if background is not None:
        await background
    after_sum, after_count = await placement(session, api)
    rounds = after_count - before_count
    mean = (after_sum - before_sum) / rounds * 1000 if rounds else 0.0
    # back to where it was, for the next phase
    await asyncio.gather(*(_scale_to(session, api, a, per_app, sem) for a in apps))
    await deployments_done(session, api)
    return elapsed, mean, scrapes


async def deployments_done(session: aiohttp.ClientSession, api: str) -> None:
    while True:
        async with session.get(f"{api}/v2/deployments") as resp:
            if not await resp.json():
                return
        await asyncio.sleep(0.1)


async def _scale_to(session: aiohttp.ClientSession, api: str, app: str, n: int, sem: asyncio.Semaphore) -> None:
    async with sem:
        async with session.put(f"{api}/v2/apps{app}", json={"instances": n}) as resp:
            assert resp.status == 200, await resp.text()


async def ui_figures(api: str, apps: int, first_app: str, per_app: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        browser = await Browser.start(Path(tmp))
        try:
            page = await browser.new_page()
            started = time.perf_counter()
            await page.navigate(f"{api}/ui/")
            while True:
                rendered = await page.evaluate("window.mesospaasRendered || null")
                if rendered and rendered["apps"] >= apps:
                    break
                await asyncio.sleep(0.05)
            wall = time.perf_counter() - started
            nav = await page.evaluate("performance.getEntriesByType('navigation')[0].startTime")
            print(f"  UI shows {rendered['apps']} apps: {(rendered['at'] - nav) / 1000:.2f} s after navigation "
                  f"(page clock), {wall:.2f} s seen from the driver")
            selector = f"tbody[data-app=\"{first_app}\"] td.instances"
            async with aiohttp.ClientSession() as session:
                started = time.perf_counter()
                async with session.put(f"{api}/v2/apps{first_app}", json={"instances": per_app + 1}) as resp:
                    assert resp.status == 200
                while await page.evaluate(f"document.querySelector('{selector}').textContent") != str(per_app + 1):
                    await asyncio.sleep(0.02)
                print(f"  a scale through the API shows on the page after {time.perf_counter() - started:.2f} s "
                      "(event, coalescing, re-fetch of every app, render)")
                await deployments_done(session, api)  # the scale's deployment ends before it is undone
                async with session.put(f"{api}/v2/apps{first_app}", json={"instances": per_app}) as resp:
                    assert resp.status == 200, await resp.text()
            if page.problems:
                print(f"  page problems: {page.problems[:3]}")
        finally:
            await browser.stop()


async def run(apps: int, per_app: int, agents: int, max_apps: int, scrapes: int, launch_apps: int) -> None:
    cluster, master = start_cluster("--simulate", "true", "--agents", str(agents))
    work = tempfile.mkdtemp()
    serve: subprocess.Popen[str] | None = None
    try:
        serve, api = start_serve(master, work, max_apps)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as session:
            t0 = time.perf_counter()
            sem = asyncio.Semaphore(32)
            ids = [f"/bench/app-{n:04d}" for n in range(apps)]

            async def create(app: str) -> None:
                async with sem:
                    body = {"id": app, "cmd": "sleep 100000", "cpus": 0.01, "mem": 8, "instances": per_app}
                    async with session.post(f"{api}/v2/apps", json=body) as resp:
                        assert resp.status == 201, await resp.text()
            await asyncio.gather(*(create(a) for a in ids))
            while await running_count(session, api) < apps * per_app:
                await asyncio.sleep(1)
            print(f"populated {apps} apps / {apps * per_app} tasks in {time.perf_counter() - t0:.1f} s "
                  f"(--metrics-max-apps {max_apps})")
            print(f"scrape cost ({scrapes} scrapes each):")
            await scrape_costs(session, api, scrapes)
            freeze_cost(apps, per_app, max_apps)
            print(f"offer handling: scale {launch_apps} apps up by one instance ({launch_apps} tasks from offers):")
            for scraped in (False, True, False, True):
                elapsed, mean, count = await scale_phase(session, api, ids[:launch_apps], per_app, scraped)
                label = f"scraped every second ({count} scrapes)" if scraped else "not scraped"
                print(f"  {label:36s} all running after {elapsed:6.2f} s, placement round mean {mean:6.2f} ms")
            print("web UI (headless Chromium):")
            await ui_figures(api, apps, ids[0], per_app)
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
    parser.add_argument("--metrics-max-apps", type=int, default=1000)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--launch-apps", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args.apps, args.tasks_per_app, args.agents, args.metrics_max_apps, args.scrapes,
                    args.launch_apps))


if __name__ == "__main__":
    main()
