"""Write figures (issue 11): app creations per second and POST latency through an HA leader on ZooKeeper.

Starts Debian's ZooKeeper on a free port, `mesospaas local-mesos --simulate true --agents N` and one
`mesospaas serve --zk` (the leader), then C concurrent clients POST apps of I instances each (so launches and
status updates compete with the writes, as in a real cluster). Optionally first creates P apps (``--preload``)
so the latency is measured at that many apps. Prints, per phase:

- creations/s (API acknowledgements, each a 201 answered after its ZooKeeper transaction committed);
- POST p50 / p99 / max;
- tasks RUNNING at the end of the phase and how long after the last 201 every instance was RUNNING;
- the load average over the run (``os.getloadavg``) and the leader's RSS.

Usage: .venv/bin/python benchmarks/write_bench.py --apps 2000 --concurrency 32 --instances 5 --agents 500
       .venv/bin/python benchmarks/write_bench.py --preload 9000 --apps 1000 ...   (figures at 10,000 apps)
       .venv/bin/python benchmarks/write_bench.py --preload-groups 10000 --apps 500 ...   (10,000 idle apps first)
Asserts nothing; prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.ha_bench import Serve, app, call, rss_mb, wait_for  # noqa: E402
from benchmarks.localmesos_bench import start_cluster, stop_cluster  # noqa: E402
from tests.zookeeper_server import ZooKeeperServer  # noqa: E402


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def create(url: str, prefix: str, count: int, instances: int, concurrency: int) -> tuple[float, list[float]]:
    """Creates ``count`` apps with ``concurrency`` clients; (seconds, latencies)."""
    latencies: list[float] = []
    todo = iter(range(count))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def client() -> None:
            for n in todo:
                started = time.perf_counter()
                async with session.post(f"{url}/v2/apps", json=app(f"{prefix}/app{n:05d}", instances)) as resp:
                    body = await resp.read()
                    if resp.status != 201:
                        raise SystemExit(f"POST answered {resp.status}: {body[:300]!r}")
                latencies.append(time.perf_counter() - started)
        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return time.perf_counter() - t0, latencies


def running_count(url: str) -> int:
    status, body = call("GET", f"{url}/v2/tasks?status=running", timeout=60)
    return len(body["tasks"]) if status == 200 else -1


def preload_groups(serve: Serve, count: int, instances: int) -> None:
    """``count`` apps of ``instances`` put as groups of 100 apps (one PUT /v2/groups each), then waited for."""
    started = time.perf_counter()
    for first in range(0, count, 100):
        # no service ports: 10,000 apps would use up the whole default service port range [10000, 20000)
        apps = [{**app(f"/pre/g{first // 100:04d}/app{n:05d}", instances), "portDefinitions": []}
                for n in range(first, min(count, first + 100))]
        status, body = call("PUT", f"{serve.url}/v2/groups/pre/g{first // 100:04d}",
                            {"id": f"/pre/g{first // 100:04d}", "apps": apps}, timeout=120)
        if status not in (200, 201):
            raise SystemExit(f"PUT /v2/groups answered {status}: {str(body)[:300]}")
    if instances:
        wait_for(lambda: running_count(serve.url) >= count * instances, timeout=1800, interval=1.0)
    print(f"preloaded {count} apps of {instances} instances as groups of 100 in {time.perf_counter() - started:.1f} s; "
          f"leader RSS {rss_mb(serve.proc.pid):.0f} MB", flush=True)


def phase(serve: Serve, name: str, prefix: str, args: argparse.Namespace, count: int) -> None:
    before = running_count(serve.url)
    load_before = os.getloadavg()[0]
    elapsed, latencies = asyncio.run(create(serve.url, prefix, count, args.instances, args.concurrency))
    acked = time.monotonic()
    want = before + count * args.instances
    wait_for(lambda: running_count(serve.url) >= want, timeout=600, interval=0.5)
    all_running = time.monotonic() - acked
    print(f"{name}: {count} apps of {args.instances} in {elapsed:.1f} s = {count / elapsed:.0f} creations/s "
          f"({args.concurrency} clients); POST p50 {pct(latencies, 0.5) * 1000:.0f} ms, "
          f"p99 {pct(latencies, 0.99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms; every instance RUNNING "
          f"{all_running:.1f} s after the last 201 ({want} tasks); load average {load_before:.2f} -> "
          f"{os.getloadavg()[0]:.2f}; leader RSS {rss_mb(serve.proc.pid):.0f} MB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=2000, help="apps created in the measured phase")
    parser.add_argument("--preload", type=int, default=0, help="apps created first (measured as their own phase)")
    parser.add_argument("--instances", type=int, default=5, help="instances per app")
    parser.add_argument("--preload-groups", type=int, default=0,
                        help="apps put first as groups of 100 (fast; with --preload-instances each)")
    parser.add_argument("--preload-instances", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--agents", type=int, default=500)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    with ZooKeeperServer(work / "zk") as zk:
        cluster, master = start_cluster("--simulate", "true", "--agents", str(args.agents),
                                        "--resources", "cpus:64;mem:262144;disk:100000;ports:[31000-32000]")
        serve: Serve | None = None
        try:
            serve = Serve(master, f"zk://{zk.hosts}/mesospaas", work, "leader", 10)
            wait_for(lambda: serve is not None and call("GET", f"{serve.url}/v2/apps")[0] == 200)
            if args.preload_groups:
                preload_groups(serve, args.preload_groups, args.preload_instances)
            if args.preload:
                phase(serve, f"preload (0 -> {args.preload} apps)", "/pre", args, args.preload)
            before = args.preload + args.preload_groups
            phase(serve, f"measured ({before} -> {before + args.apps} apps)", "/rate", args, args.apps)
        finally:
            if serve is not None:
                serve.stop()
            stop_cluster(cluster)


if __name__ == "__main__":
    main()
