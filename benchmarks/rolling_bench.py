"""A rolling upgrade of a health-checked app on localmesos with real processes. Prints figures; asserts nothing.

Starts `mesospaas local-mesos` (process mode) in its own process, runs the scheduler runtime here, deploys
N instances of a small HTTP server (tests/integration/versioned_task.py) with a health check, waits until all
are healthy, then changes its version and measures the time until the deployment is done. All the while a
sampler counts the tasks that the Mesos master says run and that answer /health 200 themselves (independent
of the scheduler's view) and reports the lowest healthy capacity seen against the promise
ceil(N * minimumHealthCapacity).

Usage: .venv/bin/python benchmarks/rolling_bench.py --instances 50 --mhc 0.5 --moc 0.2 [--protocol HTTP]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.localmesos_bench import start_cluster, stop_cluster  # noqa: E402
from mesospaas.model import AppId, AppSpec, Condition  # noqa: E402
from mesospaas.model.app import HealthCheckSpec, PortDefinition, UpgradeStrategy  # noqa: E402
from scheduler.runtime import RuntimeSettings, SchedulerRuntime  # noqa: E402
from scheduler.store import LocalDirectoryStore  # noqa: E402

TASK = Path(__file__).resolve().parents[1] / "tests" / "integration" / "versioned_task.py"


def spec(instances: int, version: str, mhc: float, moc: float, protocol: str) -> AppSpec:
    check = HealthCheckSpec(protocol=protocol, path="/health", port_index=0, grace_period_seconds=60,
                            interval_seconds=1, timeout_seconds=1, max_consecutive_failures=1000, delay_seconds=0)
    return AppSpec(id=AppId("/bench/web"), cmd=f"{sys.executable} {TASK} --port $PORT0 --version {version}",
                   cpus=0.01, mem=16.0, instances=instances, port_definitions=(PortDefinition(0, name="http"),),
                   health_checks=(check,), upgrade_strategy=UpgradeStrategy(mhc, moc), backoff_seconds=1.0)


async def healthy_now(session: aiohttp.ClientSession, master: str) -> int:
    async with session.get(f"http://{master}/master/state") as resp:
        state = json.loads(await resp.read())
    hosts = {s["id"]: s["hostname"] for s in state["slaves"]}
    urls = [f"http://{hosts[t['slave_id']]}:{int(t['resources']['ports'].strip('[]').split('-')[0])}/health"
            for f in state["frameworks"] for t in f["tasks"] if t["state"] == "TASK_RUNNING"]

    async def one(url: str) -> bool:
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as r:
                return r.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False
    return sum(await asyncio.gather(*(one(u) for u in urls)))


async def run(instances: int, mhc: float, moc: float, protocol: str, agents: int) -> None:
    per_agent = max(2, math.ceil(instances * (1 + moc) / agents) + 2)
    proc, master = start_cluster("--agents", str(agents), "--resources",
                                 f"cpus:{per_agent * 0.01 + 1:.2f};mem:{per_agent * 16 + 512};disk:1000;"
                                 f"ports:[31000-32999]")
    try:
        with tempfile.TemporaryDirectory() as state:
            store = LocalDirectoryStore(Path(state))
            runtime = SchedulerRuntime(store, RuntimeSettings(master=master, seed=1, tick_interval=0.5,
                                                              decline_refuse_seconds=1.0))
            await runtime.start()
            await asyncio.wait_for(runtime.subscribed.wait(), 60)
            t0 = time.perf_counter()
            await runtime.put_app(spec(instances, "v1", mhc, moc, protocol))
            while runtime.state.deployments:
                await asyncio.sleep(0.1)
            print(f"rolling: {instances} healthy instances on {agents} agents in {time.perf_counter() - t0:.1f} s")
            samples: list[int] = []
            async with aiohttp.ClientSession() as session:
                async def sample() -> None:
                    while True:
                        samples.append(await healthy_now(session, master))
                        await asyncio.sleep(0.05)
                sampler = asyncio.get_running_loop().create_task(sample())
                await asyncio.sleep(1)
                t1 = time.perf_counter()
                await runtime.put_app(spec(instances, "v2", mhc, moc, protocol))
                while runtime.state.deployments:
                    await asyncio.sleep(0.05)
                done = time.perf_counter() - t1
                await asyncio.sleep(1)
                sampler.cancel()
            running = sum(1 for i in runtime.state.instances.values() if i.condition is Condition.RUNNING)
            promise = math.ceil(instances * mhc - 1e-9)
            print(f"rolling: upgrade of {instances} instances (mHC {mhc}, mOC {moc}, {protocol} checks) done in "
                  f"{done:.1f} s; lowest healthy capacity sampled {min(samples)} (promise {promise}), "
                  f"highest {max(samples)}, {len(samples)} samples; {running} running after")
            print(f"   load average during the run: {os.getloadavg()[0]:.2f}")
            await runtime.stop()
            store.close()
    finally:
        stop_cluster(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--mhc", type=float, default=0.5)
    parser.add_argument("--moc", type=float, default=0.2)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--protocol", default="MESOS_HTTP", choices=("MESOS_HTTP", "HTTP", "TCP", "MESOS_TCP"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.instances, args.mhc, args.moc, args.protocol, args.agents))


if __name__ == "__main__":
    main()
